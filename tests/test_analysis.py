"""The analysis helpers measure known synthetic signals correctly (pure numpy, no I/O)."""

from __future__ import annotations

import numpy as np
import pytest

from bridge import analysis

RATE = 48_000


def clicks(bpm: float, seconds: float, accent_every: int = 1) -> np.ndarray:
    """Decaying noise bursts on every beat (louder on accented beats)."""
    rng = np.random.default_rng(1)
    x = np.zeros(int(seconds * RATE))
    burst = rng.standard_normal(2400) * np.exp(-np.arange(2400) / 300)
    period = 60.0 / bpm * RATE
    for i, start in enumerate(np.arange(0, len(x) - 2400, period)):
        gain = 1.0 if i % accent_every == 0 else 0.5
        x[round(start) : round(start) + 2400] += gain * burst
    return x


def tone(freqs: list[float], seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)


@pytest.mark.parametrize("bpm", [72.0, 97.0, 124.0, 151.0, 188.0])
def test_tempo_of_a_click_train(bpm: float) -> None:
    """tempo() finds the period of a click train within 1% across the range."""
    assert analysis.tempo(clicks(bpm, 10.0), RATE) == pytest.approx(bpm, rel=0.01)


def test_tempo_prefers_the_beat_over_the_bar() -> None:
    """An accent every 4th beat does not make tempo() report the bar rate."""
    assert analysis.tempo(clicks(120.0, 10.0, 4), RATE) == pytest.approx(120.0, rel=0.01)


def test_tempo_of_silence_is_zero() -> None:
    """Silence has no tempo (0.0, not an exception)."""
    assert analysis.tempo(np.zeros(RATE * 4), RATE) == 0.0


def test_onset_rate_counts_clicks() -> None:
    """onset_rate() counts one onset per click (2 per second at 120 bpm)."""
    assert analysis.onset_rate(clicks(120.0, 8.0), RATE) == pytest.approx(2.0, abs=0.15)


def test_onset_rate_ignores_steady_noise_and_tones() -> None:
    """Steady noise and a held chord produce (almost) no onsets."""
    rng = np.random.default_rng(2)
    steady = 0.1 * rng.standard_normal(RATE * 4) + 0.3 * tone([220, 330], 4.0)
    assert analysis.onset_rate(steady, RATE) < 0.5


def test_onsets_can_be_limited_to_a_band() -> None:
    """A band limit above a signal's spectrum finds none of its onsets."""
    rng = np.random.default_rng(3)
    x = np.zeros(RATE * 4)
    n = np.arange(4800)
    # low thumps: 100 Hz tone bursts with a 5 ms attack (no broadband click)
    thump = np.sin(2 * np.pi * 100 * n / RATE) * np.minimum(n / 240, 1) * np.exp(-n / 800)
    for start in range(0, len(x) - 4800, RATE // 2):
        x[start : start + 4800] += thump
    x += 1e-4 * rng.standard_normal(len(x))
    assert analysis.onset_rate(x, RATE) > 1.5
    assert analysis.onset_rate(x, RATE, lo=6000.0) < 0.3


def test_chroma_of_a_chord() -> None:
    """chroma() puts an A-major triad's energy on A, C# and E."""
    c = analysis.chroma(tone([220.0, 277.18, 329.63]), RATE)
    assert c.sum() == pytest.approx(1.0)
    assert c[[9, 1, 4]].sum() > 0.95


def test_chroma_of_a_low_note_is_precise() -> None:
    """A 55 Hz note with harmonics 1..6 lands on A, E and C#, not on their neighbours."""
    c = analysis.chroma(tone([55.0 * k for k in range(1, 7)]), RATE)
    # harmonics 1, 2, 4 are A; 3 and 6 are E; 5 is C#
    assert c[9] + c[4] + c[1] > 0.95
    assert c[9] > c[8] + c[10]


def test_scale_fraction_in_and_out_of_scale() -> None:
    """scale_fraction() is ~1 for notes in the set and ~0 for notes outside it."""
    c_major = {0, 2, 4, 5, 7, 9, 11}
    inside = tone([261.63, 329.63, 392.0])  # C E G
    outside = tone([277.18, 311.13, 369.99])  # C# D# F#
    assert analysis.scale_fraction(inside, RATE, c_major) > 0.95
    assert analysis.scale_fraction(outside, RATE, c_major) < 0.05


def test_chroma_ignores_white_noise() -> None:
    """White noise has no tonal peaks: almost nothing reaches chroma."""
    rng = np.random.default_rng(4)
    noise = 0.3 * rng.standard_normal(RATE * 2)
    with_tone = noise + 0.3 * tone([440.0])
    c = analysis.chroma(with_tone, RATE)
    assert c[9] > 0.8


def test_spectral_centroid_of_sines() -> None:
    """The centroid of one sine is its frequency; of two equal sines, their mean."""
    assert analysis.spectral_centroid(tone([1000.0]), RATE) == pytest.approx(1000.0, rel=0.02)
    assert analysis.spectral_centroid(tone([500.0, 1500.0]), RATE) == pytest.approx(
        1000.0, rel=0.02
    )


def test_band_energy_splits_power() -> None:
    """band_energy() sees a 100 Hz sine below 150 Hz and not above; power of a unit sine is 1/2."""
    x = np.sin(2 * np.pi * 100 * np.arange(RATE * 2) / RATE)
    assert analysis.band_energy(x, RATE, 0, 150) == pytest.approx(0.5, rel=0.01)
    assert analysis.band_energy(x, RATE, 150, 24000) < 1e-6


def test_db_of_ratios() -> None:
    """db() of 10 is 10 dB; of silence, -inf."""
    assert analysis.db(10.0) == pytest.approx(10.0)
    assert analysis.db(0.0) == float("-inf")


def test_stereo_input_is_averaged() -> None:
    """A stereo signal is measured as its mono average."""
    x = tone([1000.0])
    stereo = np.stack([x, x], axis=1)
    assert analysis.spectral_centroid(stereo, RATE) == pytest.approx(
        analysis.spectral_centroid(x, RATE)
    )
