"""The lyria engine against a misbehaving server: it never crashes, replays its state after
every reconnect, resumes audio, and never lets the API key reach a log line."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

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
from bridge.errors import SessionClosed, SessionRejected
from tests.fakekeys import fake_key
from tests.faultserver import Fault, FaultServer

KEY = fake_key("SyTESTKEY_never_in_logs_0123456789")
PROMPTS = SetPrompts((WeightedPrompt("minimal techno", 1.0), WeightedPrompt("dub", 0.5)))
CONFIG = SetConfig(GenerationConfig(bpm=124, density=0.4, scale="F_MAJOR_D_MINOR"))
FAST = {"stagger": 0.05, "setup_timeout": 1.0, "backoff_cap": 0.2}
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything at DEBUG, websockets included (it logs request headers at that level)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="websockets")  # the CLI may have quietened it
    return caplog


def assert_key_hidden(engine: LyriaEngine, server: FaultServer, logs: str) -> None:
    """The key went only into the header: not the URL, not a log line, not the status."""
    assert "x-goog-api-key" in logs.lower()  # websockets did log the request headers
    assert KEY not in logs
    assert KEY not in json.dumps(engine.status())
    for conn in server.connections:
        assert KEY not in conn.path
        assert conn.headers.get("x-goog-api-key") == KEY


async def started(server: FaultServer, **options: object) -> LyriaEngine:
    engine = create(url=server.url, api_key=KEY, **{**FAST, **options})
    await engine.apply(PROMPTS)
    await engine.start()
    await engine.apply(CONFIG)
    await engine.apply(Control(Playback.PLAY))
    return engine


async def take(engine: LyriaEngine, n: int, timeout: float = 10.0) -> list[AudioChunk]:
    out: list[AudioChunk] = []
    stream: AsyncIterator[AudioChunk] = engine.chunks()
    async with asyncio.timeout(timeout):
        async for chunk in stream:
            out.append(chunk)
            if len(out) >= n:
                break
    return out


def replayed(server: FaultServer, index: int) -> list[str]:
    return server.connections[index].kinds()[:4]


FULL_STATE = ["setup", "clientContent", "musicGenerationConfig", "PLAY"]


async def test_tcp_drop_mid_stream_reconnects_and_replays(debug_logs: pytest.LogCaptureFixture):
    """A dropped TCP connection: reconnect at once, resend setup, prompts, config and PLAY."""
    async with FaultServer([Fault("drop", after=3)]) as server:
        engine = await started(server)
        chunks = await take(engine, 15)
        status = engine.status()
        await engine.close()
    assert len(server.connections) == 2
    assert replayed(server, 1) == FULL_STATE
    assert server.connections[1].frames[1] == server.connections[0].frames[1]
    assert status["reconnects"] == 1 and status["last_close_code"] == 1006
    assert all(c.samples.shape == (4800, 2) for c in chunks)
    assert_key_hidden(engine, server, debug_logs.text)


@pytest.mark.parametrize("reason", ["Internal error encountered.", "Service unavailable"])
async def test_close_1011_reconnects(reason: str, debug_logs: pytest.LogCaptureFixture):
    """Close 1011 (outage or the session cap) is retried; audio resumes on the new session."""
    async with FaultServer([Fault("close", after=2, code=1011, reason=reason)]) as server:
        engine = await started(server)
        await take(engine, 10)
        status = engine.status()
        await engine.close()
    assert replayed(server, 1) == FULL_STATE
    assert server.connections[1].chunks_sent >= 1
    assert status["last_close_code"] == 1011 and status["last_close_reason"] == reason
    assert_key_hidden(engine, server, debug_logs.text)


async def test_close_1007_stops_with_a_clear_redacted_error(debug_logs: pytest.LogCaptureFixture):
    """1007 (key rejected) stops for good; the reason quoting the key is redacted."""
    fault = Fault("close", after=2, code=1007, reason=f"API key not valid: {KEY}")
    async with FaultServer([fault]) as server:
        engine = await started(server)
        with pytest.raises(SessionRejected) as info:
            await take(engine, 50)
        status = engine.status()
        await engine.close()
    assert len(server.connections) == 1
    assert "1007" in str(info.value) and KEY not in str(info.value)
    assert status["state"] == "failed" and status["last_close_code"] == 1007
    assert_key_hidden(engine, server, debug_logs.text)


async def test_rejected_at_setup_raises_from_start():
    """A key refused right after setup makes start() raise SessionRejected."""
    async with FaultServer([Fault("reject", code=1007, reason="API key not valid")]) as server:
        engine = create(url=server.url, api_key=KEY, **FAST)
        with pytest.raises(SessionRejected, match="1007"):
            await engine.start()
        await engine.close()


async def test_no_setup_complete_is_a_clear_error_without_retries():
    """A server that never answers setup: start() fails with a timeout message."""
    async with FaultServer([Fault("no_setup")]) as server:
        engine = create(url=server.url, api_key=KEY, **{**FAST, "setup_timeout": 0.3}, retries=0)
        with pytest.raises(SessionClosed, match=r"no setupComplete within 0\.3 s"):
            await engine.start()
        await engine.close()


async def test_no_setup_complete_then_retry_succeeds(debug_logs: pytest.LogCaptureFixture):
    """With retries (the default), the next attempt streams and gets the whole state."""
    async with FaultServer([Fault("no_setup")]) as server:
        engine = await started(server, setup_timeout=0.3)
        await take(engine, 5)
        status = engine.status()
        await engine.close()
    assert replayed(server, 1) == FULL_STATE
    assert "no setupComplete" in debug_logs.text
    assert status["sessions"] == 1  # only completed handshakes count as sessions
    assert_key_hidden(engine, server, debug_logs.text)


async def test_garbage_frames_are_dropped_and_streaming_continues(
    debug_logs: pytest.LogCaptureFixture,
):
    """Garbage, binary junk, bad base64, odd mimeType, torn and truncated frames: each is
    dropped, logged at most once per interval, and the stream goes on."""
    async with FaultServer([Fault("garbage", after=2)]) as server:
        engine = await started(server)
        chunks = await take(engine, 12)
        status = engine.status()
        await engine.close()
    assert len(server.connections) == 1
    assert status["bad_frames"] == 7  # the eighth is only an unknown key
    bad_logs = [r for r in debug_logs.records if "dropped a bad frame" in r.getMessage()]
    assert len(bad_logs) == 1
    assert "mysteryKey" in debug_logs.text
    assert len(chunks) == 12


async def test_stall_triggers_the_watchdog_and_a_new_session():
    """No chunk for ``watchdog`` seconds while playing: a new session takes over."""
    async with FaultServer([Fault("stall", after=3, stall=10)]) as server:
        engine = await started(server, watchdog=0.5, crossfade=0.05)
        t0 = time.monotonic()
        await take(engine, 12)
        elapsed = time.monotonic() - t0
        status = engine.status()
        await engine.close()
    assert elapsed < 5.0
    assert status["rotations"] == 1
    assert replayed(server, 1) == FULL_STATE


async def test_filtered_prompt_is_reported_and_not_resent():
    """A filtered prompt shows in status and is left out of later prompt sets until its
    text changes."""
    async with FaultServer([Fault("filter", after=1)]) as server:
        engine = await started(server)
        news: list[list[dict[str, str]]] = []
        engine.on_news(lambda: news.append(engine.status()["filtered_prompts"]))
        await take(engine, 4)
        await engine.apply(PROMPTS)
        await take(engine, 2)  # it went out (a newer prompt set would replace it if queued)
        renamed = SetPrompts((WeightedPrompt("minimal house", 1.0), WeightedPrompt("dub", 0.5)))
        await engine.apply(renamed)
        await take(engine, 3)
        status = engine.status()
        await engine.close()
    sets = [
        [p["text"] for p in f["clientContent"]["weightedPrompts"]]
        for f in server.connections[0].frames
        if "clientContent" in f
    ]
    assert sets == [["minimal techno", "dub"], ["dub"], ["minimal house", "dub"]]
    assert status["filtered_prompts"] == [{"text": "minimal techno", "reason": "x"}]
    # the daemon is told at once (it waits for this instead of polling status())
    assert news == [[{"text": "minimal techno", "reason": "x"}]]


async def test_apply_never_waits_for_the_network():
    """apply() never suspends, even while the session is stalled: each call finishes in
    one step of its coroutine (no await reaches the loop)."""
    async with FaultServer([Fault("stall", after=1, stall=3)]) as server:
        engine = await started(server)
        await take(engine, 1)
        for i in range(200):
            step = engine.apply(SetConfig(GenerationConfig(density=(i + 1) / 200)))
            with pytest.raises(StopIteration):
                step.send(None)
        await engine.close()


def rms_windows(audio: np.ndarray, window: int = 960) -> np.ndarray:
    usable = audio[: len(audio) // window * window, 0]
    return np.sqrt(np.mean(usable.reshape(-1, window) ** 2, axis=1))


async def play_in_real_time(engine: LyriaEngine, seconds: float) -> tuple[np.ndarray, float]:
    """Consume like a sound card: 0.15 s pre-buffer, then real time. Returns the audio and
    the longest underrun (seconds the buffer was empty while waiting for a chunk)."""
    prebuffer, pieces, worst = 0.15, [], 0.0
    audio_end: float | None = None
    stream = engine.chunks()
    async with asyncio.timeout(seconds + 10):
        async for chunk in stream:
            now = time.monotonic()
            if audio_end is None:
                audio_end = now + prebuffer
            worst = max(worst, now - audio_end)
            audio_end = max(audio_end, now) + chunk.seconds
            pieces.append(chunk.samples)
            if sum(p.shape[0] for p in pieces) >= seconds * 48_000:
                break
            await asyncio.sleep(max(0.0, audio_end - prebuffer - time.monotonic()))
    return np.concatenate(pieces), worst


async def test_rotation_keeps_the_stream_gapless_across_session_ends():
    """Sessions end every 1.5 s (1011, like the 600 s cap), stream at about real time and
    start slowly; rotating at
    0.7 s with a crossfade keeps the played audio free of gaps and level dips."""
    server = FaultServer(session_limit=1.5, first_audio_delay=0.3, speed=1.1)
    async with server:
        engine = await started(server, rotate_after=0.7, crossfade=0.2, stagger=0.3)
        audio, worst = await play_in_real_time(engine, 4.5)
        status = engine.status()
        await engine.close()
    rms = rms_windows(audio)
    assert worst < 0.05, f"underrun of {worst:.3f} s"
    assert rms.min() > 0.6 * (0.5 / np.sqrt(2)), f"level dip to {rms.min():.3f}"
    assert status["rotations"] >= 3 and status["reconnects"] == 0
    assert len(server.connections) >= 4
    assert all(replayed(server, i) == FULL_STATE for i in range(len(server.connections)))


def running(prefix: str) -> list[str]:
    """The engine's tasks named ``prefix...`` that have not finished."""
    return sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith(prefix))


