"""The real lyria engine against the real ``serve`` on 127.0.0.1: sine test engine and the
embedded synth, and the ``promptbridge serve`` command itself in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bridge.cli import main
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
from bridge.engines.lyria import LyriaEngine, create
from bridge.errors import SessionRejected
from bridge.protocol import codec
from bridge.server import bound_port, start_server
from tests.fakekeys import fake_key
from tests.sine_engine import SineEngine, frequency_of

pytestmark = pytest.mark.anyio
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateMusic"
KEY = fake_key("SyServeTestKey_0123456789abcdefghij")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def collect(engine: LyriaEngine, seconds: float) -> list[AudioChunk]:
    out: list[AudioChunk] = []
    async with asyncio.timeout(20):
        async for chunk in engine.chunks():
            out.append(chunk)
            if sum(c.seconds for c in out) >= seconds:
                return out
    raise AssertionError("stream ended")


def peak_hz(chunks: list[AudioChunk]) -> float:
    audio = np.concatenate([c.samples for c in chunks])[:, 0]
    return float(np.argmax(np.abs(np.fft.rfft(audio))) * 48_000 / len(audio))


@pytest.fixture
async def sine_server() -> AsyncIterator[str]:
    _, server = await start_server(
        lambda: SineEngine(chunk_seconds=0.1), "127.0.0.1", 0, api_key=KEY
    )
    async with server:
        yield f"ws://127.0.0.1:{bound_port(server)}{PATH}"


async def test_engine_streams_what_it_asked_for(sine_server: str):
    """Prompts then a prompt change: the audio follows, and sourceMetadata confirms it."""
    engine = create(url=sine_server, api_key=KEY, stagger=0.0)
    await engine.start()
    await engine.apply(SetPrompts((WeightedPrompt("acid", 1.0),)))
    await engine.apply(SetConfig(GenerationConfig(density=0.5)))
    await engine.apply(Control(Playback.PLAY))
    first = await collect(engine, 0.5)
    await engine.apply(SetPrompts((WeightedPrompt("trance", 1.0),)))
    later = await collect(engine, 2.0)
    status = engine.status()
    await engine.close()
    assert peak_hz(first) == pytest.approx(frequency_of("acid"), abs=3)
    changed = [
        c for c in later if c.meta["clientContent"]["weightedPrompts"][0]["text"] == "trance"
    ]
    assert len(changed) >= 5
    assert peak_hz(changed[-5:]) == pytest.approx(frequency_of("trance"), abs=10)
    assert status["state"] == "streaming" and status["sessions"] == 1
    assert KEY not in json.dumps(status)


async def test_wrong_key_is_rejected_and_not_retried(sine_server: str):
    """serve refuses a wrong key with HTTP 403; the engine stops with a clear error."""
    engine = create(url=sine_server, api_key=fake_key("WrongWrongWrongWrongWrong12345"))
    with pytest.raises(SessionRejected, match="refused the API key"):
        await engine.start()
    await engine.close()


async def test_wrong_path_stops_at_once_naming_the_path(sine_server: str):
    """HTTP 404 at the handshake is not retried: one error naming the path to use."""
    base = sine_server.split("/ws/")[0]
    engine = create(url=f"{base}/v1/music", api_key=KEY)
    with pytest.raises(SessionRejected, match="HTTP 404") as info:
        await engine.start()
    status = engine.status()
    await engine.close()
    assert "/v1/music" in str(info.value) and codec.SERVICE_PATH in str(info.value)
    assert status["state"] == "failed" and status["sessions"] == 0


@pytest.mark.parametrize("tail", ["", "/"])
def test_a_url_without_a_path_gets_the_service_path(tail: str):
    """``ws://gpu-box.local:8765`` means the service's standard path there."""
    engine = create(url=f"ws://gpu-box.local:8765{tail}")
    assert engine.url == f"ws://gpu-box.local:8765{codec.SERVICE_PATH}"
    assert create(url="ws://h:1/custom/path").url == "ws://h:1/custom/path"


async def test_engine_through_serve_with_the_synth_engine():
    """The embedded synth served over the protocol: the lyria engine receives its music."""
    _, server = await start_server(
        lambda: create_engine("synth", chunk_seconds=0.25, seed=1), "127.0.0.1", 0
    )
    async with server:
        url = f"ws://127.0.0.1:{bound_port(server)}{PATH}"
        engine = create(url=url, stagger=0.0)
        await engine.apply(SetPrompts((WeightedPrompt("funk bass groove", 1.0),)))
        await engine.start()
        await engine.apply(SetConfig(GenerationConfig(bpm=110)))
        await engine.apply(Control(Playback.PLAY))
        chunks = await collect(engine, 1.0)
        await engine.close()
    audio = np.concatenate([c.samples for c in chunks])
    assert audio.shape[1] == 2 and np.sqrt(np.mean(audio**2)) > 0.01
    assert chunks[-1].meta["musicGenerationConfig"]["bpm"] == 110


def test_serve_command_runs_and_stops_on_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """``promptbridge serve`` listens on loopback, streams the synth, exits 0 on SIGTERM;
    a client given only ``ws://HOST:PORT`` plays from it, one given a wrong path stops
    with one line naming HTTP 404 and the service's path."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--port", "0", "--chunk-seconds", "0.25"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "JOURNAL_STREAM": ""},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"serving engine 'synth' on (ws://127\.0\.0\.1:\d+/ws/\S+)", line)
        assert match, line
        base = match.group(1).split("/ws/")[0]
        chunks = asyncio.run(_play_from(base))
        assert sum(c.seconds for c in chunks) >= 0.5
        wav = str(tmp_path / "o.wav")
        argv = ["render", "--engine", "lyria", "--url", f"{base}/music", "--prompt", "x", wav]
        assert main(argv) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "HTTP 404" in line and "/music" in line and codec.SERVICE_PATH in line, line
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=10)  # also closes the pipe
    assert proc.returncode == 0, rest


async def _play_from(url: str) -> list[AudioChunk]:
    engine = create(url=url, stagger=0.0)
    await engine.apply(SetPrompts((WeightedPrompt("ambient pads", 1.0),)))
    await engine.apply(Control(Playback.PLAY))
    await engine.start()
    try:
        return await collect(engine, 0.5)
    finally:
        await engine.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key must be given together"),
        (["--engine", "nope"], "unknown engine 'nope'"),
        (["--api-key-env", "PB_TEST_UNSET_VAR"], "PB_TEST_UNSET_VAR"),
        (["--chunk-seconds", "0"], "--chunk-seconds must be in 0.02..10"),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot load TLS"),
    ],
)
def test_serve_command_bad_options_are_one_clear_line(argv, message, capsys, monkeypatch):
    """Each bad option is reported in one line on stderr, exit status 1."""
    monkeypatch.delenv("PB_TEST_UNSET_VAR", raising=False)
    assert main(["serve", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
