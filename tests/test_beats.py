"""Beat tracking (bridge.beats) and the heard-grid follower (core.heard): plain audio in.

The embedded engine's grid is exact (it renders it), so its audio is the ground truth:
its context starts at the stream's first frame, bars every 4 beats from there. The same
audio streamed through ``serve`` and received by the real lyria engine must track the
same, since streamed engines get no grid and are measured.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bridge import beats
from bridge.core.grid import Grid
from bridge.core.heard import HeardGrid, engine_grid
from bridge.core.types import (
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.engines.lyria import create
from bridge.engines.synth import SynthEngine
from bridge.server import bound_port, start_server
from tests.fakekeys import fake_key

RATE = 48_000
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateMusic"
KEY = fake_key("SyBeatsTestKey_0123456789abcdefghij")


def synth_audio(bpm: int, prompt: str, seconds: float = 8.0) -> np.ndarray:
    engine = SynthEngine(chunk_seconds=1.0, seed=3)
    engine.apply_now(SetPrompts((WeightedPrompt(prompt, 1.0),)))
    engine.apply_now(SetConfig(GenerationConfig(bpm=bpm)))
    return np.concatenate([engine.render_chunk().samples for _ in range(int(seconds))])


def phase_error(found: float, bpm: float, start: float = 0.0) -> float:
    """Seconds from ``found`` to the nearest true beat (beats at ``start`` + k beats)."""
    beat = 60.0 / bpm
    return (found - start + beat / 2) % beat - beat / 2


@pytest.mark.parametrize(
    ("bpm", "prompt"), [(120, "techno"), (128, "house"), (96, "hip hop"), (140, "drum and bass")]
)
def test_tracks_the_embedded_engine(bpm: int, prompt: str) -> None:
    """Tempo within 1 %, beat phase within 20 ms, confident."""
    found = beats.track(synth_audio(bpm, prompt), RATE, prior_bpm=bpm)
    assert found is not None
    assert abs(found.bpm - bpm) / bpm < 0.01, found
    assert abs(phase_error(found.beat, bpm)) < 0.020, found
    assert found.confidence > 0.8


def test_tracks_without_a_prior_within_an_octave() -> None:
    """With no bpm asked for, the tempo is found up to the octave (the method's limit)."""
    found = beats.track(synth_audio(120, "techno"), RATE)
    assert found is not None
    assert min(abs(found.bpm - b) / b for b in (60, 120, 240)) < 0.01


def test_a_late_window_keeps_the_phase() -> None:
    """A window starting mid-beat: the beat is found relative to the window's start."""
    audio = synth_audio(120, "techno", 10.0)[int(0.37 * RATE) :]
    found = beats.track(audio, RATE, prior_bpm=120)
    assert found is not None
    assert abs(phase_error(found.beat, 120, start=-0.37)) < 0.020


def test_noise_has_no_confidence() -> None:
    noise = np.random.default_rng(1).normal(size=8 * RATE) * 0.1
    found = beats.track(noise, RATE)
    assert found is None or found.confidence < 0.2


def test_silence_and_short_windows_give_nothing() -> None:
    assert beats.track(np.zeros(8 * RATE), RATE) is None
    assert beats.track(synth_audio(120, "techno", 2.0), RATE) is None


async def stream_through_serve(bpm: int, seconds: float) -> np.ndarray:
    """The embedded engine behind ``serve`` on loopback, received by the lyria engine."""
    _, server = await start_server(
        lambda: SynthEngine(chunk_seconds=0.5, seed=3), "127.0.0.1", 0, api_key=KEY
    )
    async with server:
        url = f"ws://127.0.0.1:{bound_port(server)}{PATH}"
        engine = create(url=url, api_key=KEY, stagger=0.0)
        await engine.start()
        await engine.apply(SetPrompts((WeightedPrompt("techno", 1.0),)))
        await engine.apply(SetConfig(GenerationConfig(bpm=bpm)))
        await engine.apply(Control(Playback.PLAY))
        got: list[np.ndarray] = []
        async with asyncio.timeout(30):
            async for chunk in engine.chunks():
                got.append(chunk.samples)
                if sum(len(c) for c in got) >= seconds * RATE:
                    break
        await engine.close()
    return np.concatenate(got)


@pytest.mark.parametrize("bpm", [120, 128])
def test_tracks_the_embedded_engine_streamed_through_serve_and_lyria(bpm: int) -> None:
    """No grid comes over the wire: the tracker finds the tempo within 1 % and the phase
    within 20 ms of the served synth's exact grid (its context starts at frame 0)."""
    audio = asyncio.run(stream_through_serve(bpm, 8.0))
    found = beats.track(audio, RATE, prior_bpm=bpm)
    assert found is not None
    assert abs(found.bpm - bpm) / bpm < 0.01, found
    assert abs(phase_error(found.beat, bpm)) < 0.020, found


# --- the heard-grid follower ------------------------------------------------------------
def test_engine_grid_from_chunk_meta() -> None:
    grid = engine_grid([[-12_000, 120], [24_000, 100]], heard_at=10.0, rate=RATE)
    assert grid is not None and grid.bpm == 100 and grid.downbeat == pytest.approx(10.5)
    assert engine_grid([], 10.0, RATE) is None
    assert engine_grid([["x", None]], 10.0, RATE) is None  # garbage is no grid


def test_follower_smooths_noise_and_replaces_on_a_new_tempo() -> None:
    heard = HeardGrid()
    assert heard.observe(Grid(120, 0.0, source="engine"), 0.0) is not None
    for i, jitter in enumerate((0.003, -0.004, 0.002, 0.004)):
        assert heard.observe(Grid(120, jitter, source="engine"), 0.1 * i) is None
    assert heard.grid is not None and abs(heard.grid.offset(Grid(120, 0.0))) < 0.002
    assert heard.observe(Grid(100, 0.3, source="engine"), 1.0) is not None
    assert heard.grid is not None and heard.grid.bpm == 100


def test_follower_ignores_one_outlier_but_follows_a_shift() -> None:
    heard = HeardGrid()
    heard.observe(Grid(120, 0.0), 0.0)
    assert heard.observe(Grid(120, 0.05), 0.1) is None  # one hiccup
    assert heard.observe(Grid(120, 0.0), 0.2) is None
    for t in (0.3, 0.4):
        assert heard.observe(Grid(120, 0.05), t) is None
    replaced = heard.observe(Grid(120, 0.05), 0.5)  # third in a row: an underrun shifted it
    assert replaced is not None and replaced.offset(Grid(120, 0.05)) == pytest.approx(0.0)


def test_follower_tracks_a_drifting_device_clock() -> None:
    """A sound card 0.1 % fast: the tempo follows it smoothly, never replaced."""
    heard = HeardGrid()
    heard.observe(Grid(120, 0.0), 0.0)
    for i in range(1, 60):
        assert heard.observe(Grid(120.12, 0.0), 0.05 * i) is None
    assert heard.grid is not None and heard.grid.bpm == pytest.approx(120.12, abs=0.01)
    assert heard.lost() and heard.grid is None