async def test_without_rotation_a_session_end_leaves_a_gap():
    """The same server without rotation: the reconnect gap shows (the check above can fail).
    The ended session leaves no task behind (its writer used to wait for good, and asyncio
    reported it destroyed while pending at exit)."""
    server = FaultServer(session_limit=1.0, first_audio_delay=0.3, speed=1.1)
    async with server:
        engine = await started(server, rotate_after=100.0)
        _, worst = await play_in_real_time(engine, 2.0)
        status = engine.status()
        writers = running("lyria-writer")
        await engine.close()
        assert running("lyria-") == []
    assert worst > 0.1
    assert status["reconnects"] >= 1
    assert len(writers) == 1  # the live session's only


async def test_server_down_at_boot_then_up_streams_without_waiting_for_the_stagger():
    """A headless rig that boots before the server: start() keeps retrying in the
    background, and refused connections do not count as session starts (no 10 s stagger)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"
    engine = create(url=url, api_key=KEY, stagger=10.0, backoff_cap=0.2)
    await engine.apply(PROMPTS)
    await engine.apply(Control(Playback.PLAY))
    await engine.start()  # does not raise: it returns after the first failed attempt
    assert engine.status()["state"] == "reconnecting"
    assert "cannot connect" in engine.status()["last_error"]
    async with FaultServer(port=port) as server:
        t0 = time.monotonic()
        await take(engine, 3)
        elapsed = time.monotonic() - t0
        await engine.close()
    assert elapsed < 2.0
    assert replayed(server, 0)[:2] == ["setup", "clientContent"] and "PLAY" in replayed(server, 0)


@pytest.mark.parametrize(
    ("after", "speed", "healthy_after"),
    [(20, 1.0, 5.0), (60, 4.0, 1.0)],
    ids=["2 s after a session start", "mid-session"],
)
async def test_a_dropped_session_streams_again_within_a_second(
    after: int, speed: float, healthy_after: float
):
    """A TCP drop 2 s after a session start (streaming at real time), or mid-session (6 s
    of audio, streamed at 4x in 1.5 s by a session the engine counts as healthy after 1 s),
    with the default 10 s stagger: the next session is opened at once (not a stagger after
    the last start) and its audio arrives within 1 s of the drop."""
    async with FaultServer([Fault("drop", after=after)], speed=speed) as server:
        engine = await started(server, stagger=10.0, healthy_after=healthy_after)
        first_new: float | None = None
        async with asyncio.timeout(after / 10 / speed + 5):
            async for chunk in engine.chunks():
                if chunk.meta.get("connection") == 1:
                    first_new = time.monotonic()
                    break
        status = engine.status()
        await engine.close()
    dropped_at = server.connections[0].dropped_at
    assert dropped_at is not None and first_new is not None
    reconnect = server.connections[1].opened_at - dropped_at
    streaming_again = first_new - dropped_at
    print(f"reconnect {reconnect * 1000:.0f} ms, audio again {streaming_again * 1000:.0f} ms")
    assert reconnect < 0.5 and streaming_again < 1.0
    assert replayed(server, 1) == FULL_STATE
    assert status["reconnects"] == 1 and status["last_close_code"] == 1006
