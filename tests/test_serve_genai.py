"""Google's own google-genai SDK, unmodified, against ``serve`` (TLS + API key) on loopback.

The SDK always turns its base URL into ``wss://``, so the server runs with a self-signed
certificate that this test trusts through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google import genai
from google.genai import types
from websockets.exceptions import InvalidStatus

from bridge.core.types import Control, Playback, SetConfig, SetPrompts
from bridge.server import bound_port, ssl_context, start_server
from tests.faultserver import self_signed_cert
from tests.sine_engine import SineEngine, frequency_of

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:Realtime music generation is experimental"),
]
KEY = "genai-test-key-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def tls_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[int, list[SineEngine]]]:
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    engines: list[SineEngine] = []

    def factory() -> SineEngine:
        engines.append(SineEngine(chunk_seconds=0.1))
        return engines[-1]

    _, server = await start_server(
        factory, "127.0.0.1", 0, api_key=KEY, ssl_context=ssl_context(cert, key)
    )
    async with server:
        yield bound_port(server), engines


def client(port: int, key: str = KEY) -> genai.Client:
    options = types.HttpOptions(base_url=f"https://127.0.0.1:{port}", api_version="v1alpha")
    return genai.Client(api_key=key, http_options=options)


async def receive_audio(session: Any, n: int) -> list[types.AudioChunk]:
    chunks: list[types.AudioChunk] = []
    async for message in session.receive():
        if message.server_content and message.server_content.audio_chunks:
            chunks.extend(message.server_content.audio_chunks)
        if len(chunks) >= n:
            return chunks
    raise AssertionError("the stream ended early")


def to_float(chunks: list[types.AudioChunk]) -> np.ndarray:
    raw = b"".join(c.data or b"" for c in chunks)
    return np.frombuffer(raw, "<i2").reshape(-1, 2).astype(np.float32) / 32768


async def test_genai_sdk_prompts_config_play_pause_stop_reset(tls_server):
    """The SDK connects with its key header, sets prompts and config, plays, receives the
    prompted audio with sourceMetadata, then pauses, resets and stops."""
    port, engines = tls_server
    music = client(port).aio.live.music
    async with music.connect(model="models/lyria-realtime-exp") as session:
        await session.set_weighted_prompts(
            prompts=[types.WeightedPrompt(text="bossa nova", weight=1.0)]
        )
        await session.set_music_generation_config(
            config=types.LiveMusicGenerationConfig(
                bpm=96, density=0.25, scale=types.Scale.D_MAJOR_B_MINOR
            )
        )
        await session.play()
        chunks = await receive_audio(session, 10)
        await session.pause()
        await session.reset_context()
        await session.play()
        await receive_audio(session, 2)
        await session.stop()
    assert {c.mime_type for c in chunks} == {"audio/l16;rate=48000;channels=2"}
    audio = to_float(chunks)
    peak = np.argmax(np.abs(np.fft.rfft(audio[:, 0]))) * 48_000 / len(audio)
    assert peak == pytest.approx(frequency_of("bossa nova"), abs=2)
    meta = chunks[-1].source_metadata
    assert meta is not None and meta.client_content is not None
    assert meta.client_content.weighted_prompts is not None
    assert meta.client_content.weighted_prompts[0].text == "bossa nova"
    applied = engines[0].applied
    config = next(u.config for u in applied if isinstance(u, SetConfig))
    assert (config.bpm, config.density, config.scale) == (96, 0.25, "D_MAJOR_B_MINOR")
    assert any(isinstance(u, SetPrompts) for u in applied)
    controls = [u.action for u in applied if isinstance(u, Control)]
    assert controls == [
        Playback.PLAY,
        Playback.PAUSE,
        Playback.RESET_CONTEXT,
        Playback.PLAY,
        Playback.STOP,
    ]


async def test_genai_sdk_with_a_wrong_key_is_refused(tls_server):
    """A wrong key is refused at the handshake (HTTP 403) and no engine is started."""
    port, engines = tls_server
    music = client(port, key="wrong-key").aio.live.music
    with pytest.raises(InvalidStatus) as info:
        async with music.connect(model="lyria-realtime-exp"):
            pass
    assert info.value.response.status_code == 403
    assert engines == []
