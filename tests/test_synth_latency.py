"""How soon the embedded engine answers, measured on rendered audio (no clock, no sleeps).

Continuous controls land in the next render block (``BLOCK`` frames), ramped; mutes land
on the next beat (or bar with ``quantize="bar"``), cutting what rings on their bus. Each
test renders the same stream twice, with and without the change, and compares.
"""

from __future__ import annotations

from dataclasses import replace

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
from bridge.engines.synth import SynthEngine, mixer
from bridge.engines.synth.engine import BLOCK

RATE = 48_000
BEAT = RATE // 2  # 120 bpm
CHUNK = 0.05
BASE = GenerationConfig(bpm=120, mute_drums=True, brightness=0.1)


def engine(quantize: str = "beat") -> SynthEngine:
    e = SynthEngine(chunk_seconds=CHUNK, seed=5, quantize=quantize)  # type: ignore[arg-type]
    e.apply_now(SetPrompts((WeightedPrompt("techno", 1.0),)))
    e.apply_now(SetConfig(BASE))
    e.apply_now(Control(Playback.PLAY))
    return e


def pair(
    change: GenerationConfig, at_chunks: int, chunks: int, quantize: str = "beat"
) -> tuple[np.ndarray, np.ndarray]:
    """(unchanged, changed) streams; the change is applied after ``at_chunks`` chunks."""
    runs = []
    for changed in (False, True):
        e = engine(quantize)
        out = [e.render_chunk().samples for _ in range(at_chunks)]
        if changed:
            e.apply_now(SetConfig(change))
        out += [e.render_chunk().samples for _ in range(chunks - at_chunks)]
        runs.append(np.concatenate(out))
    return runs[0], runs[1]


def first_difference(a: np.ndarray, b: np.ndarray) -> int:
    differs = np.flatnonzero(np.abs(a - b).max(axis=1) > 0)
    return int(differs[0]) if len(differs) else len(a)


def test_brightness_lands_in_the_next_block() -> None:
    """Nothing already rendered changes; from the next block (<= BLOCK frames on) the whole
    mix is brighter, ringing notes too (the desk's tilt), and new notes brighter still."""
    at = 23  # 1.15 s: mid-beat, mid-block
    plain, bright = pair(replace(BASE, brightness=0.9), at, 40)
    start = at * round(CHUNK * RATE)
    first = first_difference(plain, bright)
    assert start <= first <= start + BLOCK

    def rise(lo: int, frames: int) -> float:
        window = slice(lo, lo + frames)
        hi = analysis.band_energy(bright[window], RATE, 4000, 12000)
        return analysis.db(hi / analysis.band_energy(plain[window], RATE, 4000, 12000))

    landed = first + round(mixer.RAMP_S * RATE)
    windows = [rise(landed + k * 1024, 1024) for k in range(8)]  # the next 170 ms
    assert min(windows) > 3  # every 21 ms window, the first one included
    assert float(np.median(windows)) > 8
    assert rise(start + BLOCK, BEAT) > 20  # within the beat: every new note too


def test_the_tilt_is_flat_at_the_styles_own_brightness() -> None:
    """Brightness unset, or set to the style's own: the tilt only delays (0.4 ms), so the
    engine's sound is what it was; away from it, the shelf lifts or cuts the highs."""
    assert mixer.tilt_of(0.3, 0.3) == 0.0
    assert (mixer.tilt_of(1.0, 0.3), mixer.tilt_of(0.0, 0.3)) == (1.0, -1.0)  # any style
    assert mixer.tilt_of(0.65, 0.3) == pytest.approx(0.5)
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal((RATE, 2))).astype(np.float32)
    out = {}
    for tilt in (0.0, 0.5, -0.5):
        desk = mixer.Desk()
        desk.add("pad", 0, noise, send=0.0)
        level = mixer.Levels(buses=(1.0, 1.0, 1.0), tilt=tilt)
        out[tilt] = np.concatenate([desk.mix(i * BLOCK, BLOCK, level) for i in range(8)])
    flat = out[0.0][mixer.TILT_DELAY :]
    limited = mixer.MASTER * noise[: len(flat)]
    assert np.abs(flat - mixer.voices.Limiter().process(limited)).max() < 1e-6
    for tilt, sign in ((0.5, 1), (-0.5, -1)):
        hi = analysis.band_energy(out[tilt], RATE, 6000, 16000)
        lo = analysis.band_energy(out[tilt], RATE, 100, 1000)
        gain = analysis.db(hi / analysis.band_energy(out[0.0], RATE, 6000, 16000))
        assert sign * gain > 3, gain
        assert abs(analysis.db(lo / analysis.band_energy(out[0.0], RATE, 100, 1000))) < 1


def test_the_desk_ramps_every_level_without_a_click() -> None:
    """Bus gains, reverb, drive and texture jumping every block: the largest sample step
    stays that of the note itself (each level ramps across its block)."""
    loud = mixer.Levels(buses=(1.0, 1.0, 1.0), wet=0.4, drive=0.8, texture=0.05, colour=8)
    quiet = mixer.Levels(buses=(0.0, 0.0, 0.0), wet=0.0, drive=0.0, texture=0.0, colour=0)

    def played(toggle: bool) -> np.ndarray:
        desk = mixer.Desk()
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)
        desk.add("pad", 0, np.stack([tone, tone], axis=1), send=0.5)
        levels = [quiet if toggle and i % 2 else loud for i in range(RATE // BLOCK)]
        return np.concatenate([desk.mix(i * BLOCK, BLOCK, x) for i, x in enumerate(levels)])

    steady, toggled = (np.abs(np.diff(played(t), axis=0)).max() for t in (False, True))
    assert toggled <= 1.05 * steady


@pytest.mark.parametrize(("quantize", "boundary"), [("beat", 3 * BEAT), ("bar", 4 * BEAT)])
def test_mute_bass_lands_on_the_next_beat_or_bar(quantize: str, boundary: int) -> None:
    """Asked at 1.3 s (mid-beat): identical up to the next beat (1.5 s) or bar (2 s); 10 ms
    later the bass is gone, even a note still ringing (its bus is cut under a ramp)."""
    at = 26
    change = replace(BASE, mute_bass=True)
    plain, muted = pair(change, at, 60, quantize)
    assert first_difference(plain, muted) >= boundary
    after = slice(boundary + round(mixer.RAMP_S * RATE), boundary + BEAT)
    low = analysis.band_energy(plain[after], RATE, 30, 150)
    assert analysis.db(analysis.band_energy(muted[after], RATE, 30, 150) / low) < -20


def test_the_mute_ramp_has_no_click() -> None:
    """The bus is cut under a ramp: no step larger than the music's own around the beat."""
    change = replace(BASE, mute_bass=True)
    plain, muted = pair(change, 26, 40)
    around = slice(3 * BEAT - 256, 3 * BEAT + BLOCK + 256)
    assert np.abs(np.diff(muted[around], axis=0)).max() <= np.abs(np.diff(plain, axis=0)).max()


def test_quantize_is_checked() -> None:
    """A quantize other than beat or bar is a ValueError naming both."""
    with pytest.raises(ValueError, match="beat, bar"):
        SynthEngine(quantize="phrase")  # type: ignore[arg-type]
