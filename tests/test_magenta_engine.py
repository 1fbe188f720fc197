"""The magenta engine against the fake system: threads, playback, controls, notes, serve.

Everything but the model is real: the engine, its worker thread, the event loop, and for
``serve`` the real server and the real lyria client engine on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bridge.core.types import (
    AudioChunk,
    Change,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.engines import create_engine
from bridge.engines.base import Engine, NoteSink
from bridge.engines.magenta import MagentaEngine, create, serve_factory
from bridge.engines.magenta.noteroll import DRUMS_KEY, HELD, NOTES_KEY, ONSET
from bridge.engines.magenta.system import MagentaUnavailable
from tests.fake_magenta import STYLE_KEY, FakeMagentaRT2Jax, FakeMagentaRT2Mlx

pytestmark = pytest.mark.anyio
PLAY, PAUSE, STOP, RESET = (Control(a) for a in Playback)  # PLAY, PAUSE, STOP, RESET_CONTEXT


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def prompts(*pairs: tuple[str, float]) -> SetPrompts:
    return SetPrompts(tuple(WeightedPrompt(t, w) for t, w in pairs))


@pytest.fixture(autouse=True)
def magenta_home(tmp_path, monkeypatch) -> Path:
    """A weights folder laid out like ``mrt models init`` + ``mrt checkpoints download``
    leave it (the fake reads nothing from it; the engine checks that it is there)."""
    root = tmp_path / "magenta-rt-v2"
    (root / "resources").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    for size in ("mrt2_small", "mrt2_base"):
        (root / "checkpoints" / f"{size}.safetensors").write_bytes(b"")
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))
    return tmp_path


def loaded(eng: MagentaEngine) -> Any:
    return eng.host.system


@pytest.fixture
async def engine() -> AsyncIterator[tuple[MagentaEngine, FakeMagentaRT2Jax]]:
    eng = create(frames=5, model_class=FakeMagentaRT2Jax)
    await eng.start()
    yield eng, loaded(eng)
    await eng.close()


async def pull(eng: MagentaEngine, n: int) -> list[AudioChunk]:
    out: list[AudioChunk] = []
    async with asyncio.timeout(10):
        async for chunk in eng.chunks():
            out.append(chunk)
            if len(out) == n:
                return out
    raise AssertionError("stream ended")


async def test_registered_by_name_and_says_in_one_line_what_is_missing(tmp_path, monkeypatch):
    """``--engine magenta`` resolves to this engine; without the package's backend or the
    weights, building it fails at once with one line saying how to get them."""
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path / "empty"))
    with pytest.raises(MagentaUnavailable) as info:
        create_engine("magenta", size="mrt2_small", frames=10)
    assert "\n" not in str(info.value)
    assert "pip install" in str(info.value) or "mrt models init" in str(info.value)
    eng = create_engine("magenta", frames=10, model_class=FakeMagentaRT2Jax)
    assert isinstance(eng, MagentaEngine) and eng.status()["frames_per_call"] == 10
    assert isinstance(eng, Engine) and isinstance(eng, NoteSink)
    await eng.close()


async def test_model_calls_run_on_one_worker_thread(engine) -> None:
    """Load, embed, tokenize and generate all run on the same non-loop thread."""
    eng, fake = engine
    await eng.apply(prompts(("disco funk", 1.0)))
    await eng.apply(PLAY)
    chunks = await pull(eng, 2)
    assert chunks[0].samples.shape == (5 * 1920, 2) and chunks[0].rate == 48_000
    (thread,) = fake.model.threads  # the constructor (load) ran there too
    assert thread.startswith("magenta") and thread != threading.main_thread().name
    assert threading.main_thread().name not in {c.thread for c in fake.model.calls}


async def test_loop_stays_responsive_while_generating() -> None:
    """A model taking 0.4 s per call never holds the loop: a 5 ms ticker keeps time."""
    eng = create(frames=10, backend="mlx", model_class=FakeMagentaRT2Mlx)
    await eng.start()
    fake = loaded(eng)
    fake.model.delay = 0.04  # per frame: 0.4 s per call, ten times slower than real time
    await eng.apply(prompts(("ambient", 1.0)))
    await eng.apply(PLAY)
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - t0 - 0.005)

    tick = asyncio.create_task(ticker())
    await pull(eng, 2)
    tick.cancel()
    await eng.close()
    assert len(lags) > 50
    assert max(lags) < 0.2  # one call blocks for 0.4 s: the loop never waited for it


async def test_measures_real_time_factor_at_start(engine, caplog) -> None:
    eng, _ = engine
    status = eng.status()
    assert status["ms_per_step"] is not None and status["real_time"] is True
    assert status["size"] == "mrt2_small" and status["backend"] in ("mlx", "jax")


class Slow(FakeMagentaRT2Jax):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model.delay = 0.05  # 50 ms per 40 ms step


async def test_warns_when_slower_than_real_time(caplog) -> None:
    eng = create(frames=2, model_class=Slow)
    with caplog.at_level(logging.WARNING, "bridge.magenta"):
        await eng.start()
    await eng.close()
    assert eng.status()["real_time"] is False
    assert "slower than real time" in caplog.text


async def test_blend_is_tokenized_once_per_weight_change(engine) -> None:
    """Style tokens come from the weighted average; same weights → no new tokenize."""
    eng, fake = engine
    await eng.apply(prompts(("a", 1.0), ("b", 1.0), ("muted", 0.0)))
    await eng.apply(PLAY)
    await pull(eng, 2)
    first = fake.model.calls[-1].conditioning[STYLE_KEY]
    expected = fake.tokenize_style((fake.embed_style("a") + fake.embed_style("b")) / 2)
    assert first == [int(t) for t in expected]
    await eng.apply(prompts(("a", 1.0), ("b", 1.0)))
    await pull(eng, 1)
    await eng.apply(prompts(("a", 3.0), ("b", 1.0)))
    await pull(eng, 2)
    assert eng._style is not None and eng._style.tokenizes == 2
    assert fake.model.embeds == ["a", "b", "a", "b"]  # the engine's two, then this test's
    assert fake.model.calls[-1].conditioning[STYLE_KEY] != first


async def test_config_maps_to_sampling_and_drumless(engine) -> None:
    eng, fake = engine
    await eng.apply(prompts(("a", 1.0)))
    config = GenerationConfig(temperature=0.9, top_k=12, guidance=5.0, mute_drums=True)
    await eng.apply(SetConfig(config))
    await eng.apply(PLAY)
    await pull(eng, 1)
    call = fake.model.calls[-1]
    assert (call.temperature, call.top_k) == (0.9, 12)
    assert call.cfg_scales == {"musiccoca": 5.0, "notes": 1.0, "drums": 1.0}
    assert call.conditioning[DRUMS_KEY] == [0]


async def test_unsupported_controls_in_status_and_logged_once(engine, caplog) -> None:
    eng, _ = engine
    with caplog.at_level(logging.WARNING, "bridge.magenta"):
        await eng.apply(SetConfig(GenerationConfig(bpm=128, density=0.3)))
        await eng.apply(SetConfig(GenerationConfig(bpm=130, density=0.4)))
    status = eng.status()
    assert "bpm" in status["unsupported"] and "seed" in status["unsupported"]
    assert status["unsupported_in_use"] == ["bpm", "density"]
    assert caplog.text.count("bpm is not supported") == 1


async def test_pause_keeps_context_stop_and_reset_start_fresh(engine) -> None:
    eng, fake = engine
    await eng.apply(prompts(("a", 1.0)))
    await eng.apply(PLAY)
    await pull(eng, 2)
    context = fake.model.calls[-1].state_id
    await eng.apply(PAUSE)
    assert eng.status()["state"] == "paused"
    await eng.apply(PLAY)
    await pull(eng, 2)
    assert fake.model.calls[-1].state_id == context  # the same context continued
    await eng.apply(RESET)
    assert eng.status()["state"] == "playing"
    await pull(eng, 2)
    fresh = [c.state_id for c in fake.model.calls[1:]].count(None)  # [0]: the speed test
    assert fresh == 2 and fake.model.calls[-1].state_id != context
    await eng.apply(STOP)
    assert eng.status()["state"] == "stopped"
    await eng.apply(PLAY)
    await pull(eng, 1)
    assert [c.state_id for c in fake.model.calls[1:]].count(None) == 3


async def test_no_audio_while_paused(engine) -> None:
    eng, _ = engine
    await eng.apply(prompts(("a", 1.0)))
    await eng.apply(PAUSE)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await pull(eng, 1)


async def test_keys_condition_the_next_call_frame_by_frame(engine) -> None:
    """A key pressed: its first frame is an onset (a one-frame call), then held frames."""
    eng, fake = engine
    await eng.apply(prompts(("a", 1.0)))
    await eng.apply(PLAY)
    await pull(eng, 1)
    eng.apply_note(Change("notes.on", 69))
    eng.apply_note(Change("drums.hit", 36))
    before = len(fake.model.calls)
    await pull(eng, 3)
    calls = fake.model.calls[before:]
    noted = [c for c in calls if NOTES_KEY in c.conditioning]
    assert noted[0].frames == 1 and noted[0].conditioning[NOTES_KEY][69] == ONSET
    assert noted[0].conditioning[DRUMS_KEY] == [1]
    assert noted[1].frames == 4 and noted[1].conditioning[NOTES_KEY][69] == HELD
    assert DRUMS_KEY not in noted[1].conditioning
    assert eng.status()["held_notes"] == [69]
    eng.apply_note(Change("notes.off", 69))
    await pull(eng, 3)
    assert NOTES_KEY not in fake.model.calls[-1].conditioning  # idle keyboard: model free


async def test_the_fake_follows_the_key(engine) -> None:
    """The notes reach the model: the fake plays the held key's pitch (A4 = 440 Hz)."""
    eng, _ = engine
    await eng.apply(prompts(("a", 1.0)))
    eng.apply_note(Change("notes.on", 69))
    await eng.apply(PLAY)
    audio = np.concatenate([c.samples for c in await pull(eng, 4)])[:, 0]
    peak = np.argmax(np.abs(np.fft.rfft(audio))) * 48_000 / len(audio)
    assert peak == pytest.approx(440, abs=3)


