"""What the daemon is made of and reports, as plain parts. Does file I/O only in
``recording_path`` (it makes the recordings folder) and reads /proc in ``process_stats``.

``Parts`` are the adapters a daemon drives (built by ``bridge.commands.run``; tests build
their own); ``PlayerLike`` is what it needs of the player; the rest are the small facts
the status shows and the log says (why there is no controller, what a restored state
holds, the process's CPU and memory).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bridge.core.mapping import MappingSet
from bridge.core.performance import Performance
from bridge.core.types import AudioChunk
from bridge.engines.base import Engine


class PlayerLike(Protocol):
    """What the daemon needs of the audio player (bridge.audio.player.Player)."""

    gain: float

    def feed(self, chunk: AudioChunk) -> None: ...
    def wants_more(self) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    def fade_out(self, seconds: float = ...) -> None: ...
    def fade_in(self, seconds: float = ...) -> None: ...
    def close(self) -> None: ...
    def start(self) -> None: ...
    def flush(self) -> None: ...
    def start_recording(self, path: str | Path) -> None: ...
    def stop_recording(self) -> None: ...
    def set_wakeup(self, callback: Callable[[], None] | None) -> None: ...
    def set_bpm(self, bpm: float | None) -> None: ...
    def delay(self) -> tuple[float, float]: ...


@dataclass
class Parts:
    """The adapters a daemon drives; built by ``bridge.commands.run`` (tests build their own)."""

    engine: Engine
    player: PlayerLike
    hub: Any = None  # bridge.io.midi.MidiHub, or None without MIDI
    recorder: Any = None  # bridge.audio.recorder.Recorder, or None
    status: Any = None  # bridge.status.server.StatusServer factory, or None
    osc: Any = None  # bridge.io.osc.OscServer factory, or None
    clock_out: Any = None  # bridge.io.clock_out.ClockOut, or None
    link: Any = None  # bridge.io.ableton.LinkSession, or None


@dataclass
class Counters:
    """The daemon's own work (the instrument counts changes and wire updates)."""

    reloads: int = 0
    reload_errors: int = 0
    chunks: int = 0
    started: float = field(default_factory=time.monotonic)


def no_controllers(mapping: MappingSet, hub: Any, problem: str | None) -> str | None:
    """Why the status shows no controller: MIDI is missing, or none is configured."""
    if problem is not None:
        return problem
    if hub is None or not mapping.controllers:
        return "no controller configured (add a profile with --mapping or in the rig file)"
    return None


def describe(perf: Performance) -> str:
    """One line saying what a restored state holds: playback, slots up, bpm, scene."""
    up = [f"{s.text.strip() or '(blank)'} {s.weight:g}" for s in perf.slots if s.weight > 0]
    parts = [str(perf.state), f"{len(up)} slot{'s' if len(up) != 1 else ''} up"]
    if up:
        parts[-1] += " (" + ", ".join(up[:4]) + (", ..." if len(up) > 4 else "") + ")"
    bpm = perf.config.bpm
    parts.append(f"bpm {bpm}" if bpm is not None else "bpm auto")
    if perf.scene:
        parts.append(f"scene {perf.scene!r}")
    return ", ".join(parts)


def recording_path(configured: str | None, now: float | None = None) -> Path:
    """Where a recording started from a control goes: beside ``--record``'s file, or in
    the XDG data directory, named by the time it started (never overwriting a set)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    if configured:
        base = Path(configured).expanduser()
        return base.with_name(f"{base.stem}-{stamp}{base.suffix or '.wav'}")
    root = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(root) / "promptbridge" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"set-{stamp}.wav"


def process_stats(started: float) -> dict[str, float]:
    """CPU (as % of one core since start) and resident memory, from the kernel's counters."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = max(1e-6, time.monotonic() - started)
    rss_mb = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm") as f:
        rss_mb = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return {
        "cpu_percent": round(100 * (usage.ru_utime + usage.ru_stime) / elapsed, 1),
        "rss_mb": round(rss_mb, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "uptime": round(elapsed, 1),
    }
