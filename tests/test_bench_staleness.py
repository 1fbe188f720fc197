"""The staleness benchmark dates every frame by the exact message it carries.

``bench/staleness.analyse`` is fed synthetic sweeps and frames whose true send index is
known (a coalescing bridge, a queueing one that falls seconds behind), and must recover
each frame's exact age.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import staleness


def sends_for(count: int) -> list[tuple[float, int]]:
    """A sawtooth at 1 kHz from t=100 s, then the final value, as ``sweep`` records it."""
    out = [(100.0 + i / 1000, 1 + i % staleness.RAMP) for i in range(count)]
    out.append((100.0 + count / 1000, staleness.FINAL))
    return out


def frame(sends: list[tuple[float, int]], index: int, age: float) -> list[float]:
    """The frame a bridge delivers ``age`` seconds after message ``index``."""
    ramp = min(index, len(sends) - 2) // staleness.RAMP + 1
    weight = sends[index][1] / 127 * 2
    return [sends[index][0] + age, weight, ramp / 127 * 2]


def test_a_queueing_bridge_seconds_behind_is_dated_exactly() -> None:
    """Frames far older than one ramp (127 ms) get their true age, not one ramp less."""
    sends = sends_for(3000)
    ages = [0.005 + i * 0.004 for i in range(0, 3000, 7)]  # up to ~1.7 s behind
    frames = [frame(sends, i, age) for i, age in zip(range(0, 3000, 7), ages, strict=True)]
    result = staleness.analyse("baseline", 0.005, sends, frames)
    assert result.unmatched == 0
    assert result.max_ms == pytest.approx(max(ages) * 1000, abs=1e-6)
    assert result.p50_ms == pytest.approx(sorted(ages)[len(ages) // 2] * 1000, abs=5)


def test_a_coalescing_bridge_and_its_final_value() -> None:
    """Every 50th message 2 ms later, then the final value: ages 2 ms, final delivered."""
    sends = sends_for(1000)
    frames = [frame(sends, i, 0.002) for i in range(0, 1000, 50)]
    frames.append(frame(sends, len(sends) - 1, 0.040))
    result = staleness.analyse("ours", 0.0, sends, frames)
    assert result.unmatched == 0 and result.final_ok
    assert result.p50_ms == pytest.approx(2.0, abs=1e-6)
    assert result.max_ms == pytest.approx(40.0, abs=1e-6)


def test_the_ramp_counter_may_step_before_the_knob() -> None:
    """A frame with the next ramp's counter but this ramp's last value is still dated."""
    sends = sends_for(400)
    last_of_first_ramp = staleness.RAMP - 1
    arrived, weight, _ = frame(sends, last_of_first_ramp, 0.003)
    early_counter = 2 / 127 * 2  # CC 2 already says "ramp 2"
    result = staleness.analyse("ours", 0.0, sends, [[arrived, weight, early_counter]])
    assert result.unmatched == 0
    assert result.max_ms == pytest.approx(3.0, abs=1e-6)


def test_a_frame_with_no_matching_message_is_counted_not_dated() -> None:
    """A value never sent in that ramp is reported as unmatched."""
    sends = sends_for(100)
    result = staleness.analyse("ours", 0.0, sends, [[100.5, 120 / 127 * 2, 1 / 127 * 2]])
    assert result.unmatched == 1 and result.frames == 1
