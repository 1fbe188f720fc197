"""Jitter-buffer arithmetic: latency presets, the adaptive target, backpressure, fades.

Pure: no I/O, no threads, no clock of its own (``now`` is passed in, in seconds).

Theory of operation
-------------------
The engine delivers audio in bursts (Lyria: ~2 s chunks, on average slightly *under*
real time); the sound card consumes at exactly real time. Between them sits a buffer
whose fill level is the price of every knob: a knob is heard ``fill`` seconds late.

* ``target``: the fill level playback (re)starts at, and the level the daemon pulls the
  engine up to. It starts at the preset's ``target`` and adapts (``Level``):
  every underrun multiplies it by ``GROW`` (up to the preset's ``max_target``); each
  ``steady`` seconds without an underrun shrink it by ``SHRINK`` back towards the preset.
* ``high mark`` = target + preset ``headroom``: above it ``wants_more()`` is False and the
  daemon stops pulling from the engine (backpressure: audio is never dropped).
* An underrun is concealed, not cut: the player keeps a ``reserve`` of audio; when the
  fill drops below one block plus that reserve, it plays the reserve out under a fade to
  silence, then rebuffers up to ``target`` and fades back in (``FADE_SECONDS`` ramps).
* Underruns are counted by the audio thread; logging them is rate-limited here
  (``RateLimit``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

GROW = 1.5  # an underrun means delivery is burstier than we planned for: grow quickly
SHRINK = 0.85  # shrink slowly, one step per steady period, so one calm minute is not trusted
FADE_SECONDS = 0.02  # every start/stop/pause/underrun fade (>= 10 ms: no click)
# A volume knob's ramp, full scale (knob moves are mostly small steps, so far shorter). One
# JACK period at 48 kHz/256: a turned-down volume is 20 dB down within ~5 ms of reaching
# the device, yet no step is larger than 1/240 of full scale per sample (no zipper noise).
GAIN_SECONDS = 0.005
RESERVE_SECONDS = 0.02  # audio held back to fade out over when an underrun comes


@dataclass(frozen=True, slots=True)
class Preset:
    """A latency preset, in seconds."""

    name: str
    target: float  # initial (and minimum) fill level
    max_target: float  # the adaptive target never grows beyond this
    headroom: float  # high mark = target + headroom
    steady: float  # seconds without underrun before the target shrinks one step
    stretch: float = 0.04  # default playout-rate steering limit (0: no stretcher at all)
    queue: float = 0.064  # seconds queued for the device beyond the buffer (pump jitter)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # local engine (synth): it renders on demand, so a short buffer is enough, and no
        # steering (the stretcher's 21 ms look-ahead would be a fifth of the latency)
        Preset(
            "low",
            target=0.03,
            max_target=2.0,
            headroom=0.02,
            steady=15.0,
            stretch=0.0,
            queue=0.032,
        ),
        # a remote model on a good line: absorbs ordinary bursts
        Preset("balanced", target=1.0, max_target=4.0, headroom=0.5, steady=30.0),
        # flaky network or a slow generator: knobs are slower, dropouts rare
        Preset("safe", target=3.0, max_target=8.0, headroom=1.0, steady=60.0),
    )
}


def preset(name: str) -> Preset:
    """The preset called ``name``; a clear error naming the allowed ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        allowed = ", ".join(PRESETS)
        raise ValueError(f"latency must be one of {allowed} (got {name!r})") from None


@dataclass(frozen=True, slots=True)
class Level:
    """The adaptive target level: state as data, advanced by the functions below."""

    preset: Preset
    target: float
    calm_since: float  # when the last underrun (or shrink step) happened

    @property
    def high_mark(self) -> float:
        return self.target + self.preset.headroom


def start_level(p: Preset, now: float) -> Level:
    """The level at start: the preset's target."""
    return Level(preset=p, target=p.target, calm_since=now)


def on_underrun(level: Level, now: float) -> Level:
    """An underrun happened: grow the target (bounded) and restart the calm period."""
    grown = min(level.preset.max_target, level.target * GROW)
    return replace(level, target=grown, calm_since=now)


def on_tick(level: Level, now: float) -> Level:
    """Time passed: after a steady period with no underrun, shrink one step towards base."""
    if level.target <= level.preset.target or now - level.calm_since < level.preset.steady:
        return level
    shrunk = max(level.preset.target, level.target * SHRINK)
    return replace(level, target=shrunk, calm_since=now)


def wants_more(fill: float, level: Level) -> bool:
    """Backpressure: pull from the engine only while the fill is below the high mark."""
    return fill < level.high_mark


def start_frames(level: Level, rate: int, block: int) -> int:
    """Frames needed before playback (re)starts: the target, and never less than one
    block plus the fade reserve (so the first block can always be faded out again)."""
    return max(round(level.target * rate), block + reserve_frames(rate))


def reserve_frames(rate: int) -> int:
    """The audio held back to fade out over when the buffer runs dry."""
    return max(1, round(RESERVE_SECONDS * rate))


def fade_step(seconds: float, rate: int) -> float:
    """Per-sample gain step of a linear full-scale fade lasting ``seconds`` (>= 10 ms)."""
    return 1.0 / max(1.0, max(seconds, 0.01) * rate)


def gain_step(rate: int) -> float:
    """Per-sample step of the master gain's ramp (full scale in ``GAIN_SECONDS``)."""
    return 1.0 / max(1.0, GAIN_SECONDS * rate)


def ramp_end(start: float, target: float, step: float, frames: int) -> float:
    """The gain reached after ``frames`` samples moving from ``start`` towards ``target``."""
    if target >= start:
        return min(target, start + step * frames)
    return max(target, start - step * frames)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Allow one report per ``interval`` seconds; count what was held back meanwhile."""

    interval: float
    last: float | None = None
    held: int = 0


def rate_limited(limit: RateLimit, now: float) -> tuple[bool, RateLimit]:
    """Whether to report now, and the new state (``held`` counts suppressed reports)."""
    if limit.last is None or now - limit.last >= limit.interval:
        return True, replace(limit, last=now, held=0)
    return False, replace(limit, held=limit.held + 1)
