"""Prompt spaces: prompt slots placed at points, their weights from where you are. Pure.

Theory of operation
-------------------
A ``[space]`` places some prompt slots at points of the unit square (2D) or cube (3D);
the performer moves a *position* through it (``space.x``, ``space.y``, ``space.z``, each
0..1) and the placed slots' weights follow from their distances to it, like Space DJ's
universe of genres or a Collider pad.

**The kernel.** With ``d_i`` the distance from the position to slot *i*'s point,
``d_min`` the smallest of them and ``r`` the space's ``radius``::

    rel_i    = exp(-(d_i² - d_min²) / r²)            1 for the nearest slot, < 1 for the rest
    weight_i = peak · max(0, (rel_i - cutoff) / (1 - cutoff))

This is a Gaussian of width ``r`` normalised by its largest value, so:

1. **The nearest slot always plays at ``peak``**: the set is never empty, however far the
   position is from every point (a plain kernel would fade everything out there).
2. **Each slot dominates at its own point**: there ``d_i = 0`` and every other slot gets
   ``exp(-d²/r²) < 1`` (two slots on one point share it equally).
3. **Continuous**: ``d_min`` and every ``d_i`` move continuously with the position, and the
   ``cutoff`` is a ramp, not a step, so a slot leaving the mix fades to 0 instead of
   jumping out.
4. **The radius is the blend width**: with the nearest slot on the position, a slot one
   radius away plays at ``exp(-1)`` ≈ 0.37 (before the ramp); a slot is silent once
   ``sqrt(d_i² - d_min²)`` reaches ``r·sqrt(ln(1/cutoff))`` (≈ 1.7 r with the default
   cutoff), which keeps the prompt set small. Halfway between two slots both play at
   ``peak``.

Computing ``d_i² - d_min²`` (not ``exp(-d_i²/r²)`` and then dividing) keeps the ratio exact
far from every point, where both would underflow.

``SpaceSpec`` is the compiled ``[space]``; ``weights(spec, position)`` is the kernel;
``clamp_position`` puts a position inside the unit cube. The Performance holds the
position as glide lanes (``space.x`` ...) and writes the weights into the placed slots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

AXES = ("x", "y", "z")
DEFAULT_RADIUS = 0.35
DEFAULT_CUTOFF = 0.05
DEFAULT_PEAK = 1.0


@dataclass(frozen=True, slots=True)
class SpaceSpec:
    """A compiled ``[space]``: 1-based slot number → point (``dims`` coordinates in 0..1)."""

    points: dict[int, tuple[float, ...]] = field(default_factory=dict)
    dims: int = 2
    radius: float = DEFAULT_RADIUS
    peak: float = DEFAULT_PEAK
    cutoff: float = DEFAULT_CUTOFF
    position: tuple[float, ...] = (0.5, 0.5)  # where the performer starts

    @property
    def axes(self) -> tuple[str, ...]:
        return AXES[: self.dims]


def weights(spec: SpaceSpec, position: Sequence[float]) -> dict[int, float]:
    """Every placed slot's weight at ``position`` (see the module docstring)."""
    if not spec.points:
        return {}
    squares = {n: _square_distance(p, position) for n, p in spec.points.items()}
    nearest = min(squares.values())
    width = spec.radius * spec.radius
    out: dict[int, float] = {}
    for number, square in squares.items():
        rel = math.exp(-(square - nearest) / width)
        out[number] = spec.peak * max(0.0, (rel - spec.cutoff) / (1.0 - spec.cutoff))
    return out


def clamp_position(position: Sequence[float], dims: int) -> tuple[float, ...]:
    """``position`` cut or padded (with 0.5) to ``dims`` coordinates, each within 0..1."""
    padded = [*position[:dims], *([0.5] * (dims - len(position)))]
    return tuple(min(1.0, max(0.0, float(v))) for v in padded)


def _square_distance(a: Sequence[float], b: Sequence[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=False))
