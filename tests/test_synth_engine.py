"""The embedded engine behind the Engine interface: playback semantics like the real model.

Drives ``SynthEngine`` through its async interface on a real event loop (no mocks):
nothing before PLAY, PAUSE holds the position, STOP and RESET_CONTEXT restart the
patterns, bpm/scale wait for a new context, and the stream is pulled, never pushed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from bridge import analysis
from bridge.core.types import (
    AudioChunk,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.engines import create_engine
from bridge.engines.base import Engine
from bridge.engines.synth import SynthEngine, create

PROMPTS = SetPrompts((WeightedPrompt("techno", 1.0),))
CHUNK = 0.5


async def pending_pull(stream: AsyncIterator[AudioChunk], seconds: float = 0.3) -> asyncio.Task:
    """Ask for the next chunk; assert nothing arrives for ``seconds``; return the waiting pull."""
    task = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(seconds)
    assert not task.done()
    return task


async def started(*updates: object, seed: int = 3) -> SynthEngine:
    engine = create(chunk_seconds=CHUNK, seed=seed)
    await engine.start()
    for update in updates:
        await engine.apply(update)  # type: ignore[arg-type]
    return engine


def reference(chunks: int, seed: int = 3, config: GenerationConfig | None = None) -> np.ndarray:
    """The uninterrupted stream of a fresh engine, rendered synchronously."""
    engine = create(chunk_seconds=CHUNK, seed=seed)
    engine.apply_now(PROMPTS)
    if config is not None:
        engine.apply_now(SetConfig(config))
    engine.apply_now(Control(Playback.PLAY))
    return np.concatenate([engine.render_chunk().samples for _ in range(chunks)])


def test_create_engine_by_name() -> None:
    """create_engine('synth', ...) builds a SynthEngine that satisfies the Engine protocol."""
    engine = create_engine("synth", chunk_seconds=0.25, seed=1, url="ignored")
    assert isinstance(engine, SynthEngine)
    assert isinstance(engine, Engine)
    assert engine.status()["chunk_seconds"] == 0.25


def test_bad_chunk_length_is_refused() -> None:
    """A chunk length outside 0.02..10 s is a ValueError naming the range."""
    with pytest.raises(ValueError, match=r"0.02..10"):
        create(chunk_seconds=0.0)


def test_nothing_before_play_then_chunks_of_the_right_shape() -> None:
    """Before PLAY the stream waits; after PLAY it yields float32 [n, 2] chunks at 48 kHz."""

    async def main() -> None:
        engine = await started(PROMPTS, SetConfig(GenerationConfig()))
        stream = engine.chunks()
        pull = await pending_pull(stream)
        await engine.apply(Control(Playback.PLAY))
        chunk = await asyncio.wait_for(pull, 10)
        assert chunk.rate == 48_000
        assert chunk.samples.shape == (int(CHUNK * 48_000), 2)
        assert chunk.samples.dtype == np.float32
        assert np.abs(chunk.samples).max() > 0.01
        assert chunk.meta["seed"] == engine.synth.seed
        await engine.close()

    asyncio.run(main())


def test_play_without_prompts_waits() -> None:
    """PLAY with no prompts yields nothing until prompts arrive."""

    async def main() -> None:
        engine = await started(Control(Playback.PLAY))
        stream = engine.chunks()
        pull = await pending_pull(stream)
        await engine.apply(PROMPTS)
        chunk = await asyncio.wait_for(pull, 10)
        assert chunk.frames > 0
        await engine.close()

    asyncio.run(main())


def test_pause_holds_the_position() -> None:
    """PAUSE stops the stream; PLAY resumes exactly where it stopped (nothing lost or repeated)."""

    async def main() -> np.ndarray:
        engine = await started(PROMPTS, Control(Playback.PLAY))
        stream = engine.chunks()
        got = [(await anext(stream)).samples for _ in range(2)]
        await engine.apply(Control(Playback.PAUSE))
        assert engine.status()["state"] == "paused"
        pull = await pending_pull(stream)
        await engine.apply(Control(Playback.PLAY))
        got.append((await pull).samples)
        got.append((await anext(stream)).samples)
        await engine.close()
        return np.concatenate(got)

    assert np.array_equal(asyncio.run(main()), reference(4))


def test_stop_restarts_from_the_beginning() -> None:
    """STOP, then PLAY: the stream starts over, identical to a fresh engine's first chunks."""

    async def main() -> np.ndarray:
        engine = await started(PROMPTS, Control(Playback.PLAY))
        stream = engine.chunks()
        for _ in range(3):
            await anext(stream)
        await engine.apply(Control(Playback.STOP))
        pull = await pending_pull(stream)
        await engine.apply(Control(Playback.PLAY))
        again = [(await pull).samples, (await anext(stream)).samples]
        await engine.close()
        return np.concatenate(again)

    assert np.array_equal(asyncio.run(main()), reference(2))


