"""The beat grid of what is heard: tempo, where a bar starts, how sure we are. Pure, no I/O.

A ``Grid`` is plain data: ``bpm``, one ``downbeat`` (a time, on the same clock as every
``now`` of the core, at which a bar starts *at the listener's ear*), ``beats_per_bar``
and a ``confidence`` 0..1. Every other bar and beat follows from those: the grid extends
forwards and backwards in time. Its sources, by how they know it:

* ``engine``: the embedded engine renders the grid, so it is exact (confidence 1);
* ``tracker``: beat tracking of the played audio (``bridge.beats``), with a confidence;
* ``tap``: tap tempo; the last tap is a downbeat (the performer taps the DJ's "one");
* ``midi clock``: MIDI clock in; its Start is a downbeat;
* ``link``: an Ableton Link session's tempo and phase.

``position(t)`` says bar, beat and phase for the status; ``next_boundary(t, unit)`` is
where a quantized change lands (``bridge.core.quantize``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Unit = Literal["bar", "beat"]
EPSILON = 1e-6  # seconds: a boundary this close to ``t`` counts as "now", not "next"


@dataclass(frozen=True, slots=True)
class Position:
    """Where ``t`` falls: 0-based bar (since the grid's downbeat), 0-based beat in the bar,
    and the phase 0..1 within that beat."""

    bar: int
    beat: int
    phase: float


@dataclass(frozen=True, slots=True)
class Grid:
    """A steady beat grid. See the module docstring."""

    bpm: float
    downbeat: float
    beats_per_bar: int = 4
    confidence: float = 1.0
    source: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bpm) and self.bpm > 0):
            raise ValueError(f"bpm must be a positive number (got {self.bpm})")
        if self.beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be >= 1 (got {self.beats_per_bar})")

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar_seconds(self) -> float:
        return self.beat_seconds * self.beats_per_bar

    def beats(self, t: float) -> float:
        """Beats since the grid's downbeat at time ``t`` (negative before it)."""
        return (t - self.downbeat) / self.beat_seconds

    def time_of(self, beats: float) -> float:
        """The time of beat number ``beats`` (counted from the downbeat)."""
        return self.downbeat + beats * self.beat_seconds

    def position(self, t: float) -> Position:
        total = self.beats(t)
        whole = math.floor(total + 1e-9)  # a beat computed a hair early is still that beat
        bar, beat = divmod(whole, self.beats_per_bar)
        return Position(int(bar), int(beat), max(0.0, total - whole))

    def next_boundary(self, t: float, unit: Unit = "bar") -> float:
        """The first bar (or beat) line at or after ``t`` (within ``EPSILON``)."""
        step = self.beats_per_bar if unit == "bar" else 1
        count = math.ceil((self.beats(t) - EPSILON / self.beat_seconds) / step)
        return self.time_of(count * step)

    def moved(self, t: float) -> Grid:
        """The same grid with its downbeat moved to the bar line nearest ``t`` (keeps the
        numbers small and a re-anchored grid comparable)."""
        bars = round((t - self.downbeat) / self.bar_seconds)
        return Grid(
            self.bpm,
            self.downbeat + bars * self.bar_seconds,
            self.beats_per_bar,
            self.confidence,
            self.source,
        )

    def offset(self, other: Grid) -> float:
        """Seconds from the nearest of ``other``'s beats to this grid's beat (-½..½ beat)."""
        half = self.beat_seconds / 2
        return (self.downbeat - other.downbeat + half) % self.beat_seconds - half

    def status(self, t: float) -> dict[str, float | int | str]:
        """What the status shows: bpm, bar, beat (1-based), phase and confidence."""
        where = self.position(t)
        return {
            "bpm": round(self.bpm, 2),
            "bar": where.bar + 1,
            "beat": where.beat + 1,
            "phase": round(where.phase, 3),
            "confidence": round(self.confidence, 2),
            "source": self.source,
        }
