"""The bridge's own share of a knob's delay: knob-to-wire, plus the buffer it keeps. No I/O.

What a performer hears late is the sum of the bridge's part and the model's part. For a
streamed engine the model's part (generation, network) is not ours to shrink, so the
status shows the bridge's part on its own, by these rules:

1. **The clock starts at the input.** An input that changed the instrument (a MIDI event
   that made Changes, an API change) starts the clock at its time ``now``, unless it is
   already running: the oldest input not yet on the wire counts.
2. **The wire stops it.** The next wire update handed to the engine stops the clock;
   knob-to-wire = that time minus the start. The outbox's rate limit and coalescing are
   in it (a leading edge: the first move of a quiet knob goes out at once).
3. **Local-only inputs do not count.** When a poll sends nothing and nothing is pending
   for the wire (master volume, a refused change), the clock is dropped, not measured.
4. **A window, not a lifetime.** The last ``keep`` delays give the last, median and p95
   (nearest rank) in milliseconds.
5. **The buffer depth is the player's fill**: audio queued between the engine and the
   device, which every engine change waits behind. The bridge's share is knob-to-wire
   p95 plus that fill.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any


def _rank(ordered: list[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, by nearest rank."""
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


class WireDelay:
    """Knob-to-wire delays (rules 1-4), fed with times in seconds."""

    def __init__(self, keep: int = 200) -> None:
        self._since: float | None = None
        self._delays: deque[float] = deque(maxlen=keep)

    def input(self, now: float) -> None:
        """An input changed the instrument (rule 1)."""
        if self._since is None:
            self._since = now

    def sent(self, now: float) -> None:
        """A wire update was handed to the engine (rule 2)."""
        if self._since is not None:
            self._delays.append(max(0.0, now - self._since))
            self._since = None

    def idle(self) -> None:
        """Nothing was sent and nothing is pending for the wire (rule 3)."""
        self._since = None

    def figures(self) -> dict[str, Any]:
        """``count`` and ``last_ms``/``median_ms``/``p95_ms`` (None before the first)."""
        if not self._delays:
            return {"count": 0, "last_ms": None, "median_ms": None, "p95_ms": None}
        ordered = sorted(self._delays)
        return {
            "count": len(ordered),
            "last_ms": round(1000 * self._delays[-1], 1),
            "median_ms": round(1000 * _rank(ordered, 50), 1),
            "p95_ms": round(1000 * _rank(ordered, 95), 1),
        }


def bridge_share(wire: dict[str, Any], audio: dict[str, Any]) -> dict[str, Any]:
    """The status figures (rule 5) from ``WireDelay.figures()`` and the player's stats."""
    fill = audio.get("fill_seconds")
    buffer_ms = None if fill is None else round(1000 * float(fill), 1)
    target = audio.get("target_seconds")
    p95 = wire.get("p95_ms")
    return {
        "knob_to_wire": wire,
        "buffer_ms": buffer_ms,
        "buffer_target_ms": None if target is None else round(1000 * float(target), 1),
        "share_ms": None if buffer_ms is None else round((p95 or 0.0) + buffer_ms, 1),
    }