def test_reset_context_restarts_the_patterns() -> None:
    """RESET_CONTEXT keeps playing and restarts the patterns at bar 0 on the next beat."""
    engine = create(chunk_seconds=2.0, seed=3)
    engine.apply_now(PROMPTS)
    engine.apply_now(Control(Playback.PLAY))
    for _ in range(4):
        engine.render_chunk()
    assert engine.synth.status()["bar"] >= 3
    engine.apply_now(Control(Playback.RESET_CONTEXT))
    engine.render_chunk()
    assert engine.synth.status()["bar"] <= 1
    assert engine.state == "playing"


def test_bpm_waits_for_a_new_context() -> None:
    """A new bpm is stored at once but only played after RESET_CONTEXT, like the real model."""
    engine = create(chunk_seconds=2.0, seed=3)
    engine.apply_now(PROMPTS)
    engine.apply_now(SetConfig(GenerationConfig(bpm=124)))
    engine.apply_now(Control(Playback.PLAY))
    engine.render_chunk()
    engine.apply_now(SetConfig(GenerationConfig(bpm=96)))
    still = np.concatenate([engine.render_chunk().samples for _ in range(4)])
    assert engine.synth.bpm == 124
    assert analysis.tempo(still, 48_000, 124 / 1.45, 124 * 1.45) == pytest.approx(124, rel=0.02)
    engine.apply_now(Control(Playback.RESET_CONTEXT))
    engine.render_chunk()  # the transition
    after = np.concatenate([engine.render_chunk().samples for _ in range(4)])
    assert engine.synth.bpm == 96
    assert analysis.tempo(after, 48_000, 96 / 1.45, 96 * 1.45) == pytest.approx(96, rel=0.02)


def test_other_controls_apply_mid_stream() -> None:
    """Brightness changes without a reset (on the next beat): the centroid follows."""
    engine = create(chunk_seconds=2.0, seed=3)
    engine.apply_now(PROMPTS)
    engine.apply_now(SetConfig(GenerationConfig(brightness=0.1)))
    engine.apply_now(Control(Playback.PLAY))
    dark = np.concatenate([engine.render_chunk().samples for _ in range(2)])
    engine.apply_now(SetConfig(GenerationConfig(brightness=0.9)))
    engine.render_chunk()
    bright = np.concatenate([engine.render_chunk().samples for _ in range(2)])
    assert analysis.spectral_centroid(bright, 48_000) > 1.3 * analysis.spectral_centroid(
        dark, 48_000
    )


def test_prompt_change_lands_on_a_bar() -> None:
    """New prompts take effect at the next bar: the groove changes, the tempo does not jump."""
    engine = create(chunk_seconds=0.25, seed=3)
    engine.apply_now(PROMPTS)
    engine.apply_now(Control(Playback.PLAY))
    engine.render_chunk()
    engine.apply_now(SetPrompts((WeightedPrompt("hip hop", 1.0),)))
    engine.apply_now(SetConfig(GenerationConfig(guidance=6.0)))  # abrupt: no glide
    bpm = engine.synth.bpm
    for _ in range(16):  # 4 s: at least one bar boundary
        engine.render_chunk()
    assert engine.synth.status()["groove"] == "boombap"
    assert engine.synth.bpm == bpm


def test_the_consumer_pulls() -> None:
    """The engine renders only when asked: a slow consumer does not make it run ahead."""

    async def main() -> None:
        engine = await started(PROMPTS, Control(Playback.PLAY))
        stream = engine.chunks()
        await anext(stream)
        await asyncio.sleep(0.3)
        assert engine.synth.chunks_rendered == 1
        await anext(stream)
        assert engine.synth.chunks_rendered == 2
        await engine.close()

    asyncio.run(main())


def test_the_loop_stays_responsive_while_rendering() -> None:
    """DSP runs in a worker thread: a ticker on the loop keeps ticking during 2 s chunks."""

    async def main() -> float:
        engine = create(chunk_seconds=2.0, seed=3)
        await engine.apply(PROMPTS)
        await engine.apply(Control(Playback.PLAY))
        worst = 0.0

        async def ticker() -> None:
            nonlocal worst
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                worst = max(worst, time.perf_counter() - before)

        tick = asyncio.ensure_future(ticker())
        stream = engine.chunks()
        for _ in range(3):
            await anext(stream)
        tick.cancel()
        await engine.close()
        return worst

    assert asyncio.run(main()) < 0.05


def test_close_ends_the_stream() -> None:
    """close() ends chunks() (a waiting consumer finishes instead of hanging)."""

    async def main() -> list[AudioChunk]:
        engine = await started(PROMPTS)
        collected: list[AudioChunk] = []

        async def consume() -> None:
            async for chunk in engine.chunks():
                collected.append(chunk)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)
        await engine.close()
        await asyncio.wait_for(task, 5)
        return collected

    assert asyncio.run(main()) == []


def test_status_is_json_able() -> None:
    """status() is plain JSON data naming the engine, state, seed, bpm and key."""
    import json

    engine = create(chunk_seconds=0.25, seed=9)
    engine.apply_now(PROMPTS)
    engine.apply_now(Control(Playback.PLAY))
    engine.render_chunk()
    status = json.loads(json.dumps(engine.status()))
    assert status["engine"] == "synth" and status["state"] == "playing"
    assert status["bpm"] == engine.synth.bpm and isinstance(status["seed"], int)
