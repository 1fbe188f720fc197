"""Every generation control has a measurable effect on the embedded engine's audio.

Each test renders a few seconds with the synchronous API and measures the result with
``bridge.analysis`` (the thresholds are the ones the engine promises in docs/engine.md).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from bridge import analysis
from bridge.core.types import (
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.engines.synth import SynthEngine

RATE = 48_000
HOUSE = (("deep house", 1.0), ("rhodes", 0.5))


def render(
    prompts: tuple[tuple[str, float], ...] = HOUSE,
    seconds: float = 8.0,
    engine_seed: int = 7,
    chunk_seconds: float = 2.0,
    **config: Any,
) -> tuple[np.ndarray, SynthEngine]:
    """``seconds`` of audio from a fresh engine playing ``prompts`` with ``config``."""
    engine = SynthEngine(chunk_seconds=chunk_seconds, seed=engine_seed)
    engine.apply_now(SetPrompts(tuple(WeightedPrompt(t, w) for t, w in prompts)))
    engine.apply_now(SetConfig(GenerationConfig(**config)))
    engine.apply_now(Control(Playback.PLAY))
    count = int(np.ceil(seconds / chunk_seconds))
    audio = np.concatenate([engine.render_chunk().samples for _ in range(count)])
    return audio, engine


def scale_pitch_classes(tonic: int, minor: bool) -> set[int]:
    major = (tonic - 9) % 12 if minor else tonic
    return {(major + i) % 12 for i in (0, 2, 4, 5, 7, 9, 11)}


@pytest.mark.parametrize("bpm", [72, 124, 171])
def test_bpm_sets_the_detected_tempo(bpm: int) -> None:
    """The tempo detected by onset autocorrelation is within 2% of the bpm setting."""
    audio, _ = render(bpm=bpm)
    assert analysis.tempo(audio, RATE, lo=bpm / 1.45, hi=bpm * 1.45) == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize("prompt", ["techno", "hip hop", "drum and bass"])
def test_auto_bpm_follows_the_style(prompt: str) -> None:
    """With bpm on auto the tempo is the style's: near the genre's tempo, and detected within 2%."""
    from bridge.engines.synth.lexicon import LEXICON

    audio, engine = render(((prompt, 1.0),))
    bpm = engine.synth.bpm
    assert bpm == pytest.approx(float(LEXICON[prompt]["tempo"]), rel=0.1)  # type: ignore[arg-type]
    assert analysis.tempo(audio, RATE, lo=bpm / 1.45, hi=bpm * 1.45) == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize(
    "scale", ["C_MAJOR_A_MINOR", "E_MAJOR_D_FLAT_MINOR", "B_FLAT_MAJOR_G_MINOR"]
)
def test_scale_holds_the_pitched_energy(scale: str) -> None:
    """At least 75% of the tonal energy is on the 7 pitch classes of the chosen scale."""
    from bridge.core.types import SCALES

    audio, _ = render(seconds=6.0, scale=scale)
    major = SCALES.index(scale)
    pcs = {(major + i) % 12 for i in (0, 2, 4, 5, 7, 9, 11)}
    assert analysis.scale_fraction(audio, RATE, pcs) >= 0.75


@pytest.mark.parametrize("prompt", ["techno", "jazz", "zorblax"])
def test_auto_scale_is_the_styles_key(prompt: str) -> None:
    """With scale on auto the music stays in the key the engine reports."""
    audio, engine = render(((prompt, 1.0),), seconds=6.0)
    pcs = scale_pitch_classes(engine.synth.tonic, engine.synth.minor)
    assert analysis.scale_fraction(audio, RATE, pcs) >= 0.75


def test_density_raises_the_onset_rate() -> None:
    """The onset rate at density 0.9 is at least 1.5x the rate at 0.1."""
    sparse, _ = render(density=0.1)
    busy, _ = render(density=0.9)
    assert analysis.onset_rate(busy, RATE) >= 1.5 * analysis.onset_rate(sparse, RATE)


def test_brightness_raises_the_spectral_centroid() -> None:
    """The centroid rises monotonically with brightness, at least 1.3x from 0.1 to 0.9."""
    centroids = [
        analysis.spectral_centroid(render(seconds=4.0, brightness=b)[0], RATE)
        for b in (0.1, 0.3, 0.5, 0.7, 0.9)
    ]
    assert all(a < b for a, b in itertools.pairwise(centroids)), centroids
    assert centroids[-1] >= 1.3 * centroids[0]


def test_mute_bass_empties_the_low_end() -> None:
    """muteBass drops the energy below 150 Hz by at least 10 dB."""
    full, _ = render(seconds=6.0)
    muted, _ = render(seconds=6.0, mute_bass=True)
    low = analysis.band_energy(full, RATE, 20, 150) / analysis.band_energy(muted, RATE, 20, 150)
    assert analysis.db(low) >= 10.0


def test_mute_drums_removes_the_percussion() -> None:
    """muteDrums: the high-frequency transients and the onset rate both fall."""
    full, _ = render(seconds=6.0)
    muted, _ = render(seconds=6.0, mute_drums=True)
    high_full = analysis.onset_rate(full, RATE, lo=6000.0)
    assert analysis.onset_rate(muted, RATE, lo=6000.0) <= 0.2 * high_full
    hf = analysis.band_energy(full, RATE, 6000, 20000) / analysis.band_energy(
        muted, RATE, 6000, 20000
    )
    assert analysis.db(hf) >= 10.0
    assert analysis.onset_rate(muted, RATE) < analysis.onset_rate(full, RATE)


def test_only_bass_and_drums_drops_the_mid_range() -> None:
    """onlyBassAndDrums drops the 300 Hz-3 kHz instruments by at least 6 dB."""
    full, _ = render(seconds=6.0)
    only, _ = render(seconds=6.0, only_bass_and_drums=True)
    mid = analysis.band_energy(full, RATE, 300, 3000) / analysis.band_energy(only, RATE, 300, 3000)
    assert analysis.db(mid) >= 6.0
    low = analysis.band_energy(full, RATE, 20, 150) / analysis.band_energy(only, RATE, 20, 150)
    assert abs(analysis.db(low)) < 1.0  # bass and kick are untouched


def test_nothing_clips() -> None:
    """A loud, dense, driven style stays below full scale (the limiter's soft knee)."""
    audio, _ = render((("aggressive metal", 1.0), ("heavy", 1.0)), seconds=6.0, density=1.0)
    assert np.abs(audio).max() < 1.0
    assert audio.dtype == np.float32 and audio.shape[1] == 2


def test_stereo_image() -> None:
    """The two channels differ (pads detuned per side, hats and lead panned)."""
    audio, _ = render(seconds=4.0)
    left, right = audio[:, 0], audio[:, 1]
    corr = float(np.corrcoef(left, right)[0, 1])
    assert 0.3 < corr < 0.999


def test_same_seed_is_bit_identical() -> None:
    """The same seed and controls give bit-identical audio."""
    a, _ = render(seconds=4.0, seed=1234)
    b, _ = render(seconds=4.0, seed=1234)
    assert np.array_equal(a, b)


def test_another_seed_changes_the_audio() -> None:
    """Another seed gives different audio (different pattern variants and key)."""
    a, _ = render(seconds=4.0, seed=1234, temperature=1.5)
    b, _ = render(seconds=4.0, seed=4321, temperature=1.5)
    assert not np.array_equal(a, b)
    assert float(np.abs(a - b).mean()) > 0.01


def test_auto_seed_comes_from_the_engine_seed() -> None:
    """With config seed unset, the engine's own seed option decides, deterministically."""
    a, ea = render(seconds=2.0, engine_seed=1)
    b, _ = render(seconds=2.0, engine_seed=1)
    c, ec = render(seconds=2.0, engine_seed=2)
    assert np.array_equal(a, b)
    assert ea.synth.seed != ec.synth.seed
    assert not np.array_equal(a, c)


def test_chunk_length_does_not_change_the_music() -> None:
    """0.25 s chunks concatenate to exactly the audio of 2 s chunks: no seams at boundaries."""
    long_chunks, _ = render(seconds=4.0, chunk_seconds=2.0)
    short_chunks, _ = render(seconds=4.0, chunk_seconds=0.25)
    assert short_chunks.shape == long_chunks.shape
    assert np.array_equal(short_chunks, long_chunks)


def test_stream_has_no_clicks() -> None:
    """No sample-to-sample jump is far above the music's own largest jumps (beats)."""
    audio, _ = render(seconds=6.0, chunk_seconds=0.25)
    jumps = np.abs(np.diff(audio, axis=0)).max(axis=1)
    assert jumps.max() < 0.5


def test_vocalization_mode_sings_the_lead() -> None:
    """VOCALIZATION changes the lead's sound (formant voice), QUALITY and DIVERSITY do not sing."""
    quality, _ = render(seconds=4.0, mode="QUALITY", temperature=0.0)
    vocal, _ = render(seconds=4.0, mode="VOCALIZATION", temperature=0.0)
    assert not np.array_equal(quality, vocal)


def test_guidance_changes_how_far_the_style_goes() -> None:
    """Higher guidance moves the style further from neutral toward the prompt."""
    from bridge.engines.synth.style import SCALARS, blend

    prompts = (WeightedPrompt("ambient", 1.0),)
    neutral_tempo = SCALARS["tempo"][0]
    tempos = [blend(prompts, g)["tempo"] for g in (0.0, 2.0, 4.0, 6.0)]
    distances = [abs(t - neutral_tempo) for t in tempos]
    assert distances == sorted(distances) and distances[0] < distances[-1]
