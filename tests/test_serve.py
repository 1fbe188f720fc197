"""``serve``: a real Lyria-compatible server on 127.0.0.1, driven by a raw websockets client.

The served engine is the deterministic sine test engine (its frequency follows the first
prompt), so every assertion about audio is an assertion about what the client asked for.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.core.types import Control, Playback
from bridge.server import PATHS, bound_port, start_server
from tests.sine_engine import SineEngine, frequency_of

pytestmark = pytest.mark.anyio
PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Served:
    """A running server, its URL and every engine it created."""

    def __init__(self) -> None:
        self.engines: list[SineEngine] = []
        self.url = ""

    def factory(self) -> SineEngine:
        engine = SineEngine(chunk_seconds=0.05)
        self.engines.append(engine)
        return engine


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    state = Served()
    _, server = await start_server(state.factory, "127.0.0.1", 0)
    state.url = f"ws://127.0.0.1:{bound_port(server)}{PATH}"
    async with server:
        yield state


async def open_session(url: str, **kwargs: Any) -> ClientConnection:
    ws = await connect(url, **kwargs)
    await ws.send(json.dumps({"setup": {"model": "models/lyria-realtime-exp"}}))
    assert json.loads(await ws.recv()) == {"setupComplete": {}}
    return ws


def prompts(*texts: str) -> str:
    return json.dumps(
        {"clientContent": {"weightedPrompts": [{"text": t, "weight": 1.0} for t in texts]}}
    )


PLAY = json.dumps({"playbackControl": "PLAY"})


async def audio_frames(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """The next ``n`` audio chunk entries (other messages are skipped)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while len(out) < n:
            frame = await ws.recv()
            message = json.loads(frame)
            out.extend(message.get("serverContent", {}).get("audioChunks", []))
    return out


def samples_of(entries: list[dict[str, Any]]) -> np.ndarray:
    raw = b"".join(base64.b64decode(e["data"]) for e in entries)
    return np.frombuffer(raw, "<i2").reshape(-1, 2).astype(np.float32) / 32768


def peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio[:, 0]))
    return float(np.argmax(spectrum) * 48_000 / len(audio))


async def test_setup_prompts_config_play_stream_the_prompted_audio(served: Served):
    """setup → setupComplete; prompts, config, PLAY → binary audio frames of the prompt's
    frequency, each with sourceMetadata naming the prompts and config."""
    ws = await open_session(served.url)
    await ws.send(prompts("deep house"))
    await ws.send(json.dumps({"musicGenerationConfig": {"bpm": 122, "density": 0.9}}))
    await ws.send(PLAY)
    frame = await ws.recv()
    assert isinstance(frame, bytes)  # audio arrives as binary JSON frames, like Google's
    entries = json.loads(frame)["serverContent"]["audioChunks"] + await audio_frames(ws, 19)
    await ws.close()
    assert {e["mimeType"] for e in entries} == {"audio/l16;rate=48000;channels=2"}
    meta = entries[-1]["sourceMetadata"]
    assert meta["clientContent"]["weightedPrompts"] == [{"text": "deep house", "weight": 1.0}]
    assert meta["musicGenerationConfig"]["bpm"] == 122
    audio = samples_of(entries)
    assert peak_hz(audio) == pytest.approx(frequency_of("deep house"), abs=2)
    assert np.abs(audio).max() == pytest.approx(0.1 + 0.8 * 0.9, abs=0.01)  # density honored


async def test_both_api_versions_are_served_and_other_paths_are_not(served: Served):
    """v1alpha and v1beta paths work; any other path is refused with 404."""
    assert len(PATHS) == 2
    base = served.url.removesuffix(PATH)
    for path in PATHS:
        ws = await open_session(base + path)
        await ws.close()
    with pytest.raises(InvalidStatus) as info:
        await connect(base + "/ws/other")
    assert info.value.response.status_code == 404


