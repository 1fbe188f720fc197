"""Ableton Link: join the LAN's tempo/phase session. Does network I/O (UDP multicast).

Optional: needs the ``link`` module of ``LinkPython-extern`` (``pip install
'promptbridge[link]'``), imported only when a rig asks for ``link = "follow"`` or
``"lead"``. **Ableton Link is GPL-2.0-or-later** (or a commercial licence from Ableton):
installing the extra brings GPL code into your environment; PromptBridge's own code
stays Apache-2.0 and never imports it unless asked to.

Why LinkPython-extern and not aalink: it exposes Link's whole session state
(``beatAtTime``, ``phaseAtTime``, ``forceBeatAtTime``) so we can *publish* a phase, not
only read one; its wheels cover CPython 3.9-3.14 on Linux x86-64 and aarch64; and it has
no asyncio coupling (aalink may change the session tempo when created, artfwo/aalink#7).

Link's clock is the host's steady clock in microseconds (CLOCK_MONOTONIC on Linux, the
same as ``time.monotonic``); the offset between the two is measured at each call anyway.
Every method here is cheap and thread-safe (Link's app-thread API), so the loop calls it.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from bridge.core.grid import Grid
from bridge.errors import DeviceError

INSTALL_HINT = "Ableton Link needs the optional extra: pip install 'promptbridge[link]'"
NUDGE = 0.005  # seconds: publish a phase only when ours and the session's differ more


def load_link() -> Any:
    """The ``link`` module, or DeviceError saying how to install it."""
    try:
        return importlib.import_module("link")
    except ImportError:
        raise DeviceError(INSTALL_HINT) from None


class LinkSession:
    """One Link peer: read the session's tempo and grid, or publish ours."""

    def __init__(self, bpm: float = 120.0, quantum: int = 4) -> None:
        self.quantum = quantum
        self._module = load_link()
        self._link = self._module.Link(float(bpm))
        self._link.startStopSyncEnabled = False  # playback stays the performer's

    def start(self) -> None:
        self._link.enabled = True

    def close(self) -> None:
        self._link.enabled = False

    def _micros(self) -> tuple[int, float]:
        """(Link's clock now in µs, the same instant on time.monotonic)."""
        return int(self._link.clock().micros()), time.monotonic()

    @property
    def peers(self) -> int:
        return int(self._link.numPeers())

    def tempo(self) -> float:
        return float(self._link.captureAppSessionState().tempo())

    def publish(self, grid: Grid) -> bool:
        """Lead: make the session's tempo and bar phase ours; True if anything changed."""
        state = self._link.captureAppSessionState()
        micros, now = self._micros()
        changed = abs(float(state.tempo()) - grid.bpm) > 1e-3
        if changed:
            state.setTempo(grid.bpm, micros)
        ours = grid.beats(now) % self.quantum
        theirs = float(state.beatAtTime(micros, self.quantum)) % self.quantum
        off = (ours - theirs + self.quantum / 2) % self.quantum - self.quantum / 2
        if abs(off) * grid.beat_seconds > NUDGE:
            # forcing is Link's way for the one source of truth: the music being heard
            beat = float(state.beatAtTime(micros, self.quantum)) + off
            state.forceBeatAtTime(beat, micros, self.quantum)
            changed = True
        if changed:
            self._link.commitAppSessionState(state)
        return changed
