"""Jitter-buffer arithmetic and the ring buffer, driven with plain values and a fake clock."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.audio import jitter
from bridge.audio.ring import Ring

LOW = jitter.PRESETS["low"]


def test_presets_are_ordered_and_low_is_30_ms() -> None:
    """low < balanced < safe; high marks above targets. low (a local engine rendering on
    demand): 30 ms, no stretcher, half the device queue, so knob-to-ear stays near 0.1 s."""
    low, bal, safe = (jitter.PRESETS[n] for n in ("low", "balanced", "safe"))
    assert (low.target, low.stretch, low.queue) == pytest.approx((0.03, 0.0, 0.032))
    assert bal.stretch == safe.stretch == pytest.approx(0.04)
    assert low.target < bal.target < safe.target
    assert all(p.max_target > p.target and p.headroom > 0 for p in (low, bal, safe))


def test_unknown_preset_names_the_allowed_ones() -> None:
    """A typo gets a one-line error listing low, balanced, safe."""
    with pytest.raises(ValueError, match="latency must be one of low, balanced, safe"):
        jitter.preset("fastest")


def test_underrun_grows_target_up_to_the_cap() -> None:
    """Each underrun multiplies the target by GROW, never past max_target."""
    level = jitter.start_level(LOW, now=0.0)
    targets = []
    for t in range(12):
        level = jitter.on_underrun(level, now=float(t))
        targets.append(level.target)
    assert targets[0] == pytest.approx(LOW.target * jitter.GROW)
    assert targets == sorted(targets)
    assert targets[-1] == LOW.max_target


def test_steady_delivery_shrinks_back_to_the_preset() -> None:
    """After underruns, each calm period shrinks the target one step, down to the preset."""
    level = jitter.on_underrun(jitter.on_underrun(jitter.start_level(LOW, 0.0), 0.0), 0.0)
    grown = level.target
    assert jitter.on_tick(level, LOW.steady - 0.1).target == grown  # not calm long enough
    now, seen = 0.0, [grown]
    while level.target > LOW.target:
        now += LOW.steady
        level = jitter.on_tick(level, now)
        seen.append(level.target)
    assert seen == sorted(seen, reverse=True) and len(seen) > 2
    assert level.target == LOW.target
    assert jitter.on_tick(level, now + 1000).target == LOW.target  # never below


def test_an_underrun_restarts_the_calm_period() -> None:
    """A target grown at t=0 and hit again at t=10 does not shrink at t=steady."""
    level = jitter.on_underrun(jitter.start_level(LOW, 0.0), 0.0)
    level = jitter.on_underrun(level, 10.0)
    assert jitter.on_tick(level, LOW.steady + 1).target == level.target
    assert jitter.on_tick(level, 10.0 + LOW.steady).target < level.target


def test_backpressure_at_the_high_mark() -> None:
    """wants_more is True below target + headroom and False from there on."""
    level = jitter.start_level(LOW, 0.0)
    assert level.high_mark == pytest.approx(0.05)
    assert jitter.wants_more(0.049, level)
    assert not jitter.wants_more(0.05, level)


def test_start_frames_cover_a_block_and_the_reserve() -> None:
    """Playback restarts at the target, and never with less than a block + the reserve."""
    level = jitter.start_level(LOW, 0.0)
    assert jitter.start_frames(level, 48_000, 256) == 1_440
    tiny = jitter.Level(LOW, target=0.001, calm_since=0.0)
    assert jitter.start_frames(tiny, 48_000, 4096) == 4096 + jitter.reserve_frames(48_000)


def test_fades_last_at_least_10_ms() -> None:
    """A fade step is full scale over the given time, clamped to >= 10 ms."""
    assert jitter.fade_step(0.02, 48_000) == pytest.approx(1 / 960)
    assert jitter.fade_step(0.0, 48_000) == pytest.approx(1 / 480)
    assert jitter.ramp_end(0.0, 1.0, 1 / 960, 480) == pytest.approx(0.5)
    assert jitter.ramp_end(0.5, 1.0, 1 / 960, 4800) == 1.0
    assert jitter.ramp_end(1.0, 0.0, 1 / 960, 4800) == 0.0


def test_rate_limit_reports_once_per_interval_and_counts_the_rest() -> None:
    """Underrun logs: the first goes out, the next ones within 10 s are counted."""
    limit = jitter.RateLimit(interval=10.0)
    out = []
    for t in (0.0, 1.0, 2.0, 9.9, 10.0, 10.5):
        report, limit = jitter.rate_limited(limit, t)
        out.append((report, limit.held))
    assert out == [(True, 0), (False, 1), (False, 2), (False, 3), (True, 0), (False, 1)]


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 700)), max_size=60))
def test_ring_is_a_fifo(ops: list[tuple[bool, int]]) -> None:
    """Any interleaving of writes and reads returns exactly the frames written, in order."""
    ring = Ring(1000)
    counter, expected_next, written_total = 0, 0, 0
    out = np.zeros((1000, 2), dtype=np.float32)
    for is_write, n in ops:
        if is_write:
            frames = np.arange(counter, counter + n, dtype=np.float32).repeat(2).reshape(-1, 2)
            took = ring.write(frames)
            assert took == min(n, 1000 - (written_total - expected_next))
            counter += took
            written_total += took
        else:
            got = ring.read_into(out, n)
            assert got == min(n, written_total - expected_next)
            assert list(out[:got, 0]) == list(range(expected_next, expected_next + got))
            expected_next += got
        assert ring.fill == written_total - expected_next
