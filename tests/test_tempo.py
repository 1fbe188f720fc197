"""Tempo from MIDI clock and tap tempo, with an injected clock (pure core)."""

from __future__ import annotations

import random

import pytest

from bridge.core.tempo import ClockTempo, TapTempo


def run_clock(clock: ClockTempo, bpm: float, beats: float, t0: float = 0.0, jitter: float = 0.0):
    """Feed ``beats`` beats of clock at ``bpm``; return (time after, values reported)."""
    rng = random.Random(7)
    interval = 60.0 / (bpm * 24)
    reported = []
    t = t0
    for _ in range(int(beats * 24)):
        t += interval
        got = clock.tick(t + rng.uniform(-jitter, jitter))
        if got is not None:
            reported.append(got)
    return t, reported


@pytest.mark.parametrize("bpm", [60, 93, 120, 174, 200])
def test_clock_reports_the_tempo_once(bpm: int) -> None:
    """A steady clock is reported once, as the integer bpm, after one beat."""
    _, reported = run_clock(ClockTempo(), bpm, beats=16)
    assert reported == [bpm]


def test_clock_jitter_is_averaged_away() -> None:
    """±1 ms of jitter on every tick at 128 bpm still gives exactly one report: 128."""
    _, reported = run_clock(ClockTempo(), 128, beats=64, jitter=0.001)
    assert reported == [128]


def test_clock_reports_a_real_tempo_change() -> None:
    """Going from 120 to 126 bpm reports 126 once the window has moved on (no flapping)."""
    clock = ClockTempo()
    t, first = run_clock(clock, 120, beats=8)
    _, second = run_clock(clock, 126, beats=8, t0=t)
    assert first == [120]
    assert second[-1] == 126
    assert all(120 < b <= 126 for b in second)
    assert second == sorted(second)


def test_clock_out_of_range_is_clamped() -> None:
    """The model takes 60..200: a 240 bpm clock reports 200, a 40 bpm clock 60."""
    assert run_clock(ClockTempo(), 240, beats=4)[1] == [200]
    assert run_clock(ClockTempo(), 40, beats=4)[1] == [60]


def test_clock_gap_restarts_the_window() -> None:
    """After a pause longer than a second, old ticks do not drag the average down."""
    clock = ClockTempo()
    t, _ = run_clock(clock, 100, beats=4)
    _, reported = run_clock(clock, 140, beats=4, t0=t + 5.0)
    assert reported == [140]


def test_tap_tempo_averages_the_last_intervals() -> None:
    """Taps 0.5 s apart give 120; the average uses the last few intervals only."""
    tap = TapTempo(taps=4)
    assert tap.tap(0.0) is None
    assert tap.tap(0.5) == 120
    assert tap.tap(1.0) == 120
    assert tap.tap(1.7) == 106  # intervals 0.5, 0.5, 0.7 → mean 0.5667 s → 105.9
    assert tap.tap(2.4) == 95  # last 4 taps only: 0.5, 0.7, 0.7 → 0.6333 s → 94.7


def test_tap_tempo_resets_after_a_pause() -> None:
    """A tap more than ``reset_after`` seconds later starts a new measurement."""
    tap = TapTempo(reset_after=2.0)
    tap.tap(0.0)
    tap.tap(0.4)
    assert tap.tap(10.0) is None
    assert tap.tap(10.75) == 80
