"""Following the beat grid of what is heard, from timed chunks. Pure, no I/O.

The daemon knows, for each chunk it feeds the player, when its first frame will reach
the listener (now + what is queued ahead of it + the device's output latency). Put
together with what the engine says of its own grid (the embedded engine's
``meta["grid"]``: ``[downbeat offset in frames, bpm]`` per context) or what the beat
tracker measured, that gives the grid *as heard*. ``HeardGrid`` turns those noisy
per-chunk observations into one steady grid:

1. A new tempo (a new context: more than ``BPM_TOLERANCE`` apart) replaces the grid at
   once; so does a downbeat more than ``tolerance`` (10 ms) off the current grid in
   ``persist`` observations in a row (an
   underrun or a same-tempo reset shifted everything; a single outlier is a scheduling
   hiccup of the estimate and is ignored). ``observe`` returns the new grid, for the
   quantizer, the clock and Link.
2. Smaller differences are timing noise of the estimate (blocks of 256 frames in the
   pump, the device's period, a late loop) or the sound card's clock drifting from the
   system's: the grid's phase and tempo move ``smoothing`` of the way towards the
   observation, so the MIDI clock that follows it never jumps; ``observe`` returns None.
3. ``lost()`` forgets the grid (STOP: nothing is heard, nothing to land on).
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.core.grid import Grid

TOLERANCE = 0.010
SMOOTHING = 0.1
PERSIST = 3
BPM_TOLERANCE = 0.005  # relative: a sound card's clock is off by ppm, a new tempo by > 0.5 %


def engine_grid(
    meta_grid: Sequence[Sequence[float]], heard_at: float, rate: int, beats_per_bar: int = 4
) -> Grid | None:
    """The grid of a chunk whose first frame is heard at ``heard_at``, from its
    ``meta["grid"]`` (the context governing the chunk's end), or None if it has none."""
    if not meta_grid:
        return None
    try:
        offset, bpm = float(meta_grid[-1][0]), float(meta_grid[-1][1])
    except (TypeError, ValueError, IndexError):
        return None  # an engine's garbage is "no grid", never an exception
    if not bpm > 0:
        return None
    return Grid(bpm, heard_at + offset / rate, beats_per_bar, 1.0, "engine")


class HeardGrid:
    """One steady heard grid from noisy observations. See the module docstring."""

    def __init__(
        self, tolerance: float = TOLERANCE, smoothing: float = SMOOTHING, persist: int = PERSIST
    ) -> None:
        self.tolerance = tolerance
        self.smoothing = smoothing
        self.persist = persist
        self._outliers = 0
        self.grid: Grid | None = None
        self.changes = 0  # how often the grid was replaced (rule 1)

    def observe(self, seen: Grid | None, now: float) -> Grid | None:
        """Take one observation; the new grid when it was replaced (rule 1), else None."""
        if seen is None:
            return None
        current = self.grid
        if current is None or self._differs(current, seen):
            return self._replace(seen, now)
        if abs(self._bar_offset(current, seen)) > self.tolerance:
            self._outliers += 1
            return self._replace(seen, now) if self._outliers >= self.persist else None
        self._outliers = 0
        shift = self._bar_offset(current, seen) * self.smoothing
        self.grid = Grid(
            current.bpm + (seen.bpm - current.bpm) * self.smoothing,
            current.downbeat + shift,
            current.beats_per_bar,
            seen.confidence,
            seen.source,
        ).moved(now)
        return None

    def _replace(self, seen: Grid, now: float) -> Grid:
        self.grid = seen.moved(now)
        self.changes += 1
        self._outliers = 0
        return self.grid

    def lost(self) -> bool:
        """Forget the grid (rule 3); True if there was one."""
        had, self.grid = self.grid is not None, None
        return had

    def _differs(self, current: Grid, seen: Grid) -> bool:
        if abs(current.bpm - seen.bpm) > BPM_TOLERANCE * current.bpm:
            return True
        if current.beats_per_bar != seen.beats_per_bar:
            return True
        return seen.source != current.source and seen.source == "engine"  # exact beats win

    @staticmethod
    def _bar_offset(current: Grid, seen: Grid) -> float:
        """Seconds from the current grid's nearest bar line to the observed one."""
        bar = current.bar_seconds
        return (seen.downbeat - current.downbeat + bar / 2) % bar - bar / 2
