"""Never silent: the player's adaptive playout and concealment, in simulated time.

The real Player (headless, its clock injected) is driven by ``bridge.audio.simulate``
through delivery schedules like the field's (0.97x real time with no lead, stalls of a
few seconds): no real time passes, no sleeps. The stretcher and steering rules are also
checked on their own with plain values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.audio import simulate as sim
from bridge.audio import steer
from bridge.audio.recorder import WavRecorder
from bridge.audio.ring import Ring
from bridge.audio.stretch import Wsola

RATE = 48_000


def cents(x: np.ndarray, freq: float) -> float:
    """Pitch error of the dominant tone of ``x`` against ``freq`` (parabolic FFT peak)."""
    seg = x[:, 0].astype(np.float64)
    size = 8 * len(seg)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), size))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1 : k + 2])
    found = (k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / size
    return float(1200 * np.log2(found / freq))


def recording(source):  # type: ignore[no-untyped-def]
    """Wrap a source so the test sees every frame it produced."""
    made: list[np.ndarray] = []

    def make(n: int) -> np.ndarray:
        made.append(source(n))
        return made[-1]

    make.made = made  # type: ignore[attr-defined]
    return make


# --- the rules on their own ------------------------------------------------------------
def test_steering_goal_is_exactly_one_between_target_and_high_mark() -> None:
    """Under the target: slower (full -4 % at half the target); over the high mark:
    faster (full +4 % at twice it); in between exactly 1.0."""
    assert steer.goal(1.2, 1.0, 1.5, 0.04) == 1.0
    assert steer.goal(1.0, 1.0, 1.5, 0.04) == 1.0
    assert steer.goal(0.75, 1.0, 1.5, 0.04) == pytest.approx(0.98)
    assert steer.goal(0.2, 1.0, 1.5, 0.04) == pytest.approx(0.96)
    assert steer.goal(2.25, 1.0, 1.5, 0.04) == pytest.approx(1.02)
    assert steer.goal(9.0, 1.0, 1.5, 0.04) == pytest.approx(1.04)


def test_steering_slews_and_lands_exactly_on_one() -> None:
    """The speed moves at most SLEW per second and lands on 1.0 exactly (no drift)."""
    s = steer.Steering(RATE)
    speeds = [s.update(0, 480, 48_000, 72_000) for _ in range(300)]  # 3 s, buffer empty
    assert np.max(np.abs(np.diff(speeds))) <= steer.SLEW * 0.01 + 1e-12
    assert speeds[-1] == pytest.approx(0.96)
    for _ in range(2000):  # the trough rises after its window, then back to 1.0
        last = s.update(60_000, 480, 48_000, 72_000)
    assert last == 1.0


def test_wsola_passes_audio_through_at_exactly_one_and_keeps_pitch_at_four_percent() -> None:
    """At 1.0 the output is the input (to float rounding); at ±4 % a steady tone keeps its
    pitch within a cent and the length changes by the ratio."""
    tone = sim.tone(440.0, 0.5)(RATE * 6)
    for speed in (1.0, 0.96, 1.04):
        ring = Ring(len(tone) + 1)
        ring.write(tone)
        w = Wsola()
        w.speed = speed
        out = np.zeros((len(tone) * 2, 2), dtype=np.float32)
        n = w.pull(out, len(out), ring.read_into)
        if speed == 1.0:
            np.testing.assert_allclose(out[1024:n], tone[1024:n], atol=1e-6)
        assert n / len(tone) == pytest.approx(1 / speed, abs=0.01)
        assert abs(cents(out[RATE : 4 * RATE], 440.0)) < 1.0


# --- the player, simulated -------------------------------------------------------------
def test_a_stream_at_097x_with_no_lead_plays_ten_minutes_without_a_gap() -> None:
    """0.97x real time, 2 s chunks, no lead, 10 minutes: no silent 100 ms window after
    start-up, no underrun after the first seconds, the ratio stays within ±4 % and
    settles near 0.97, a steady tone keeps its
    pitch within 5 cents while stretched, and the buffer (the added latency) stays bounded.
    With stretching and concealment off, the same schedule goes silent again and again."""
    schedule = sim.Schedule(seconds=600.0, speed=0.97, chunk=2.0)
    on = sim.run(sim.tone(440.0), schedule, block=4096, keep=(400.0, 402.0), bpm=120.0,
                 latency="balanced")  # fmt: skip
    assert on.silent_windows() == 0
    # the first chunks come 2.06 s apart with 2 s in them: before the ratio has moved,
    # a loop covers a few tens of ms; after the first 10 s the stream never runs dry
    assert on.episodes and all(start < 10.0 for start, _ in on.episodes), on.episodes
    assert 0.96 - 1e-9 <= on.ratio_min < 0.975 and on.ratio_max <= 1.04 + 1e-9
    assert 0.96 <= on.stats["playout_ratio"] <= 0.98
    assert on.stats["stretched_seconds"] > 500
    assert on.kept is not None and abs(cents(on.kept, 440.0)) < 5.0
    assert on.stats["fill_seconds"] < 2 * on.stats["high_mark_seconds"] + 2.0
    short = sim.Schedule(seconds=60.0, speed=0.97, chunk=2.0)
    off = sim.run(sim.tone(440.0), short, block=4096, bpm=120.0, latency="balanced",
                  stretch_limit=0.0, conceal=False)  # fmt: skip
    assert off.silent_windows() > 10


def test_an_engine_that_starts_after_the_device_is_played_at_its_own_tempo() -> None:
    """The daemon opens the device before the engine's first chunk (0.3 s of buffering
    silence), then the embedded engine renders on demand: the music plays at exactly its
    own speed from the first beat. (Counting the buffering silence as a trough once held
    it at 0.96x for the first 6 s: 128 bpm heard as 123.)"""
    schedule = sim.Schedule(seconds=10.0, speed=100.0, chunk=0.05, stalls=((0.0, 0.3),))
    res = sim.run(sim.synth(128.0), schedule, block=256, bpm=128.0, latency="low")
    assert res.stats["underruns"] == 0
    assert res.ratio_min == 1.0 and res.ratio_max <= 1.0005, (res.ratio_min, res.ratio_max)
    assert res.stats["stretched_seconds"] < 0.05, res.stats


@pytest.mark.parametrize("stall", [3.0, 6.0, 10.0])
def test_a_stall_is_covered_by_a_loop_that_ends_when_audio_returns(stall: float) -> None:
    """The embedded engine's music (120 bpm) stalls for 3, 6 or 10 s: the last bar loops,
    no 100 ms window is silent, the loop's splices step no further than the music itself
    does from sample to sample, and the stream is back within 100 ms of returning."""
    music = recording(sim.synth(120.0))
    at = 12.0
    schedule = sim.Schedule(seconds=at + stall + 8.0, speed=1.0, chunk=2.0, stalls=((at, stall),))
    res = sim.run(music, schedule, block=256, keep=(at, at + stall + 4.0), bpm=120.0,
                  latency="balanced")  # fmt: skip
    assert res.silent_windows() == 0
    assert res.stats["concealment_episodes"] >= 1 and len(res.episodes) >= 1
    start, end = res.episodes[-1]
    back = res.returns[0]
    assert start < back <= end + 1e-9 and end - back <= 0.1
    assert res.stats["concealment_seconds"] > stall - 3.0  # the buffer covered the rest
    own = max(float(np.max(np.abs(np.diff(m, axis=0)))) for m in music.made)  # type: ignore[attr-defined]
    assert res.kept is not None
    entry = round((start - at) * RATE)  # the loop starts at a block boundary
    bar = 2 * RATE  # 4 beats at 120 bpm
    points = [entry + k * bar for k in range(int((end - start) * RATE) // bar + 1)]
    points.append(round((end - at) * RATE) - 960)  # the merge back (a 20 ms crossfade)
    for p in points:
        around = res.kept[max(0, p - 64) : p + 960 + 64]
        assert float(np.max(np.abs(np.diff(around, axis=0)))) <= own, p


def test_concealment_off_is_silence_and_a_long_outage_fades_out() -> None:
    """conceal=False: a 6 s stall is heard as silence (the old behaviour). With
    conceal_max=3 s, a 10 s stall loops for about 3 s, fades out, then is silent."""
    schedule = sim.Schedule(seconds=26.0, speed=1.0, chunk=2.0, stalls=((8.0, 6.0),))
    off = sim.run(sim.tone(330.0), schedule, bpm=120.0, latency="balanced", conceal=False)
    assert off.silent_seconds() >= 2.0 and off.stats["concealment_episodes"] == 0
    long = sim.Schedule(seconds=30.0, speed=1.0, chunk=2.0, stalls=((8.0, 10.0),))
    capped = sim.run(sim.tone(330.0), long, bpm=120.0, latency="balanced", conceal_max=3.0)
    assert capped.stats["concealment_episodes"] >= 1
    assert 3.0 <= capped.stats["concealment_seconds"] <= 4.5
    assert capped.silent_seconds() >= 2.0


def test_the_recording_holds_exactly_what_was_played_loop_included(tmp_path: Path) -> None:
    """--record keeps the concealment: the WAV is sample for sample what the output
    played, through a stall."""
    wav = tmp_path / "set.wav"
    schedule = sim.Schedule(seconds=16.0, speed=1.0, chunk=2.0, stalls=((6.0, 4.0),))
    res = sim.run(sim.synth(120.0), schedule, block=512, keep=(0.0, 16.0), bpm=120.0,
                  latency="balanced", recorder=WavRecorder(wav, fmt="float32"))  # fmt: skip
    assert res.stats["concealment_episodes"] >= 1
    raw = wav.read_bytes()
    heard = np.frombuffer(raw[raw.index(b"data") + 8 :], dtype="<f4").reshape(-1, 2)
    assert res.kept is not None
    np.testing.assert_array_equal(heard, np.clip(res.kept, -1.0, 1.0))


def test_loop_points_of_a_tone_are_crossfaded_not_cut() -> None:
    """A loop whose length is no whole number of periods: every wrap steps at most a few
    per cent more than the tone itself does (a cut would step by up to twice its level)."""
    from bridge.audio.conceal import Looper

    tone = sim.tone(441.0, 0.5)(RATE * 3)
    own = float(np.max(np.abs(np.diff(tone[:, 0]))))
    looper = Looper(RATE, max_seconds=20.0, block=512)
    looper.remember(tone[: 2 * RATE])
    length = RATE - 333  # 0.993 s: not a multiple of the period
    looper.begin(tone[2 * RATE : 2 * RATE + looper.xfade], length)
    out = np.zeros((4 * RATE, 2), dtype=np.float32)
    for i in range(0, len(out), 512):
        looper.render(out[i : i + 512], 512)
    steps = np.abs(np.diff(out[:, 0]))
    assert np.max(steps) <= own * 1.1
    assert np.min(np.abs(out[RATE // 2 : 3 * RATE, 0]).reshape(-1, 480).max(axis=1)) > 0.3


def test_tempo_is_measured_from_the_audio_when_no_bpm_is_set() -> None:
    """With no bpm given, the loop length comes from the tempo measured in a worker
    thread from the fed music (the embedded engine at 120 bpm)."""
    import threading

    from bridge.audio.tempo import TempoGuess

    found: list[float | None] = []
    done = threading.Event()
    guess = TempoGuess(lambda bpm: (found.append(bpm), done.set()))
    music = sim.synth(120.0)
    for _ in range(5):
        guess.add(music(2 * RATE), RATE)
    assert done.wait(10)
    assert found[0] is not None and found[0] == pytest.approx(120.0, rel=0.03)
