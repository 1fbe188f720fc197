"""Properties of transforms, encoders and the mapper, checked with hypothesis (pure core)."""

from __future__ import annotations

import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.core import transform as tf
from bridge.core.encoders import decode
from bridge.core.mapping import CURVES, Transform
from bridge.core.takeover import TakeoverState, resolve

ranges = st.tuples(
    st.floats(-1000, 1000, allow_nan=False), st.floats(-1000, 1000, allow_nan=False)
).filter(lambda r: abs(r[0] - r[1]) > 1e-3)
in_ranges = st.tuples(st.integers(0, 127), st.integers(0, 127)).filter(lambda r: r[0] != r[1])


@st.composite
def transforms(draw: st.DrawFn) -> Transform:
    lo, hi = draw(ranges)
    in_lo, in_hi = draw(in_ranges)
    points: tuple[tuple[float, float], ...] = ()
    if draw(st.booleans()):
        xs = sorted(set(draw(st.lists(st.floats(0, 1), min_size=2, max_size=6))))
        if len(xs) >= 2:
            ys = sorted(draw(st.lists(st.floats(0, 1), min_size=len(xs), max_size=len(xs))))
            points = tuple(zip(xs, ys, strict=True))
    return Transform(
        in_lo=in_lo,
        in_hi=in_hi,
        out_lo=lo,
        out_hi=hi,
        invert=draw(st.booleans()),
        curve=draw(st.sampled_from(CURVES)),
        points=points,
        steps=draw(st.sampled_from([0, 2, 3, 8, 128])),
        deadzone=draw(st.sampled_from([0.0, 0.02, 0.1, 0.25])),
        centre=draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None)
@given(transforms(), st.integers(-50, 16500))
def test_output_stays_in_the_output_range(t: Transform, raw: int) -> None:
    """Whatever the transform and the raw value, the output is within out_lo..out_hi."""
    y = tf.apply(t, raw)
    assert min(t.out_lo, t.out_hi) - 1e-9 <= y <= max(t.out_lo, t.out_hi) + 1e-9


@settings(max_examples=100, deadline=None)
@given(transforms())
def test_monotonic_curves_stay_monotonic(t: Transform) -> None:
    """Raising the raw value never moves the output backwards (direction set by invert and
    the ranges); breakpoints with rising y are monotonic too."""
    ys = [tf.apply(t, raw) for raw in range(128)]
    # A reversed input range (in = [127, 0]) inverts too.
    rising = ((t.out_hi >= t.out_lo) != t.invert) != (t.in_hi < t.in_lo)
    pairs = list(itertools.pairwise(ys))
    if rising:
        assert all(b >= a - 1e-9 for a, b in pairs)
    else:
        assert all(b <= a + 1e-9 for a, b in pairs)


@settings(max_examples=100, deadline=None)
@given(transforms(), st.integers(0, 127))
def test_inverse_finds_a_raw_value_with_the_same_output(t: Transform, raw: int) -> None:
    """Feedback's inverse of an output gives a raw value whose output is as close."""
    value = tf.apply(t, raw)
    back = tf.inverse(t, value, 127)
    assert abs(tf.apply(t, back) - value) <= abs(tf.apply(t, raw) - value) + 1e-9


@given(st.sampled_from(["twos-complement", "binary-offset", "sign-bit", "sign-bit-inverted"]))
def test_every_encoding_decodes_plus_and_minus_one(encoding: str) -> None:
    """Each encoding has a value for +1 and one for -1, and decodes within ±64."""
    decoded = [decode(encoding, v) for v in range(128)]
    assert 1 in decoded and -1 in decoded
    assert all(-64 <= d <= 64 for d in decoded)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["immediate", "pickup", "scale"]),
    st.floats(0, 1),
    st.lists(st.floats(0, 1), min_size=1, max_size=30),
)
@example("scale", 0.6416374880102073, [0.0, 0.109375, 0.0])  # once gave -1.1e-16
def test_takeover_never_leaves_the_range(rule: str, target: float, moves: list[float]) -> None:
    """Every value takeover lets through is within the range, and pickup only passes
    values after the control reached the target."""
    st_ = TakeoverState()
    current = target
    for control in moves:
        value = resolve(rule, st_, control, current, 0.0, 1.0)
        if value is not None:
            assert 0.0 <= value <= 1.0
            current = value
            st_.sent = value
    if rule == "pickup" and current != target:
        assert st_.picked
