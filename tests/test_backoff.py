"""Reconnect policy and rotation arithmetic: pure functions, plain values, no sleeps."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from bridge.protocol import backoff, rotation
from bridge.protocol.backoff import Disposition


def test_first_retry_is_immediate_then_grows_with_jitter_up_to_the_cap():
    """Within 250 ms first; then initial·2ⁿ scaled into [0.5, 1) of itself, never above
    the cap."""
    delays = list(itertools.islice(backoff.delays(0.5, 2.0, 5.0, random.Random(7)), 8))
    assert 0.0 <= delays[0] < 0.25
    nominal = [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    for got, expected in zip(delays[1:], nominal, strict=True):
        assert 0.5 * expected <= got < expected


def test_jitter_differs_between_rigs():
    """Two rigs with different random sources do not retry in lockstep."""
    a = list(itertools.islice(backoff.delays(rng=random.Random(1)), 5))
    b = list(itertools.islice(backoff.delays(rng=random.Random(2)), 5))
    assert a[0] < 0.25 and b[0] < 0.25 and a != b


def test_delays_are_endless():
    """The generator never runs out (reconnect forever by default)."""
    gen = backoff.delays(rng=random.Random(0))
    assert len(list(itertools.islice(gen, 1000))) == 1000


@pytest.mark.parametrize(
    ("code", "reason", "http", "expected"),
    [
        (1007, "API key not valid", None, Disposition.REJECT),
        (1007, "Request contains an invalid argument.", None, Disposition.REJECT),
        (None, "", 401, Disposition.REJECT),
        (None, "", 403, Disposition.REJECT),
        (None, "", 404, Disposition.REJECT),
        (1011, "Resource has been exhausted (e.g. check quota).", None, Disposition.QUOTA),
        (1011, "RESOURCE_EXHAUSTED", None, Disposition.QUOTA),
        (1011, "Internal error encountered.", None, Disposition.RETRY),
        (1011, "", None, Disposition.RETRY),
        (1006, "", None, Disposition.RETRY),
        (1013, "try again later", None, Disposition.RETRY),
        (1000, "", None, Disposition.RETRY),
        (None, "", 502, Disposition.RETRY),
        (1008, "policy", None, Disposition.RETRY),
    ],
)
def test_close_code_classification(code, reason, http, expected):
    """1007 and HTTP 401/403/404 stop; 1011 with a quota reason waits long; the rest retry."""
    assert backoff.classify(code, reason, http_status=http) == expected


def test_quota_delay_is_minutes():
    """A quota close waits the base delay plus up to 50 %."""
    waits = [backoff.quota_delay(120.0, random.Random(i)) for i in range(50)]
    assert all(120.0 <= w <= 180.0 for w in waits)


@pytest.mark.parametrize(
    ("started", "now", "after", "due"),
    [(0.0, 499.9, 500.0, False), (0.0, 500.0, 500.0, True), (100.0, 650.0, 500.0, True)],
)
def test_rotation_due(started, now, after, due):
    """A rotation is due once the session lived rotate_after seconds."""
    assert rotation.rotation_due(started, now, after) is due


@pytest.mark.parametrize(
    ("last", "now", "stagger", "wait"),
    [(None, 5.0, 10.0, 0.0), (0.0, 4.0, 10.0, 6.0), (0.0, 12.0, 10.0, 0.0)],
)
def test_stagger_wait(last, now, stagger, wait):
    """Session starts are kept at least ``stagger`` seconds apart."""
    assert rotation.stagger_wait(last, now, stagger) == pytest.approx(wait)


def test_stalled():
    """The watchdog fires after ``watchdog`` seconds without a chunk."""
    assert not rotation.stalled(10.0, 14.9, 5.0)
    assert rotation.stalled(10.0, 15.0, 5.0)


def test_crossfade_is_equal_power_and_piecewise_identical():
    """cos²+sin² = 1 at every frame, and mixing in odd pieces equals mixing at once."""
    rng = np.random.default_rng(0)
    old = rng.standard_normal((1000, 2)).astype(np.float32)
    new = rng.standard_normal((1000, 2)).astype(np.float32)
    whole = rotation.Crossfade(1000).mix(old, new)
    fade = rotation.Crossfade(1000)
    pieces = [fade.mix(old[a:b], new[a:b]) for a, b in [(0, 7), (7, 500), (500, 1000)]]
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=1e-6)
    assert fade.done and fade.remaining == 0
    g_old, g_new = rotation.Crossfade(1000).gains(1000)
    np.testing.assert_allclose(g_old**2 + g_new**2, 1.0, rtol=1e-6)
    assert g_old[0] == 1.0 and g_new[0] == 0.0 and g_new[-1] > 0.999


def test_crossfade_keeps_the_level_of_uncorrelated_streams():
    """Two independent noise streams at equal level: the blend keeps that level."""
    rng = np.random.default_rng(1)
    old = rng.standard_normal((48000, 2)).astype(np.float32) * 0.3
    new = rng.standard_normal((48000, 2)).astype(np.float32) * 0.3
    mixed = rotation.Crossfade(48000).mix(old, new)
    for window in mixed.reshape(-1, 4800, 2):
        assert np.sqrt(np.mean(window**2)) == pytest.approx(0.3, rel=0.1)


def test_crossfade_refuses_mismatched_pieces():
    """Pieces of different shapes are a programming error."""
    with pytest.raises(ValueError, match="differ in shape"):
        rotation.Crossfade(10).mix(np.zeros((3, 2), np.float32), np.zeros((4, 2), np.float32))
