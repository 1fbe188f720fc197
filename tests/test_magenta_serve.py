"""``serve --engine magenta`` with the fake model: the real server on 127.0.0.1, the real
lyria client engine (what a Raspberry Pi bridge runs), and ``promptbridge serve`` itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from bridge.commands.serve import _factory
from bridge.core.types import (
    AudioChunk,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.engines.lyria import LyriaEngine, create
from bridge.engines.magenta import serve_factory
from bridge.errors import BridgeError
from bridge.server import bound_port, start_server
from tests.fake_magenta import FakeMagentaRT2Jax

pytestmark = pytest.mark.anyio
PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "magenta-rt-v2"
    (root / "resources").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "mrt2_small.safetensors").write_bytes(b"")
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))
    return tmp_path


class Counting(FakeMagentaRT2Jax):
    built: ClassVar[list[Counting]] = []

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        Counting.built.append(self)


@pytest.fixture
async def server(home: Path) -> AsyncIterator[str]:
    Counting.built.clear()
    factory = await asyncio.to_thread(serve_factory, frames=5, model_class=Counting)
    _, srv = await start_server(factory, "127.0.0.1", 0)
    async with srv:
        yield f"ws://127.0.0.1:{bound_port(srv)}{PATH}"


async def collect(engine: LyriaEngine, seconds: float) -> list[AudioChunk]:
    out: list[AudioChunk] = []
    async with asyncio.timeout(20):
        async for chunk in engine.chunks():
            out.append(chunk)
            if sum(c.seconds for c in out) >= seconds:
                return out
    raise AssertionError("stream ended")


async def test_a_pi_bridge_streams_the_model_over_the_lyria_protocol(server: str) -> None:
    """The lyria client (no rotation: our own server) gets the model's audio; two sessions
    one after the other share the one model loaded at serve start."""
    for _ in range(2):
        engine = create(url=server, stagger=0.0, rotate_after=float("inf"))
        await engine.start()
        await engine.apply(SetPrompts((WeightedPrompt("disco funk", 1.0),)))
        await engine.apply(SetConfig(GenerationConfig(temperature=0.8)))
        await engine.apply(Control(Playback.PLAY))
        chunks = await collect(engine, 0.5)
        await engine.close()
        audio = np.concatenate([c.samples for c in chunks])
        assert audio.shape[1] == 2 and float(np.abs(audio).max()) > 0.1
    (model,) = Counting.built
    temps = {c.temperature for c in model.model.calls[1:]}  # [0]: the speed test at start
    assert temps == {0.8}


def test_serve_loads_the_model_before_listening_and_fails_in_one_line(tmp_path, monkeypatch):
    """No backend or no weights: serve stops before listening, saying how to get them."""
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))
    with pytest.raises(BridgeError, match=r"pip install|mrt models init") as info:
        _factory("magenta", frames=5)
    assert "\n" not in str(info.value)
