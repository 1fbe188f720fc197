"""MIDI clock out, planned: which message goes out when, from the heard grid. Pure, no I/O.

Theory of operation
-------------------
A receiver (drum machine, DJ software, DAW) locks to the *average* interval of 24 clock
messages (0xF8) per quarter note, and starts its pattern at the first clock after a
Start (0xFA). ``ClockPlan`` plans every message from the grid, never from "the last tick
plus an interval", so timing errors never accumulate:

1. **Ticks**: tick ``k`` of the grid is at ``grid.time_of(k / 24)``. ``next(now)`` gives
   the next message and its planned time; the sender thread sleeps until then.
2. **A new grid** (a nudge, a new tempo): the next tick is the one that keeps the
   receiver's count, which is its place in the bar: the tick after the last one sent,
   counted in the bar (``tick mod 24 x beats per bar``), on the new grid, when the grid
   moved less than half a beat. So a grid that jumped 15 ms later (what is heard slipped:
   an underrun) gives one long interval, one 15 ms earlier one short one (never under a
   quarter interval: a grid far ahead is caught up at four times the rate, no burst).
   Taking the tick nearest in time instead renumbered the ticks at every jump over half
   an interval, and a drum machine counting from Start stayed a tick (21 ms at 120 bpm)
   off the bar for good. A move of half a beat or more (a tracker's new idea of the
   beat) is not chased: the first tick more than half an interval after the last one.
   A late sender sends late rather than skip a tick (a skipped tick shifts the
   receiver's bar), unless it fell more than a beat behind.
3. **Transport** follows what is heard: ``play()`` plans a Start just before the next
   downbeat (the first tick after it is beat 1 of the receiver's bar); ``resume()``
   plans a Continue before the next tick; ``stop()`` sends Stop at once. With no grid,
   nothing is sent (no tempo is known).
4. Ticks are sent while stopped too, so a drum machine shows the tempo before it starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bridge.core.grid import Grid

TICKS = 24
CLOCK, START, CONTINUE, STOP = 0xF8, 0xFA, 0xFB, 0xFC
LEAD = 0.0005  # a Start/Continue goes this long before the tick it announces


@dataclass(frozen=True, slots=True)
class Planned:
    """Send ``status`` (one byte) at ``at``; ``tick`` is its grid tick number (or None)."""

    at: float
    status: int
    tick: int | None = None


class ClockPlan:
    """Plans MIDI clock messages from the heard grid. See the module docstring."""

    def __init__(self) -> None:
        self.grid: Grid | None = None
        self._last: tuple[float, int] | None = None  # (time, tick) of the last tick sent
        self._transport: int | None = None  # a Start or Continue waiting for its tick
        self._stop = False
        self.sent_ticks = 0

    def set_grid(self, grid: Grid | None) -> None:
        self.grid = grid

    def play(self) -> None:
        self._transport, self._stop = START, False

    def resume(self) -> None:
        self._transport, self._stop = CONTINUE, False

    def stop(self) -> None:
        self._transport, self._stop = None, True

    def next(self, now: float) -> Planned | None:
        """The next message due at or after ``now`` (rules 1-3), or None (no grid)."""
        if self._stop:
            return Planned(now, STOP)
        grid = self.grid
        if grid is None:
            return None
        tick = self._next_tick(grid, now)
        at = grid.time_of(tick / TICKS)
        if self._last is not None:  # catching up with a grid moved ahead: no burst
            at = max(at, self._last[0] + grid.beat_seconds / TICKS / 4)
        per_bar = TICKS * grid.beats_per_bar
        if self._transport == START and tick % per_bar == 0:  # Start waits for a downbeat
            return Planned(at - LEAD, START, tick)
        if self._transport == CONTINUE:
            return Planned(at - LEAD, CONTINUE, tick)
        return Planned(at, CLOCK, tick)

    def _next_tick(self, grid: Grid, now: float) -> int:
        """The tick after the last one sent on the current grid; a sender that fell more
        than a beat behind (a suspend, a grid jump) starts again from ``now``."""
        interval = grid.beat_seconds / TICKS
        if self._last is None:
            return math.ceil(grid.beats(now - 1e-9) * TICKS)
        last_at, last_tick = self._last
        tick = math.ceil(grid.beats(last_at + interval / 2) * TICKS)
        tick += _recount(tick, last_tick + 1, TICKS * grid.beats_per_bar)
        if grid.time_of(tick / TICKS) < now - grid.beat_seconds:
            return math.ceil(grid.beats(now - 1e-9) * TICKS)
        return tick

    def sent(self, planned: Planned) -> None:
        """``planned`` went out: advance the plan."""
        if planned.status == STOP:
            self._stop = False
        elif planned.status in (START, CONTINUE):
            self._transport = None
        elif planned.tick is not None:
            self._last = (planned.at, planned.tick)
            self.sent_ticks += 1


def _recount(nearest: int, wanted: int, per_bar: int) -> int:
    """Ticks to add to ``nearest`` (the tick nearest in time) to reach the one with
    ``wanted``'s place in the bar, when that is less than half a beat away (rule 2)."""
    half = per_bar // 2
    step = (wanted - nearest + half) % per_bar - half
    return step if abs(step) < TICKS // 2 else 0