async def test_one_model_shared_by_served_connections() -> None:
    """serve loads once; every connection's engine uses the same model and thread."""
    loads: list[int] = []

    class Counting(FakeMagentaRT2Jax):
        def __init__(self, **kwargs: Any) -> None:
            loads.append(1)
            super().__init__(**kwargs)

    factory = serve_factory(frames=5, model_class=Counting)
    a, b = factory(), factory()
    await a.start()
    await b.start()
    for eng in (a, b):
        await eng.apply(prompts(("x", 1.0)))
        await eng.apply(PLAY)
        await pull(eng, 1)
    await a.close()
    await b.close()
    system = loaded(a)
    assert loads == [1] and loaded(b) is system and len(system.model.threads) == 1


async def test_status_command_shows_speed_and_ignored_controls(engine) -> None:
    """``promptbridge status`` prints the model's speed and the controls it ignores."""
    from bridge.commands.status import render

    eng, _ = engine
    await eng.apply(SetConfig(GenerationConfig(bpm=120)))
    text = render({"engine": eng.status()})
    assert "ms per 40 ms step" in text
    assert "ignored  seed, bpm" in text and "set but ignored: bpm" in text


async def test_render_pulls_the_requested_length() -> None:
    """``promptbridge render --engine magenta`` drives the engine like the daemon does."""
    from bridge.commands.render import render

    samples, rate = await render(
        "magenta",
        (WeightedPrompt("dub techno", 1.0),),
        GenerationConfig(),
        0.5,
        frames=5,
        model_class=FakeMagentaRT2Jax,
    )
    assert rate == 48_000 and samples.shape == (24_000, 2)


