"""The prompt-space position as glide lanes of the Performance (a mixin). Pure, no I/O.

When the set has a ``[space]`` (``bridge.core.space``), the performer's position is one
lane per axis (``space.x``, ``space.y``, ``space.z``; each 0..1) that glides like a slot
weight or the crossfader. How the position and the slot faders share the placed slots:

1. **A position move writes the weights.** Every move of the position (each step of its
   glide included) writes the kernel's weights into the placed slots' *base* weights
   (clamped to each slot's range) and cancels their weight glides. Unplaced slots never
   change. A fresh set starts placed: the file's weights of placed slots are overridden.
2. **Last writer wins.** A knob, the status page or a scene without a position may move a
   placed slot directly; it holds until the position next moves. So the space is the
   coarse gesture, a fader a correction on top of it.
3. **Scenes** with a ``position`` glide there (with the scene's glide time); their weights
   apply to unplaced slots only. ``scene.store`` keeps where the position is heading.

The Performance dispatches ``space.*`` Changes here and calls ``coordinate``/``move_to``
for the lanes; everything else about glides stays the Performance's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.core.config_values import finite_number
from bridge.core.space import AXES, SpaceSpec, clamp_position, weights
from bridge.core.types import Change

if TYPE_CHECKING:
    from bridge.core.performance import Glide, Slot
    from bridge.core.targets import Target


class PositionLanes:
    """The ``space.*`` lanes of a Performance (which provides the attributes below)."""

    space: SpaceSpec | None
    position: list[float]
    slots: list[Slot]
    glides: dict[str, Glide]

    if TYPE_CHECKING:  # provided by the Performance

        def _start_glide(self, lane: str, end: float, duration: float, now: float) -> None: ...
        def _clamped(self, name: str, value: float, lo: float, hi: float) -> float: ...
        def _touch(self, number: int | None = None) -> None: ...

    def coordinate(self, axis: str) -> float | None:
        """Where the position is on ``axis`` (None: no space, or not that many axes)."""
        index = AXES.index(axis)
        return self.position[index] if index < len(self.position) else None

    def move_to(self, axis: str, value: float) -> None:
        """Set one coordinate (a lane step) and give the placed slots their weights."""
        self.position[AXES.index(axis)] = value
        self.place()

    def place(self) -> None:
        """Give the placed slots the kernel's weights at the position (rule 1)."""
        if self.space is None:
            return
        for number, weight in weights(self.space, self.position).items():
            if 1 <= number <= len(self.slots):
                slot = self.slots[number - 1]
                slot.weight = min(slot.hi, max(slot.lo, weight))
                self.glides.pop(f"slot.{number}.weight", None)  # rule 1
                self._touch(number)

    def heading(self) -> tuple[float, ...] | None:
        """Where the position is heading (its glides' ends): what ``scene.store`` keeps."""
        if self.space is None:
            return None
        ends = [self.glides.get(f"space.{axis}") for axis in self.space.axes]
        return tuple(g.end if g else v for g, v in zip(ends, self.position, strict=True))

    def _apply_space(self, target: Target, change: Change, now: float) -> str | None:
        if self.space is None:
            return "no prompt space in this set (add a [space] to the performance)"
        if AXES.index(target.name) >= self.space.dims:
            axes = ", ".join(f"space.{a}" for a in self.space.axes)
            return f"this prompt space is {self.space.dims}D (axes: {axes})"
        value = finite_number(change.value)
        if value is None:
            return "position must be a number in 0..1"
        end = self._clamped(str(target), value, 0.0, 1.0)
        self._start_glide(str(target), end, change.glide or 0.0, now)
        return None

    def _recall_position(
        self, position: tuple[float, ...] | None, glide: float, now: float
    ) -> frozenset[int]:
        """Glide to a scene's position (rule 3); returns the slots the space now owns."""
        if self.space is None or position is None:
            return frozenset()
        for axis, value in zip(
            self.space.axes, clamp_position(position, self.space.dims), strict=True
        ):
            self._start_glide(f"space.{axis}", value, glide, now)
        return frozenset(self.space.points)


def initial_position(space: SpaceSpec | None) -> list[float]:
    """The position a fresh Performance starts from (empty without a space)."""
    return list(clamp_position(space.position, space.dims)) if space else []
