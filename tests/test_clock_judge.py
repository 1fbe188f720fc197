"""The JACK rig's clock judgement (``tests.clock_judge``) on synthetic captures.

A capture is built the way the rig records one on a busy machine: JACK cycles of 256
frames whose frames lose real time in stalls (one longer than the heard grid's 10 ms
tolerance), stamped late by a varying amount, some missed by the capture client, one
stamped a period early; the daemon's audio child slipping two periods; MIDI clock ticks
sent on real time and delivered at the start of the next cycle (none in a missed one).
A clock that follows what is heard must read as on tempo and on the beat through all of
that, and a clock 0.5 % off or one that slips 15 ms must not.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests import clock_judge

RATE, PERIOD, BPM = 48_000, 256, 120.0
PER_BEAT = 60.0 * RATE / BPM
INTERVAL = PER_BEAT / 24  # stream frames per tick
CYCLES = 1500  # 8 s
MISSED = (200, 640, 1100)  # cycles the capture client missed
EARLY = 900  # a cycle stamped a period early (the next one is stamped right)
STALLS = {300: 0.004, 700: 0.026, 1000: 0.006}  # cycle: real time JACK lost before it (s)
SLIPS = (500 * PERIOD + 100, 1250 * PERIOD + 100)  # frames where the audio child slipped
LATENCY = 240  # frames from the capture to the ear


def lag() -> np.ndarray:
    """Per cycle, how far JACK's frames are behind real time (s)."""
    return np.cumsum([STALLS.get(c, 0.0) for c in range(CYCLES)])


def cycles() -> np.ndarray:
    """(monotonic, frame) per cycle the capture saw, as the rig's ``Capture`` keeps them."""
    jitter = np.random.default_rng(7).uniform(0, 0.003, CYCLES)  # the callback runs late
    stamps = np.arange(CYCLES) * PERIOD / RATE + lag() + jitter
    frames = np.arange(CYCLES) * PERIOD - PERIOD * (np.arange(CYCLES) == EARLY)
    kept = ~np.isin(np.arange(CYCLES), MISSED)
    return np.stack([stamps, frames], axis=1)[kept]


def stream_at(frame: np.ndarray) -> np.ndarray:
    """The stream frame played at JACK ``frame``: each slip moves the stream a period later."""
    return frame - PERIOD * np.searchsorted(np.array(SLIPS), frame, side="right")


def heard_time(stream: np.ndarray) -> np.ndarray:
    """When (real time, s) stream frame ``stream`` reaches the ear."""
    frame = np.arange(CYCLES * PERIOD, dtype=np.float64)[::8]
    at = np.interp(stream, stream_at(frame) + 1e-6 * frame, frame)  # strictly increasing
    return (at + LATENCY) / RATE + lag()[(at // PERIOD).astype(int)]


def ticks(tempo_error: float = 0.0, slip_ms: float = 0.0) -> np.ndarray:
    """The frames the capture got the clock's ticks at. The clock sends tick k when
    stream frame k * INTERVAL is heard (ahead by the latency it compensates), off in
    tempo by ``tempo_error``, slipping ``slip_ms`` later half way through."""
    stream = np.arange(0, CYCLES * PERIOD - 2 * RATE, INTERVAL) / (1 + tempo_error)
    due = heard_time(stream) - LATENCY / RATE
    due[len(due) // 2 :] += slip_ms / 1000
    starts = np.arange(CYCLES) * PERIOD / RATE + lag()  # each cycle's real start
    cycle = np.searchsorted(starts, due)
    kept = ~np.isin(cycle, MISSED) & (cycle < CYCLES)
    return (cycle[kept] * PERIOD).astype(np.float64)


def heard() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The heard beats (JACK frames, moved by the latency) and the clean audio pieces."""
    start = np.arange(0, CYCLES * PERIOD - RATE, RATE // 2, dtype=np.float64)
    clean = [not any(s <= slip < s + RATE // 2 for slip in SLIPS) for s in start]
    at = start[clean]
    frame = np.arange(CYCLES * PERIOD, dtype=np.float64)
    on_beat = np.diff(np.floor(stream_at(frame) / PER_BEAT)) > 0
    beats = frame[1:][on_beat]
    beats = beats[[any(a <= b < a + RATE // 2 for a in at) for b in beats]]
    return beats + LATENCY, (at, stream_at(at))


def judged(tempo_error: float = 0.0, slip_ms: float = 0.0) -> clock_judge.Judged:
    beats, pieces = heard()
    clock = ticks(tempo_error, slip_ms)
    return clock_judge.judge(clock, beats, pieces, cycles(), INTERVAL, RATE)


def clock_error(got: clock_judge.Judged) -> float:
    """The clock's tempo against the heard tempo (both on real time), relative."""
    return (INTERVAL / RATE) / got.clock_per_tick / got.heard_speed - 1


def test_a_clock_that_follows_what_is_heard_passes_through_the_gaps() -> None:
    """Missed cycles, an early stamp, stalls and slips: the clock is on tempo (to 0.05 %),
    the stream verbatim, the beats within a JACK period; the 26 ms stall cuts the capture
    in two, each judged."""
    got = judged()
    assert (got.cuts, got.stretches) == (1, 2), got
    assert abs(got.verbatim - 1) < 1e-6, got
    assert abs(clock_error(got)) < 0.0005, got
    assert max(got.beats_off_ms.values()) < PERIOD / RATE * 1000, got


def test_what_is_heard_is_slower_by_what_jack_and_the_child_lost() -> None:
    """The heard tempo is on real time: the stalls and slips inside the stretches
    (4 + 6 ms and two periods, about 0.2 % of 8 s) make it slower than the stream's."""
    assert 0.995 < judged().heard_speed < 0.999


@pytest.mark.parametrize("error", [-0.005, 0.005])
def test_a_clock_half_a_percent_off_is_caught(error: float) -> None:
    got = judged(tempo_error=error)
    assert clock_error(got) == pytest.approx(error, abs=0.0005)
    assert abs(clock_error(got)) > 0.002  # the rig test's criterion fails


def test_a_clock_that_slips_15_ms_is_caught() -> None:
    """Nothing heard jumps, yet the clock's beats move 15 ms: the stretch it is in
    fails the 10 ms criterion whichever tick is taken for the beat."""
    got = judged(slip_ms=15.0)
    assert max(got.beats_off_ms.values()) > 10.0, got


def test_lost_ticks_are_counted_and_a_held_back_tick_is_not_a_lost_tick() -> None:
    """A gap of two intervals is a lost tick; a tick held back and sent with the next
    one (gaps 1.9, 0.1) is not: the count is right again from the tick after it."""
    gaps = [1.0, 1.0, 1.0, 2.0, 1.1, 0.9, 1.0, 1.9, 0.1, 1.0, 1.0, 2.1, 1.0]
    times = np.concatenate([[0.0], np.cumsum(gaps)]) * INTERVAL
    numbers = clock_judge.tick_numbers(times, INTERVAL)
    assert numbers.tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 10, 10, 11, 12, 14, 15]