async def test_audio_generated_across_a_stop_never_plays() -> None:
    """STOP while the model is mid-call: that call's audio is dropped, and after PLAY the
    stream continues from a fresh context."""
    eng = create(frames=5, model_class=FakeMagentaRT2Jax)
    await eng.start()
    fake = loaded(eng)
    fake.model.delay = 0.04  # 0.2 s per call
    await eng.apply(prompts(("a", 1.0)))
    await eng.apply(PLAY)
    (first,) = await pull(eng, 1)
    calls = len(fake.model.calls)
    while len(fake.model.calls) == calls:  # the next call has started on the worker
        await asyncio.sleep(0.005)
    await eng.apply(STOP)
    await eng.apply(PLAY)
    (after,) = await pull(eng, 1)
    await eng.close()
    assert (first.meta["context"], after.meta["context"]) == (1, 2)
    dropped, fresh = fake.model.calls[calls], fake.model.calls[calls + 1]
    assert dropped.state_id is not None and fresh.state_id is None


async def test_a_served_clients_reset_after_bpm_keeps_the_context(engine) -> None:
    """Over ``serve`` a Lyria client follows a bpm change with RESET_CONTEXT: this model
    has no bpm, so that reset is skipped; a performer's own reset still resets."""
    eng, fake = engine
    await eng.apply(prompts(("a", 1.0)))
    await eng.apply(PLAY)
    await pull(eng, 1)
    await eng.apply(SetConfig(GenerationConfig(bpm=128)))
    await eng.apply(RESET)  # the client's reset for the bpm change
    await pull(eng, 2)
    assert [c.state_id for c in fake.model.calls[1:]].count(None) == 1
    await eng.apply(SetConfig(GenerationConfig(bpm=128, temperature=1.5)))
    await eng.apply(RESET)  # not a bpm/scale-only change: a real reset
    await pull(eng, 2)
    assert [c.state_id for c in fake.model.calls[1:]].count(None) == 2
