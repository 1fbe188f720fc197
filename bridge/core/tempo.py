"""Tempo from MIDI clock and from tap tempo. Pure, no I/O: time is passed in.

The model takes whole bpm from 60 to 200, and every bpm change forces a context reset (a
hard transition), so both estimators report only when the rounded bpm changes.

* ``ClockTempo``: 24 ticks per quarter note. The interval is averaged over a window of
  ticks (clock arrives with jitter); the result changes only when the average moves more
  than ``HYSTERESIS`` bpm away from the last reported value and rounds to another
  integer (so a clock wobbling around x.5 does not flip back and forth). A gap longer
  than ``GAP`` (clock stopped) or a Start restarts the window.
* ``TapTempo``: the average of the last few tap intervals; a pause longer than
  ``reset_after`` starts over.
"""

from __future__ import annotations

from collections import deque

BPM_MIN = 60
BPM_MAX = 200
TICKS_PER_BEAT = 24
HYSTERESIS = 0.6
GAP = 1.0


def clamp_bpm(bpm: float) -> int:
    return max(BPM_MIN, min(BPM_MAX, round(bpm)))


class ClockTempo:
    """MIDI clock ticks → integer bpm, averaged over ``window`` ticks (default 2 beats)."""

    def __init__(self, window: int = 2 * TICKS_PER_BEAT, min_ticks: int = TICKS_PER_BEAT):
        self.window = window
        self.min_ticks = min_ticks
        self._ticks: deque[float] = deque(maxlen=window + 1)
        self.bpm: int | None = None

    def reset(self) -> None:
        """Forget the ticks (clock Start, or a long gap); keep the last reported bpm."""
        self._ticks.clear()

    def tick(self, now: float) -> int | None:
        """One clock tick at ``now``; the new bpm when the reported value changes."""
        if self._ticks and now - self._ticks[-1] > GAP:
            self._ticks.clear()
        self._ticks.append(now)
        if len(self._ticks) <= self.min_ticks:
            return None
        span = self._ticks[-1] - self._ticks[0]
        if span <= 0:
            return None
        bpm = 60.0 * (len(self._ticks) - 1) / (span * TICKS_PER_BEAT)
        rounded = clamp_bpm(bpm)
        if rounded == self.bpm:
            return None
        if self.bpm is not None and abs(bpm - self.bpm) < HYSTERESIS:
            return None
        self.bpm = rounded
        return rounded


class TapTempo:
    """Taps → integer bpm: the mean of the last ``taps - 1`` intervals."""

    def __init__(self, taps: int = 4, reset_after: float = 2.0):
        self.reset_after = reset_after
        self._taps: deque[float] = deque(maxlen=taps)

    def tap(self, now: float) -> int | None:
        """One tap at ``now``; the bpm once there are two taps in a row, else None."""
        if self._taps and now - self._taps[-1] > self.reset_after:
            self._taps.clear()
        self._taps.append(now)
        if len(self._taps) < 2:
            return None
        interval = (self._taps[-1] - self._taps[0]) / (len(self._taps) - 1)
        return clamp_bpm(60.0 / interval) if interval > 0 else None