async def test_api_key_is_required_when_configured(caplog: pytest.LogCaptureFixture):
    """With an API key, a missing or wrong key gets 403; the header or ?key= is accepted;
    the key never shows in the server's DEBUG logs (websockets logs request headers)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="websockets")  # the CLI may have quietened it
    state = Served()
    _, server = await start_server(state.factory, "127.0.0.1", 0, api_key="s3cret-key")
    url = f"ws://127.0.0.1:{bound_port(server)}{PATH}"
    async with server:
        for headers in ({}, {"x-goog-api-key": "wrong"}):
            with pytest.raises(InvalidStatus) as info:
                await connect(url, additional_headers=headers)
            assert info.value.response.status_code == 403
        ws = await open_session(url, additional_headers={"x-goog-api-key": "s3cret-key"})
        await ws.close()
        ws = await open_session(url + "?key=s3cret-key")
        await ws.close()
    assert len(state.engines) == 2
    # (the raw test client logs its own headers: only the server's lines matter here)
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("websockets.server", "bridge"))
    )
    assert "x-goog-api-key" in server_log.lower()  # the header line was logged...
    assert "s3cret-key" not in server_log  # ...without the key


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        (["not json"], "not valid JSON"),
        ([json.dumps({"musicGenerationConfig": {"bpm": 999}})], "bpm out of range"),
        ([json.dumps({"playbackControl": "REWIND"})], "playbackControl must be one of"),
        ([json.dumps({"setup": {"model": "models/x"}})], "setup may only be sent once"),
    ],
)
async def test_malformed_client_frame_closes_with_1007_and_a_reason(served, frames, reason):
    """A malformed frame ends the session with close code 1007 and a reason saying why."""
    ws = await open_session(served.url)
    for frame in frames:
        await ws.send(frame)
    with pytest.raises(ConnectionClosed) as info:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1007 and reason in info.value.rcvd.reason
    await asyncio.wait_for(served.engines[0].closed.wait(), 2)  # the engine was released


async def test_first_frame_must_be_setup(served: Served):
    """A session that starts with anything but setup is closed with 1007."""
    ws = await connect(served.url)
    await ws.send(PLAY)
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1007
    assert served.engines == []


async def test_empty_prompt_is_filtered_and_the_rest_plays(served: Served):
    """An empty prompt text gets filteredPrompt; the other prompts still play."""
    ws = await open_session(served.url)
    await ws.send(
        json.dumps(
            {
                "clientContent": {
                    "weightedPrompts": [{"text": "  ", "weight": 1.0}, {"text": "ska", "weight": 2}]
                }
            }
        )
    )
    assert json.loads(await ws.recv()) == {
        "filteredPrompt": {"text": "  ", "filteredReason": "empty prompt text"}
    }
    await ws.send(PLAY)
    entries = await audio_frames(ws, 10)
    await ws.close()
    assert entries[0]["sourceMetadata"]["clientContent"]["weightedPrompts"] == [
        {"text": "ska", "weight": 2.0}
    ]
    assert peak_hz(samples_of(entries)) == pytest.approx(frequency_of("ska"), abs=2)


async def drain_until_quiet(ws: ClientConnection, quiet: float) -> int:
    """Read until nothing arrives for ``quiet`` seconds; returns the frames read."""
    count = 0
    while True:
        try:
            await asyncio.wait_for(ws.recv(), quiet)
        except TimeoutError:
            return count
        count += 1


async def test_play_needs_prompts_and_pause_stop_reset_are_honored(served: Served):
    """PLAY without prompts streams nothing; PAUSE and STOP stop the stream, PLAY resumes,
    RESET_CONTEXT keeps it going; every control reaches the engine."""
    ws = await open_session(served.url)
    await ws.send(PLAY)
    assert await drain_until_quiet(ws, 0.3) == 0
    await ws.send(prompts("jazz"))
    assert len(await audio_frames(ws, 3)) == 3
    for control in ("PAUSE", "PLAY", "RESET_CONTEXT", "STOP"):
        await ws.send(json.dumps({"playbackControl": control}))
        if control in ("PAUSE", "STOP"):
            await drain_until_quiet(ws, 0.2)  # what was in flight
            assert await drain_until_quiet(ws, 0.3) == 0
        else:
            assert len(await audio_frames(ws, 3)) == 3
    await ws.close()
    controls = [u.action for u in served.engines[0].applied if isinstance(u, Control)]
    assert controls == [
        Playback.PLAY,
        Playback.PAUSE,
        Playback.PLAY,
        Playback.RESET_CONTEXT,
        Playback.STOP,
    ]


async def test_a_client_that_stops_reading_stops_generation(served: Served):
    """Generation is bounded: while the client reads nothing, the engine is not pulled."""
    ws = await open_session(served.url, max_queue=4)
    await ws.send(prompts("noise"))
    await ws.send(PLAY)
    await audio_frames(ws, 1)
    engine = served.engines[0]
    renders: list[float] = []
    original = engine.render

    def counting_render() -> Any:
        renders.append(time.monotonic())
        return original()

    engine.render = counting_render  # type: ignore[method-assign]
    await asyncio.sleep(1.0)
    settled = len(renders)
    print(f"chunks generated ahead of a client that stopped reading: {settled}")
    await asyncio.sleep(1.0)
    assert len(renders) == settled  # nothing generated during the second idle second
    assert settled < 100  # in flight: bounded by the (small) socket buffers
    await ws.send(json.dumps({"playbackControl": "PAUSE"}))
    await drain_until_quiet(ws, 0.3)
    await ws.close()


async def test_several_clients_at_once_each_get_their_own_session(served: Served):
    """Three concurrent clients, three engine sessions, each hearing its own prompt."""
    texts = ("polka", "drone", "gabber")
    sockets = [await open_session(served.url) for _ in texts]
    for ws, text in zip(sockets, texts, strict=True):
        await ws.send(prompts(text))
        await ws.send(PLAY)
    results = await asyncio.gather(*(audio_frames(ws, 10) for ws in sockets))
    for ws in sockets:
        await ws.close()
    assert len(served.engines) == 3
    for entries, text in zip(results, texts, strict=True):
        assert peak_hz(samples_of(entries)) == pytest.approx(frequency_of(text), abs=2)


class FailingEngine(SineEngine):
    """Fails after two chunks, like an engine whose model crashed."""

    async def chunks(self) -> AsyncIterator[Any]:
        for _ in range(2):
            yield self.render()
        raise RuntimeError("model crashed")


async def test_engine_failure_closes_the_session_with_1011():
    """An engine that fails ends the session with 1011 (retryable), not a hung socket."""
    _, server = await start_server(lambda: FailingEngine(0.05), "127.0.0.1", 0)
    async with server:
        ws = await open_session(f"ws://127.0.0.1:{bound_port(server)}{PATH}")
        await ws.send(prompts("x"))
        await ws.send(PLAY)
        assert len(await audio_frames(ws, 2)) == 2
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "engine failed: RuntimeError")


@pytest.mark.parametrize("ahead", [2.0, None])
async def test_streaming_is_paced_to_real_time_plus_ahead(ahead: float | None):
    """With ``ahead`` = 2 chunks, 1 s of 0.05 s chunks takes about 0.9 s to arrive (real
    time minus what may run ahead); without pacing it arrives as fast as it is read."""
    _, server = await start_server(
        lambda: SineEngine(chunk_seconds=0.05), "127.0.0.1", 0, ahead=ahead
    )
    async with server:
        ws = await open_session(f"ws://127.0.0.1:{bound_port(server)}{PATH}")
        await ws.send(prompts("tick"))
        await ws.send(PLAY)
        t0 = time.monotonic()
        await audio_frames(ws, 20)
        elapsed = time.monotonic() - t0
        await ws.send(json.dumps({"playbackControl": "PAUSE"}))
        await drain_until_quiet(ws, 0.2)
        await ws.close()
    if ahead is None:
        assert elapsed < 0.5
    else:
        assert 0.85 <= elapsed < 1.5
