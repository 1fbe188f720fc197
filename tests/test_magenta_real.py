"""The real ``mrt2_small`` through the engine, where magenta-rt, a backend and the weights
are installed (an Apple Silicon Mac with ``promptbridge[magenta]``). Skipped elsewhere,
with the reason: the weights cannot be downloaded on the machines that run CI."""

from __future__ import annotations

import asyncio
import importlib

import numpy as np
import pytest

from bridge.core.types import Change, Control, Playback, SetPrompts, WeightedPrompt
from bridge.engines.magenta import create
from bridge.engines.magenta.system import ModelOptions, choose_backend, missing_weights

pytestmark = pytest.mark.anyio


def _why_not() -> str | None:
    backend = choose_backend("auto")
    try:
        package = importlib.import_module("magenta_rt")
        getattr(package, {"mlx": "MagentaRT2Mlx", "jax": "MagentaRT2Jax"}[backend])
    except ImportError as exc:
        return f"magenta-rt with its {backend} backend is not importable ({exc})"
    return missing_weights(ModelOptions(size="mrt2_small"))


WHY_NOT = _why_not()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))
@pytest.mark.timeout(900)
async def test_real_small_model_plays_a_prompt_and_a_key() -> None:
    """Two seconds of real music, then a held key: audio in range, speed measured."""
    eng = create(size="mrt2_small", frames=25)
    await eng.start()
    try:
        await eng.apply(SetPrompts((WeightedPrompt("disco funk", 1.0),)))
        await eng.apply(Control(Playback.PLAY))
        chunks = []
        async with asyncio.timeout(600):
            async for chunk in eng.chunks():
                chunks.append(chunk)
                if len(chunks) == 1:
                    eng.apply_note(Change("notes.on", 60))
                if len(chunks) == 3:
                    break
        status = eng.status()
    finally:
        await eng.close()
    audio = np.concatenate([c.samples for c in chunks])
    assert audio.shape == (3 * 48_000, 2) and audio.dtype == np.float32
    assert 0.001 < float(np.abs(audio).max()) <= 1.0
    assert status["ms_per_step"] > 0
