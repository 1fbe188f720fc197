"""Transforms and curves: a raw control value to a target value, and back. Pure, no I/O.

``normalise`` clamps a raw value into the transform's input range and maps it to 0..1
(inverted if asked, with deadzones snapped); ``shape`` applies the curve and steps;
``apply`` does both and scales to the output range. ``inverse`` finds the raw value
whose output is nearest a target value (for LED rings and motor faders), by bisection
on the monotonic part, so curves need no closed-form inverse.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from bridge.core.mapping import Transform

# Curvature of the log and exp curves: y = ln(1 + kx) / ln(1 + k) and its mirror image.
K = 9.0
_LOG_K = math.log1p(K)


def curve_value(curve: str, x: float) -> float:
    """One named curve on 0..1 → 0..1 (monotonic, fixed ends)."""
    if curve == "linear":
        return x
    if curve == "log":
        return math.log1p(K * x) / _LOG_K
    if curve == "exp":
        return (math.exp(_LOG_K * x) - 1.0) / K
    if curve == "s-curve":
        return x * x * (3.0 - 2.0 * x)
    raise ValueError(f"unknown curve {curve!r}")


def breakpoints(points: tuple[tuple[float, float], ...], x: float) -> float:
    """Piecewise-linear interpolation through ``points`` (x ascending), flat outside."""
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    i = bisect_right([p[0] for p in points], x)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _snap(x: float, dz: float, centre: bool) -> float:
    """Snap within ``dz`` of the ends (and of 0.5 for centred controls), stretch the rest."""
    if dz <= 0.0:
        return x
    if centre:
        # Each half [0, 0.5] and [0.5, 1] gets deadzones at both its ends.
        if x < 0.5:
            return 0.5 * _snap(2.0 * x, dz * 2.0, False)
        return 0.5 + 0.5 * _snap(2.0 * x - 1.0, dz * 2.0, False)
    if x <= dz:
        return 0.0
    if x >= 1.0 - dz:
        return 1.0
    return (x - dz) / (1.0 - 2.0 * dz)


def normalise(t: Transform, raw: float) -> float:
    """Raw value → 0..1 position: input range, invert, deadzone."""
    span = t.in_hi - t.in_lo
    x = (raw - t.in_lo) / span if span else 0.0
    x = 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
    if t.invert:
        x = 1.0 - x
    return _snap(x, t.deadzone, t.centre)


def shape(t: Transform, x: float) -> float:
    """0..1 position → 0..1 shaped value: curve (or breakpoints), then steps."""
    y = breakpoints(t.points, x) if t.points else curve_value(t.curve, x)
    if t.steps > 1:
        y = round(y * (t.steps - 1)) / (t.steps - 1)
    return y


def scale(t: Transform, y: float) -> float:
    return t.out_lo + (t.out_hi - t.out_lo) * y


def apply(t: Transform, raw: float) -> float:
    """Raw value → target units."""
    return scale(t, shape(t, normalise(t, raw)))


def inverse(t: Transform, value: float, raw_max: int) -> int:
    """The raw value in 0..raw_max whose output is nearest ``value`` (for feedback).

    Outputs are monotonic in the raw value for every named curve (increasing, or
    decreasing when inverted or when the output range runs downwards), so bisection finds
    the crossing; then the nearer of the two neighbours wins.
    """
    lo, hi = 0, raw_max
    rising = apply(t, hi) >= apply(t, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (apply(t, mid) < value) == rising:
            lo = mid
        else:
            hi = mid
    return lo if abs(apply(t, lo) - value) <= abs(apply(t, hi) - value) else hi
