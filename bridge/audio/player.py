"""Audio out: the player the daemon drives. Glue over the audio modules; device I/O through them.

Usage (from the asyncio loop)::

    player = Player(output="default", latency="balanced", channels=(3, 4), gain=0.8)
    player.start()                      # opens the device; silence until the buffer fills
    player.set_wakeup(lambda: loop.call_soon_threadsafe(room.set))
    async for chunk in engine.chunks():
        player.feed(chunk)              # resampled (soxr) to the device rate if needed
        while not player.wants_more():  # backpressure: above the high mark, stop pulling
            room.clear(); await room.wait()   # woken when the buffer drains below it
    player.fade_out(); player.fade_in() # pause/resume without clicks
    player.start_recording("set.wav")   # exactly what is played, post-gain
    player.set_bpm(120.0)               # the loop length when the stream runs dry
    await player.aclose()               # fades out, then closes the device

``output``: a device index, an exact name, a case-insensitive substring, ``"default"``,
or ``"none"`` (no device: a clock thread consumes at real time, so the pipeline, the
counters and recording behave the same headless). No match: ``DeviceError`` listing the
output devices. The device runs at 48 kHz when it supports it, else at its default rate.
``channels``: the 1-based device outputs for left and right (``(3, 4)``), or one for mono.

Never silent (``render``): the stream is time-stretched, pitch kept, by up to
``stretch_limit`` (default: the latency preset's; 0.04 = ±4 %, 0 for ``low``) to steer the
buffer level; when it runs dry anyway the
last bar (at ``set_bpm``'s tempo, else one measured from the audio) loops, ducked, until
the stream returns (``conceal=False``: fade to silence instead), fading out only after
``conceal_max`` seconds. ``clock`` is injectable, and ``start(clock_thread=False)`` with
``output="none"`` lets a caller drive the output with ``pull`` (simulations, tests).

The parts, one module each: device choice (``devices``), the buffer's render state
machine (``render``), gain/fades/routing (``stage``), the jitter arithmetic (``jitter``),
resampling (``resample``), the device child and its shared ring (``link``, ``child``,
``shm``), recording (``recording``).

Gain, pause and stop fades are applied by the output stage in the device child, at the
device block after the call (not after the buffer: a volume knob answers within a
device period or two); the recording gets what that stage played. Without a device
(``"none"``, or while a lost output is being reopened) the same stage runs here.

Threads: the pump (or clock) thread runs ``_content`` / ``_local`` / ``_hear``; the loop
side (``feed``, ``wants_more``, ``tick``) adapts the target level and logs underruns
(rate-limited).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.audio import jitter
from bridge.audio.devices import (
    OutputDevice,
    default_output_available,
    list_outputs,
    select_output,
)
from bridge.audio.link import NONE_BLOCK, ClockSink, DeviceLink, Playout
from bridge.audio.recorder import SampleFormat, WavRecorder
from bridge.audio.recording import RecordTap
from bridge.audio.render import Renderer
from bridge.audio.resample import Resampler
from bridge.audio.stage import MAX_BLOCK, OutputStage
from bridge.audio.tempo import TempoGuess
from bridge.core.types import SAMPLE_RATE, AudioChunk
from bridge.errors import DeviceError

__all__ = [
    "OutputDevice",
    "Player",
    "PlayerStats",
    "default_output_available",
    "list_outputs",
    "select_output",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlayerStats:
    """Counters for logs and the status API."""

    device: str
    rate: int
    fill_seconds: float
    target_seconds: float
    high_mark_seconds: float
    underruns: int
    device_xruns: int  # device blocks late: JACK's or the pump's
    device_gaps: int  # of those, the pump's: silence put into the stream
    played_seconds: float
    recording: str | None
    record_error: str | None
    output_lost: bool = False  # the device went away; reopening is being tried
    output_losses: int = 0  # times the device went away (e.g. jackd restarted)
    output_gain: float = 0.0  # the gain the output applies now (fades included)
    playout_ratio: float = 1.0  # the stretcher's speed now (< 1: slower than the stream)
    playout_ratio_min: float = 1.0  # the range used so far
    playout_ratio_max: float = 1.0
    stretched_seconds: float = 0.0  # played at a ratio other than 1.0
    concealment_episodes: int = 0  # times the stream ran dry and a loop stood in
    concealment_seconds: float = 0.0
    loop_bpm: float | None = None  # the tempo a concealment loop is cut to (None: 2 s)


class Player:
    """Plays ``AudioChunk``s on one output through an adaptive jitter buffer."""

    def __init__(
        self,
        output: str | int = "default",
        latency: str = "balanced",
        channels: Sequence[int] | None = (),
        gain: float = 1.0,
        fade: float = jitter.FADE_SECONDS,
        recorder: WavRecorder | None = None,
        stretch_limit: float | None = None,
        conceal: bool = True,
        conceal_max: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self._preset = jitter.preset(latency)
        except ValueError as exc:
            raise DeviceError(str(exc)) from None
        if not 0.0 <= gain <= 2.0:
            raise DeviceError(f"gain must be in range 0..2 (got {gain})")
        self._output = output
        self._map = tuple(channels or ()) or (1, 2)
        if len(self._map) not in (1, 2) or min(self._map) < 1:
            raise DeviceError(f"channels must be one or two 1-based outputs (got {channels})")
        if stretch_limit is None:
            stretch_limit = self._preset.stretch
        if not 0.0 <= stretch_limit <= 0.1:
            raise DeviceError(f"stretch_limit must be in range 0..0.1 (got {stretch_limit})")
        if not 0.0 < conceal_max <= 3600.0:
            raise DeviceError(f"conceal_max must be in range 0..3600 s (got {conceal_max})")
        self._stretch_limit = stretch_limit
        self._conceal_max = conceal_max if conceal else None
        self._clock = clock
        self._bpm: float | None = None
        self._tempo = TempoGuess(self._guessed)
        self._logged_episodes = 0
        self._fade = max(0.01, fade)
        self._fade_now = self._fade
        self._gain = float(gain)
        self._paused = False
        self._device: OutputDevice | None = None
        self.rate = SAMPLE_RATE
        self._link: DeviceLink | None = None
        self._sink: ClockSink | None = None
        self._level = jitter.start_level(self._preset, clock())
        self._seen_underruns = 0
        self._log_limit = jitter.RateLimit(interval=10.0)
        self._played = 0
        self._wakeup: Callable[[], None] | None = None
        self._wake_below = -1  # frames; >= 0 once wants_more() said no
        self._initial_recorder = recorder
        # made by _allocate once the device rate is known
        self._renderer: Renderer
        self._resampler: Resampler
        self._stage: OutputStage | None = None
        self._tap: RecordTap | None = None

    # --- set-up ----------------------------------------------------------------------
    @property
    def device_name(self) -> str:
        return "none" if self._device is None else self._device.name

    def start(self, clock_thread: bool = True) -> None:
        """Open the output (or the headless clock) and start playing silence.

        ``clock_thread=False`` (``output="none"`` only): no thread plays; call ``pull``."""
        self._open_output(clock_thread)
        rec, self._initial_recorder = self._initial_recorder, None
        if rec is not None:
            self._adopt_recorder(rec)

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` (from the audio thread) once the buffer drains below the high
        mark after ``wants_more()`` answered False: wait on it instead of polling."""
        self._wakeup = callback

    def _adopt_recorder(self, rec: WavRecorder) -> None:
        """Record into a recorder made before the device rate was known."""
        if rec.rate != self.rate and rec.frames == 0:
            rec.close()  # reopened (truncated) at the rate actually played
            rec = WavRecorder(rec.path, rate=self.rate, channels=2, fmt=rec.fmt)
        self._recording_tap().start(rec)

    def _open_output(self, clock_thread: bool) -> None:
        if str(self._output).lower() == "none":
            self.rate = SAMPLE_RATE
            self._allocate(2)
            if clock_thread:
                self._sink = ClockSink(self._local, self.rate)
                self._sink.start()
            return
        playout = Playout(
            content=self._content, local=self._local, heard=self._hear, lost=self._lost
        )
        link = DeviceLink(playout, str(self._output), self._map, self._preset.queue)
        link.control(self._gain, self._paused, self._fade_step())
        self.rate, self._device = link.open()
        self._allocate(max(self._map))
        self._link = link
        self._control()  # the fade step at the rate the device took
        link.start()
        log.info("audio out: %s at %d Hz, outputs %s", self._device.name, self.rate, self._map)

    def _allocate(self, width: int) -> None:
        """Every buffer the audio thread touches is made here, once."""
        capacity = round((self._preset.max_target + self._preset.headroom + 8.0) * self.rate)
        self._renderer = Renderer(
            capacity, self.rate, self._fade, self._stretch_limit, self._conceal_max
        )
        self._apply_bpm()
        gain_step = jitter.gain_step(self.rate)
        self._stage = OutputStage(self._map, width, self._gain, self._fade_step(), gain_step)
        self._resampler = Resampler(self.rate)
        self._tap = RecordTap(self.rate)
        self._update_start_frames()

    # --- the audio thread ------------------------------------------------------------
    def _content(self, buf: npt.NDArray[np.float32], frames: int) -> None:
        """Fill ``buf[:frames]`` with the stream (stereo, before the output stage)."""
        self._renderer.render(buf, frames)
        below = self._wake_below
        if below >= 0 and self._renderer.fill < below:
            self._wake_below = -1
            if self._wakeup is not None:
                self._wakeup()

    def _local(self, out: npt.NDArray[np.float32], frames: int) -> None:
        """Fill ``out`` (``[frames, width]``) with the output stage run here (no device)."""
        stage = self._stage
        assert stage is not None  # allocated before any thread starts
        done = 0
        while done < frames:
            n = min(frames - done, MAX_BLOCK)
            self._hear(stage.process(out[done : done + n], n, self._content))
            done += n

    def pull(self, out: npt.NDArray[np.float32], frames: int) -> None:
        """Play ``frames`` into ``out`` (``[frames, 2]``) now: the headless output driven by
        the caller (``start(clock_thread=False)``), for simulations and tests."""
        if self._sink is not None or self._link is not None:
            raise DeviceError("pull() is for a player started with clock_thread=False")
        self._local(out, frames)

    def _hear(self, played: npt.NDArray[np.float32]) -> None:
        """What the output played: record it, count it."""
        if self._tap is not None:
            self._tap.capture(played)
        self._played += played.shape[0]

    def _lost(self, env: float) -> None:
        """The device went away: the local stage goes on at the gain it had."""
        if self._stage is not None:
            self._stage.restart(env)

    # --- the loop side ---------------------------------------------------------------
    def feed(self, chunk: AudioChunk) -> None:
        """Queue a chunk (never blocks; resampled to the device rate if needed)."""
        samples = np.asarray(chunk.samples, dtype=np.float32)
        if samples.ndim == 1 or samples.shape[1] == 1:
            samples = np.repeat(samples.reshape(-1, 1), 2, axis=1)
        samples = self._resampler.convert(samples, chunk.rate)
        if self._bpm is None:
            self._tempo.add(samples, self.rate)
        written = self._renderer.feed(samples)
        if written < samples.shape[0]:
            # only when a caller ignores wants_more(): say so rather than grow silently
            log.warning("audio buffer full: %d frames not queued", samples.shape[0] - written)
        self.tick()

    def wants_more(self) -> bool:
        """False above the high mark: the daemon stops pulling from the engine (and the
        wake-up callback, if set, fires once the buffer drains below the mark)."""
        self.tick()
        if jitter.wants_more(self.fill_seconds, self._level) or self._renderer.waiting:
            return True
        self._wake_below = round(self._level.high_mark * self.rate)
        return False

    def tick(self, now: float | None = None) -> None:
        """Adapt the target to underruns seen by the audio thread; log them (rate-limited)."""
        now = self._clock() if now is None else now
        self._log_concealment()
        underruns = self._renderer.underruns
        if underruns != self._seen_underruns:
            self._seen_underruns = underruns
            self._level = jitter.on_underrun(self._level, now)
            held = self._log_limit.held
            report, self._log_limit = jitter.rate_limited(self._log_limit, now)
            if report:
                log.warning(
                    "audio underrun #%d (concealed by %s)%s; buffer target now %.2f s",
                    underruns,
                    "a loop of the last bar" if self._renderer.concealing else "a fade",
                    f", {held} more since the last report" if held else "",
                    self._level.target,
                )
        else:
            self._level = jitter.on_tick(self._level, now)
        self._update_start_frames()

    def _update_start_frames(self) -> None:
        r = self._renderer
        r.start_frames = jitter.start_frames(self._level, self.rate, MAX_BLOCK // 8)
        r.target_frames = round(self._level.target * self.rate)
        r.high_frames = round(self._level.high_mark * self.rate)

    def _log_concealment(self) -> None:
        """Say when a concealment is over (its start is the underrun warning). Counted, not
        sampled: an episode that began and ended between two ticks is reported too."""
        r = self._renderer
        if r.episodes == self._logged_episodes or r.concealing:
            return
        self._logged_episodes = r.episodes
        log.info(
            "audio stream back after concealment #%d (%.1f s concealed in all)",
            r.episodes,
            r.concealed / self.rate,
        )

    def set_bpm(self, bpm: float | None) -> None:
        """The tempo of the music (None: measure it from the audio); a loop is one bar."""
        self._bpm = bpm if bpm is None or bpm > 0 else None
        self._apply_bpm()

    def _apply_bpm(self) -> None:
        if hasattr(self, "_renderer"):  # before start() it waits for _allocate
            self._renderer.bpm = self._bpm if self._bpm is not None else self._tempo.bpm

    def _guessed(self, bpm: float | None) -> None:
        self._apply_bpm()

    @property
    def concealing(self) -> bool:
        """Whether a loop is standing in for the stream right now."""
        return self._renderer.concealing

    @property
    def fill_seconds(self) -> float:
        return self._renderer.fill / self.rate

    @property
    def gain(self) -> float:
        return self._gain

    @gain.setter
    def gain(self, value: float) -> None:
        """Master gain 0..2, reached through a ramp (no zipper noise, no click)."""
        self._gain = min(2.0, max(0.0, float(value)))
        self._control()

    def fade_out(self, seconds: float | None = None) -> None:
        """Ramp to silence (>= 10 ms), then hold the buffer (pause, stop, reconnect, exit)."""
        self._set_fade(seconds)
        self._paused = True
        self._control()

    def fade_in(self, seconds: float | None = None) -> None:
        """Resume playing the buffer, ramping up from silence (>= 10 ms)."""
        self._set_fade(seconds)
        self._paused = False
        self._control()

    def _set_fade(self, seconds: float | None) -> None:
        self._fade_now = max(0.01, self._fade if seconds is None else seconds)

    def _fade_step(self) -> float:
        return jitter.fade_step(self._fade_now, self.rate)

    def _control(self) -> None:
        """Hand gain, pause and fade speed to the output stage (the device's, and ours)."""
        step = self._fade_step()
        if self._stage is not None:
            self._stage.control(self._gain, self._paused, step)
        if self._link is not None:
            self._link.control(self._gain, self._paused, step)

    def flush(self) -> None:
        """Drop everything buffered (after ``fade_out``: a STOP or a context reset)."""
        self._renderer.flush()
        if self._link is not None:
            self._link.flush()

    @property
    def fade_seconds(self) -> float:
        return self._fade

    def delay(self) -> tuple[float, float]:
        """(seconds until a stream frame fed now is heard, the device's output latency):
        the buffer at the playout speed, the frames queued for the device, and the latency
        the device reports. The heard beat grid (``bridge.sync``) is timed with it."""
        speed = self._renderer.steering.speed or 1.0
        ahead = self.fill_seconds / speed
        link = self._link
        if link is None or link.lost:  # the clock here renders a block at a time
            return ahead + NONE_BLOCK / 2 / self.rate, 0.0
        return ahead + link.queued / self.rate + link.latency, link.latency

    @property
    def device_pid(self) -> int | None:
        """The device child's pid (None headless or while the output is lost)."""
        return None if self._link is None else self._link.child_pid

    def stats(self) -> dict[str, Any]:
        """A JSON-able snapshot (the fields of ``PlayerStats``)."""
        return asdict(self.snapshot())

    def snapshot(self) -> PlayerStats:
        tap = self._recording_tap()
        steering = self._renderer.steering
        return PlayerStats(
            device=self.device_name,
            rate=self.rate,
            fill_seconds=round(self.fill_seconds, 3),
            target_seconds=round(self._level.target, 3),
            high_mark_seconds=round(self._level.high_mark, 3),
            underruns=self._renderer.underruns,
            device_xruns=self._link.xruns if self._link else 0,
            device_gaps=self._link.gaps if self._link else 0,
            played_seconds=round(self._played / self.rate, 3),
            recording=None if tap.path is None else str(tap.path),
            record_error=tap.error,
            output_lost=self._link.lost if self._link else False,
            output_losses=self._link.losses if self._link else 0,
            output_gain=round(self._output_gain(), 4),
            playout_ratio=round(steering.speed, 4),
            playout_ratio_min=round(steering.low, 4),
            playout_ratio_max=round(steering.high, 4),
            stretched_seconds=round(steering.stretched / self.rate, 3),
            concealment_episodes=self._renderer.episodes,
            concealment_seconds=round(self._renderer.concealed / self.rate, 3),
            loop_bpm=self._renderer.bpm,
        )

    def _output_gain(self) -> float:
        if self._link is not None and not self._link.lost:
            return self._link.output_gain
        return 0.0 if self._stage is None else self._stage.env

    # --- recording -------------------------------------------------------------------
    def _recording_tap(self) -> RecordTap:
        if self._tap is None:
            raise DeviceError("start the player before recording (the device rate decides)")
        return self._tap

    @property
    def record_error(self) -> str | None:
        return None if self._tap is None else self._tap.error

    def start_recording(self, path: str | Path, fmt: SampleFormat = "int16") -> None:
        """Record everything played from now on (post-gain) to a WAV file."""
        tap = self._recording_tap()
        tap.stop()
        tap.start(WavRecorder(path, rate=self.rate, channels=2, fmt=fmt))

    def stop_recording(self) -> None:
        """Stop recording; what was played up to now is in the file."""
        if self._tap is not None:
            self._tap.stop()

    # --- shutdown --------------------------------------------------------------------
    async def aclose(self) -> None:
        """Fade out, then close the device and the recording."""
        if not self._paused:
            self.fade_out()
        await asyncio.sleep(self._fade_now + 0.05)
        self._close_now()

    def close(self) -> None:
        """Blocking variant of ``aclose`` (for commands without a loop)."""
        if not self._paused:
            self.fade_out()
        time.sleep(self._fade_now + 0.05)
        self._close_now()

    def _close_now(self) -> None:
        if self._link is not None:
            self._link.stop()
            self._link = None
        if self._sink is not None:
            self._sink.stop()
            self._sink = None
        self.stop_recording()
