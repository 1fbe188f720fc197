"""Drive a headless Player through a delivery schedule in simulated time (no real time).

Pure apart from the Player it drives (``output="none"``, ``start(clock_thread=False)``,
its clock injected): the one helper the tests and the playout benchmark share, so both
measure the product's own render path. A *source* makes the stream (``music(n)`` returns
the next ``n`` stereo frames); a *schedule* says when each chunk of it is ready at the
server: generated at ``speed`` x real time with ``lead`` seconds ready at the start, and
nothing generated during ``stalls``. The daemon's part is modelled as it runs: a ready
chunk is fed as soon as ``wants_more()`` says yes.

The result keeps the RMS of every 100 ms window of the output, the playout ratio range,
the player's final stats, when each concealment started and ended, and (``keep``) the
raw output between two times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.audio.player import Player
from bridge.core.types import SAMPLE_RATE, AudioChunk

F32 = npt.NDArray[np.float32]
WINDOW = 0.1  # seconds per RMS window
SILENT_RMS = 1e-4  # the fault tests' threshold for "no sound at all"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the server has each chunk ready."""

    seconds: float  # length of the run (simulated)
    speed: float = 1.0  # generation speed, x real time
    chunk: float = 2.0  # seconds of audio per chunk
    lead: float = 0.0  # seconds generated before the run starts
    stalls: tuple[tuple[float, float], ...] = ()  # (at, seconds): generation pauses

    def ready_times(self) -> list[float]:
        """The time each chunk is complete at the server."""
        times, made, t = [], -self.lead * self.speed, 0.0
        stalls = sorted(self.stalls)
        while t < self.seconds:
            made += self.chunk
            t = made / self.speed
            t += sum(d for at, d in stalls if at < t)
            times.append(max(0.0, t))
        return times


@dataclass
class Result:
    rms: F32  # per 100 ms window of output
    stats: dict[str, Any]
    ratio_min: float
    ratio_max: float
    cpu_seconds: float  # process time spent rendering
    episodes: list[tuple[float, float]] = field(default_factory=list)  # (start, end) s
    returns: list[float] = field(default_factory=list)  # when audio came back after a stall
    kept: F32 | None = None

    @property
    def started(self) -> float:
        """When the first sound came out (the end of start-up), in seconds."""
        loud = np.flatnonzero(self.rms >= SILENT_RMS)
        return float(loud[0]) * WINDOW if len(loud) else float("inf")

    def silent_windows(self) -> int:
        """100 ms windows with no sound at all after start-up."""
        loud = np.flatnonzero(self.rms >= SILENT_RMS)
        return 0 if not len(loud) else int((self.rms[loud[0] :] < SILENT_RMS).sum())

    def silent_seconds(self) -> float:
        return round(self.silent_windows() * WINDOW, 1)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(
    music: Callable[[int], F32],
    schedule: Schedule,
    block: int = 512,
    keep: tuple[float, float] | None = None,
    bpm: float | None = None,
    **player_args: Any,
) -> Result:
    """Play ``music`` delivered by ``schedule`` through a Player made with ``player_args``
    (``bpm``: what the daemon would pass to ``set_bpm``; None: the player measures it)."""
    clock = _Clock()
    player = Player(output="none", clock=clock, **player_args)
    player.start(clock_thread=False)
    player.set_bpm(bpm)
    ready = schedule.ready_times()
    rate = SAMPLE_RATE
    chunk = round(schedule.chunk * rate)
    out = np.zeros((block, 2), dtype=np.float32)
    window = round(WINDOW * rate)
    total = round(schedule.seconds * rate)
    sums = np.zeros(total // window + 1)
    kept: list[F32] = []
    episodes: list[tuple[float, float]] = []
    start: float | None = None
    cpu = 0.0
    fed = 0
    for pos in range(0, total, block):
        clock.now = pos / rate
        while fed < len(ready) and ready[fed] <= clock.now and player.wants_more():
            player.feed(AudioChunk(music(chunk)))
            fed += 1
        t0 = time.process_time()
        player.pull(out, block)
        cpu += time.process_time() - t0
        # a block counts in the window it starts in (blocks are ~10 ms, windows 100 ms)
        sums[pos // window] += float(np.square(out).mean(axis=1).sum())
        if keep is not None and keep[0] <= clock.now < keep[1]:
            kept.append(out.copy())
        if player.concealing != (start is not None):
            if start is None:
                start = clock.now
            else:
                episodes.append((start, clock.now))
                start = None
    stats = player.stats()
    player.close()
    return Result(
        rms=np.sqrt(sums[: total // window] / window).astype(np.float32),
        stats=stats,
        ratio_min=stats["playout_ratio_min"],
        ratio_max=stats["playout_ratio_max"],
        cpu_seconds=cpu,
        episodes=episodes,
        returns=_returns(schedule, ready),
        kept=np.concatenate(kept) if kept else None,
    )


def _returns(schedule: Schedule, ready: Sequence[float]) -> list[float]:
    """For each stall, when its first chunk after it is ready."""
    return [next((t for t in ready if t > at + d), float("inf")) for at, d in schedule.stalls]


def tone(freq: float = 440.0, amp: float = 0.3, rate: int = SAMPLE_RATE) -> Callable[[int], F32]:
    """A steady sine, continuous across calls."""
    pos = 0

    def make(n: int) -> F32:
        nonlocal pos
        t = (pos + np.arange(n)) / rate
        pos += n
        mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        return np.stack([mono, mono], axis=1)

    return make


def synth(
    bpm: float = 120.0, prompt: str = "minimal techno", seed: int = 1
) -> Callable[[int], F32]:
    """The embedded engine's music (rendered on demand, continuous across calls)."""
    from bridge.core.types import (
        Control,
        GenerationConfig,
        Playback,
        SetConfig,
        SetPrompts,
        WeightedPrompt,
    )
    from bridge.engines.synth import SynthEngine

    engine = SynthEngine(chunk_seconds=2.0, seed=seed)
    engine.apply_now(SetPrompts((WeightedPrompt(prompt, 1.0),)))
    engine.apply_now(SetConfig(GenerationConfig(bpm=round(bpm))))
    engine.apply_now(Control(Playback.PLAY))
    pending = np.zeros((0, 2), dtype=np.float32)

    def make(n: int) -> F32:
        nonlocal pending
        while len(pending) < n:
            pending = np.concatenate([pending, engine.render_chunk().samples])
        out, pending = pending[:n], pending[n:]
        return out

    return make
