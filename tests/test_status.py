"""The status API end to end: a real server on 127.0.0.1, real websocket and HTTP clients.

The "daemon" behind the server is made of real parts: a Performance that the control
messages change and whose snapshot the server streams.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from bridge.commands import status as status_command
from bridge.core.mapping import MappingSet
from bridge.core.performance import Performance
from bridge.core.types import Change, PerformanceSpec, SceneSpec, SlotSpec
from bridge.errors import BridgeError, ConfigError
from bridge.logs import register_secret
from bridge.status.server import StatusServer, check_target, parse_address, parse_control
from tests.fakekeys import fake_key
from tests.status_rig import StandIn

pytestmark = pytest.mark.anyio

SPEC = PerformanceSpec(
    slots=tuple(SlotSpec(f"prompt {n}", 1.0 if n == 1 else 0.0) for n in range(1, 17)),
    scenes=(SceneSpec("intro", weights={1: 0.0, 2: 1.5}), SceneSpec("drop", weights={3: 2.0})),
)
FAKE_KEY = fake_key("SyD-status-test-0123456789abcdefghij")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Rig(StandIn):
    """A daemon stand-in: a real Instrument, counters the page shows."""

    def __init__(self) -> None:
        super().__init__(MappingSet(performance=SPEC))
        self.engine: dict[str, Any] = {"engine": "synth", "state": "streaming", "reconnects": 0}
        self.fill = 1.5

    def snapshot(self) -> dict[str, Any]:
        return {
            "performance": self.perf.snapshot(),
            "engine": self.engine,
            "audio": {"fill_seconds": self.fill, "target_seconds": 2.0, "underruns": 0},
            "controllers": {"nanoKONTROL2": True},
            "process": {"cpu_percent": 1.0, "rss_mb": 50.0, "uptime": 3.0},
        }


@pytest.fixture
async def served() -> AsyncIterator[tuple[Rig, StatusServer]]:
    rig = Rig()
    server = StatusServer("127.0.0.1", 0, None, rig.snapshot, rig.control, heartbeat=0.3)
    rig.server = server
    await server.start()
    try:
        yield rig, server
    finally:
        await server.close()


async def open_ws(server: StatusServer, **kwargs: Any) -> ClientConnection:
    return await connect(f"ws://127.0.0.1:{server.port}/ws", **kwargs)


async def next_message(ws: ClientConnection, kind: str, timeout: float = 3.0) -> dict[str, Any]:
    """The next message of type ``kind`` (skipping others)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, left)))
        if message["type"] == kind:
            return message


async def snapshot_where(ws: ClientConnection, test: Any, timeout: float = 3.0) -> dict[str, Any]:
    """Wait for a snapshot that satisfies ``test``."""
    deadline = time.monotonic() + timeout
    while True:
        snap = (await next_message(ws, "snapshot", deadline - time.monotonic()))["data"]
        if test(snap):
            return snap


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        conn.close()


# --- the websocket ---------------------------------------------------------------------
async def test_a_client_gets_hello_then_the_current_snapshot(
    served: tuple[Rig, StatusServer],
) -> None:
    """On connect: a hello with the targets and config table, then the whole snapshot."""
    rig, server = served
    async with await open_ws(server) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and "slot.N.weight" in hello["targets"]
        assert hello["config_specs"]["bpm"] == {
            "kind": "int",
            "lo": 60,
            "hi": 200,
            "choices": [],
            "auto": True,
        }
        snap = await next_message(ws, "snapshot")
        assert snap["data"]["performance"] == rig.perf.snapshot()
        assert snap["data"]["controllers"] == {"nanoKONTROL2": True}


async def test_control_messages_reach_the_daemon_and_come_back_in_a_snapshot(
    served: tuple[Rig, StatusServer],
) -> None:
    """A phone moving slot 3 changes the Performance; the next snapshot shows it."""
    rig, server = served
    async with await open_ws(server) as ws:
        await next_message(ws, "snapshot")
        await ws.send(json.dumps({"type": "change", "target": "slot.3.weight", "value": 1.25}))
        await ws.send(json.dumps({"target": "scene.recall", "value": "drop", "glide": 0}))
        snap = await snapshot_where(ws, lambda s: s["performance"]["scene"] == "drop")
    assert rig.applied == [
        Change("slot.3.weight", 1.25, source="status"),
        Change("scene.recall", "drop", glide=0, source="status"),
    ]
    assert snap["performance"]["slots"][2]["weight"] == 2.0  # the scene set it after the move
    assert server.controls_received == 2


BAD_MESSAGES = [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": "dance"}', "unknown message type"),
    ('{"target": "slot.1.volume", "value": 1}', "unknown slot field"),
    ('{"target": 7, "value": 1}', "target must be a string"),
    ('{"target": "crossfader", "value": [1]}', "value must be"),
    ('{"target": "crossfader", "value": 1, "glide": "slow"}', "glide must be"),
    ('{"target": "crossfader", "value": 1, "glide": 9999}', "0..600"),
]


@pytest.mark.parametrize(("message", "error"), BAD_MESSAGES)
async def test_bad_messages_get_an_error_and_the_connection_stays(
    served: tuple[Rig, StatusServer], message: str, error: str
) -> None:
    """A malformed control message is answered with an error; nothing is applied."""
    rig, server = served
    async with await open_ws(server) as ws:
        await ws.send(message)
        reply = await next_message(ws, "error")
        assert error in reply["message"]
        await ws.send(json.dumps({"type": "snapshot"}))
        await next_message(ws, "snapshot")
    assert rig.applied == []


async def test_a_refused_value_is_reported_back(served: tuple[Rig, StatusServer]) -> None:
    """When the daemon refuses a Change (returns a reason), the client hears why."""
    _, server = served
    async with await open_ws(server) as ws:
        await ws.send(json.dumps({"target": "scene.recall", "value": "outro"}))
        reply = await next_message(ws, "error")
    assert reply["message"].startswith("scene.recall: no scene 'outro'")


async def test_snapshots_are_limited_to_about_ten_per_second(
    served: tuple[Rig, StatusServer],
) -> None:
    """200 changes in 1 s: at most ~11 snapshots, the last one shows the final value."""
    rig, server = served
    async with await open_ws(server) as ws:
        await next_message(ws, "snapshot")
        received: list[dict[str, Any]] = []

        async def reader() -> None:
            while True:
                received.append(await next_message(ws, "snapshot", timeout=10))

        task = asyncio.create_task(reader())
        start = time.monotonic()
        for i in range(200):
            rig.perf.apply(Change("slot.2.weight", i / 100), 0.0)
            server.notify()
            await asyncio.sleep(0.005)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.25)
        task.cancel()
    assert 3 <= len(received) <= elapsed * 10 + 2
    assert received[-1]["data"]["performance"]["slots"][1]["weight"] == 1.99


async def test_quiet_changes_arrive_with_the_heartbeat(served: tuple[Rig, StatusServer]) -> None:
    """Buffer fill changes without a notify(): the heartbeat still delivers it."""
    rig, server = served
    async with await open_ws(server) as ws:
        await next_message(ws, "snapshot")
        rig.fill = 0.25
        snap = await snapshot_where(ws, lambda s: s["audio"]["fill_seconds"] == 0.25, 2.0)
    assert snap["audio"]["fill_seconds"] == 0.25


async def test_every_client_gets_the_changes(served: tuple[Rig, StatusServer]) -> None:
    """Two pages open: a move from one shows up on the other."""
    _, server = served
    async with await open_ws(server) as a, await open_ws(server) as b:
        await next_message(a, "snapshot")
        await next_message(b, "snapshot")
        assert server.clients == 2
        await a.send(json.dumps({"target": "crossfader", "value": 0.9}))
        snap = await snapshot_where(b, lambda s: s["performance"]["crossfader"] == 0.9)
    assert snap["performance"]["crossfader"] == 0.9


async def test_secrets_never_leave_through_the_api(served: tuple[Rig, StatusServer]) -> None:
    """An API key that slipped into a snapshot is redacted on the websocket and over HTTP."""
    rig, server = served
    register_secret("hunter2-registered-secret")
    rig.engine = {
        "engine": "lyria",
        "last_error": f"closed: key={FAKE_KEY} hunter2-registered-secret",
    }
    async with await open_ws(server) as ws:
        await ws.recv()
        raw = await asyncio.wait_for(ws.recv(), 3)
    _, _, body = await asyncio.to_thread(http_get, server.port, "/snapshot.json")
    for text in (raw, body):
        assert FAKE_KEY not in text and "hunter2-registered-secret" not in text
        assert "***" in text


async def test_a_failing_snapshot_is_logged_once_and_recovers(
    served: tuple[Rig, StatusServer], caplog: pytest.LogCaptureFixture
) -> None:
    """A provider that raises: one logged error (not one per push), a 500 on
    /snapshot.json, and snapshots resume once it works again."""
    rig, server = served
    broken = True
    working = rig.snapshot

    def snapshot() -> dict[str, Any]:
        if broken:
            raise KeyError("engine")
        return working()

    server.snapshot = snapshot
    async with await open_ws(server) as ws:
        await ws.recv()
        for _ in range(5):
            server.notify()
            await asyncio.sleep(0.12)
        status, _, _ = await asyncio.to_thread(http_get, server.port, "/snapshot.json")
        assert status == 500
        assert caplog.text.count("status snapshot failed") == 1
        broken = False
        rig.perf.apply(Change("bank", 2), 0.0)
        server.notify()
        snap = await snapshot_where(ws, lambda s: s["performance"]["bank"] == 2)
    assert snap["performance"]["bank"] == 2


# --- HTTP ---------------------------------------------------------------------------------
async def test_the_page_is_served_self_contained(served: tuple[Rig, StatusServer]) -> None:
    """GET / returns the HTML page, with no external asset and a strict CSP."""
    _, server = served
    status, headers, body = await asyncio.to_thread(http_get, server.port, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>PromptBridge</title>" in body
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", body)
    assert "@import" not in body and "url(http" not in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]


async def test_snapshot_json_and_unknown_paths(served: tuple[Rig, StatusServer]) -> None:
    """/snapshot.json gives the snapshot once; anything else is a 404."""
    rig, server = served
    status, headers, body = await asyncio.to_thread(http_get, server.port, "/snapshot.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["performance"] == rig.perf.snapshot()
    status, _, _ = await asyncio.to_thread(http_get, server.port, "/etc/passwd")
    assert status == 404


async def test_cross_origin_websockets_are_refused(served: tuple[Rig, StatusServer]) -> None:
    """Another web page in the performer's browser cannot drive the rig."""
    _, server = served
    with pytest.raises(InvalidStatus) as caught:
        await open_ws(server, origin="http://evil.example")  # type: ignore[arg-type]
    assert caught.value.response.status_code == 403
    async with await open_ws(server, origin=f"http://127.0.0.1:{server.port}") as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "hello"


async def test_without_a_token_only_loopback_host_names_are_answered(
    served: tuple[Rig, StatusServer],
) -> None:
    """A Host header naming another machine (DNS rebinding) is refused."""
    _, server = served
    status, _, body = await asyncio.to_thread(
        http_get, server.port, "/", {"Host": f"attacker.example:{server.port}"}
    )
    assert status == 403 and "localhost" in body
    status, _, _ = await asyncio.to_thread(http_get, server.port, "/", {"Host": "localhost"})
    assert status == 200


# --- tokens -----------------------------------------------------------------------------
@pytest.fixture
async def guarded() -> AsyncIterator[tuple[Rig, StatusServer]]:
    rig = Rig()
    server = StatusServer("127.0.0.1", 0, "s3cret token", rig.snapshot, rig.control)
    rig.server = server
    await server.start()
    try:
        yield rig, server
    finally:
        await server.close()


async def test_a_token_is_required_when_set(guarded: tuple[Rig, StatusServer]) -> None:
    """With a token: no token or a wrong one is 401; a bearer header works."""
    _, server = guarded
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(InvalidStatus) as caught:
            await open_ws(server, additional_headers=headers)
        assert caught.value.response.status_code == 401
    async with await open_ws(
        server, additional_headers={"Authorization": "Bearer s3cret token"}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
    status, _, _ = await asyncio.to_thread(http_get, server.port, "/")
    assert status == 401


async def test_the_page_moves_the_token_into_a_cookie(guarded: tuple[Rig, StatusServer]) -> None:
    """/?token=T redirects to / with an HttpOnly cookie, which then opens page and websocket."""
    _, server = guarded
    status, headers, _ = await asyncio.to_thread(http_get, server.port, "/?token=s3cret%20token")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = cookie.split(";")[0]
    status, _, body = await asyncio.to_thread(http_get, server.port, "/", {"Cookie": jar})
    assert status == 200 and "<title>PromptBridge</title>" in body
    async with await open_ws(server, additional_headers={"Cookie": jar}) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"


async def test_binding_off_loopback_needs_a_token() -> None:
    """0.0.0.0 without a token is refused with a clear error; with one it serves."""
    rig = Rig()
    server = StatusServer("0.0.0.0", 0, None, rig.snapshot, rig.control)
    with pytest.raises(ConfigError, match="needs a token"):
        await server.start()
    server = StatusServer("0.0.0.0", 0, "tok", rig.snapshot, rig.control)
    rig.server = server
    await server.start()
    try:
        async with await open_ws(server, additional_headers={"Authorization": "Bearer tok"}) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
    finally:
        await server.close()


async def test_a_busy_port_is_one_clear_error(served: tuple[Rig, StatusServer]) -> None:
    """Starting on a port in use raises a BridgeError naming the address."""
    rig, server = served
    second = StatusServer("127.0.0.1", server.port, None, rig.snapshot, rig.control)
    with pytest.raises(BridgeError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        await second.start()


async def test_close_ends_client_connections(served: tuple[Rig, StatusServer]) -> None:
    """close() closes open websockets (going away) and stops listening."""
    _, server = served
    ws = await open_ws(server)
    await ws.recv()
    port = server.port
    await server.close()
    await asyncio.wait_for(ws.wait_closed(), 3)
    assert ws.close_code == 1001
    with pytest.raises(OSError):
        await open_ws(StatusServer("127.0.0.1", port, None, dict, print))


async def test_close_is_prompt_with_an_idle_connection(served: tuple[Rig, StatusServer]) -> None:
    """A socket that never sends a request (browsers pre-connect) does not delay close()."""
    _, server = served
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await asyncio.sleep(0.1)
    start = time.monotonic()
    await server.close()
    assert time.monotonic() - start < 1.0
    writer.close()


# --- the status command ------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    status_command.add_arguments(parser)
    return parser.parse_args(argv)


async def test_status_command_prints_the_snapshot_and_applies_changes(
    served: tuple[Rig, StatusServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """``promptbridge status --set ...`` applies the change and prints the slots and health."""
    rig, server = served
    args = _args(
        "--status",
        f"127.0.0.1:{server.port}",
        "--set",
        "slot.2.weight=1.5",
        "--set",
        "playback=play",
    )
    assert await asyncio.to_thread(status_command.run, args) == 0
    out = capsys.readouterr().out
    assert rig.perf.get("slot.2.weight") == 1.5 and rig.perf.playing
    assert "PromptBridge: playing" in out
    assert re.search(r"^\s+2 prompt 2\s+[█·]+ 1\.50 → 1\.50$", out, re.MULTILINE)
    assert "midi     nanoKONTROL2 connected" in out


async def test_status_command_json_output(
    served: tuple[Rig, StatusServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` prints the snapshot as JSON."""
    rig, server = served
    args = _args("--status", f"127.0.0.1:{server.port}", "--json")
    assert await asyncio.to_thread(status_command.run, args) == 0
    assert json.loads(capsys.readouterr().out)["performance"] == rig.perf.snapshot()


async def test_status_command_uses_the_token_from_the_environment(
    guarded: tuple[Rig, StatusServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a token the command fails in one line; with PROMPTBRIDGE_STATUS_TOKEN it works."""
    _, server = guarded
    args = _args("--status", f"127.0.0.1:{server.port}")
    with pytest.raises(BridgeError, match=r"HTTP 401.*token is needed"):
        await asyncio.to_thread(status_command.run, args)
    monkeypatch.setenv("PROMPTBRIDGE_STATUS_TOKEN", "s3cret token")
    assert await asyncio.to_thread(status_command.run, args) == 0
    assert "slots" in capsys.readouterr().out


async def test_status_command_watch_follows_changes_until_the_daemon_goes(
    served: tuple[Rig, StatusServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--watch --json`` prints a line per snapshot; when the daemon stops, one clear error."""
    rig, server = served
    args = _args("--status", f"127.0.0.1:{server.port}", "--watch", "--json")
    watcher = asyncio.create_task(asyncio.to_thread(status_command.run, args))
    await asyncio.sleep(0.5)
    rig.perf.apply(Change("crossfader", 0.125), 0.0)
    server.notify()
    await asyncio.sleep(0.5)
    await server.close()
    with pytest.raises(BridgeError, match="closed the connection"):
        await asyncio.wait_for(watcher, 5)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["performance"]["crossfader"] == 0.5
    assert lines[-1]["performance"]["crossfader"] == 0.125


async def test_status_command_without_a_daemon_is_one_clear_error() -> None:
    """Nobody listening: a BridgeError that says how to start the daemon."""
    server = StatusServer("127.0.0.1", 0, None, dict, print)
    await server.start()
    port = server.port
    await server.close()
    with pytest.raises(BridgeError, match=f"no daemon answering on 127.0.0.1:{port}"):
        await asyncio.to_thread(
            status_command.run, _args("--status", f"127.0.0.1:{port}", "--timeout", "2")
        )


# --- pure helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8780", ("127.0.0.1", 8780)),
        (":9000", ("127.0.0.1", 9000)),
        ("9000", ("127.0.0.1", 9000)),
        ("[::1]:8780", ("::1", 8780)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    """HOST:PORT forms; a missing host means loopback."""
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["host:", "host:http", "1.2.3.4:70000", "", "h:²"])
def test_parse_address_rejects_bad_ports(text: str) -> None:
    """A bad port is a ValueError naming the allowed range."""
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        parse_address(text)


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        ("slot.16.weight", True),
        ("slot.1.text", True),
        ("config.bpm", True),
        ("scene.recall", True),
        ("slot.0.weight", False),
        ("config.volume", False),
        ("rm -rf", False),
    ],
)
def test_check_target(target: str, ok: bool) -> None:
    """Only the mapping targets of bridge.core.types are accepted."""
    assert (check_target(target) is None) is ok


async def test_a_snapshot_request_is_answered_after_the_changes_before_it(
    served: tuple[Rig, StatusServer],
) -> None:
    """{"type": "snapshot", "id": N} is answered with id N and shows earlier changes."""
    _, server = served
    async with await open_ws(server) as ws:
        for i in range(20):
            await ws.send(json.dumps({"target": "slot.2.weight", "value": i / 10}))
        await ws.send(json.dumps({"type": "snapshot", "id": 7}))
        while True:
            reply = await next_message(ws, "snapshot")
            if reply.get("id") == 7:
                break
    assert reply["data"]["performance"]["slots"][1]["weight"] == 1.9


def test_parse_control_builds_a_status_change() -> None:
    """A change message becomes a Change with source "status"."""
    assert parse_control('{"target": "config.bpm", "value": null, "glide": 2}') == Change(
        "config.bpm", None, glide=2, source="status"
    )


def test_parse_change_for_the_command() -> None:
    """--set values are JSON when they parse, else text; a missing '=' is an error."""
    assert status_command.parse_change("slot.1.weight=1.5").value == 1.5
    assert status_command.parse_change("config.bpm=null").value is None
    assert status_command.parse_change("slot.1.text=dark techno").value == "dark techno"
    with pytest.raises(ConfigError, match="TARGET=VALUE"):
        status_command.parse_change("slot.1.weight")


def test_render_marks_filtered_prompts_and_missing_controllers() -> None:
    """The terminal summary flags what needs the performer's attention."""
    perf = Performance(SPEC)
    perf.mark_filtered("prompt 1")
    text = status_command.render(
        {
            "performance": perf.snapshot(),
            "controllers": {"MIDImix": False},
            "engine": {"engine": "lyria", "filtered_prompts": [{"text": "x", "reason": "artist"}]},
        }
    )
    assert re.search(r"^\s+1 prompt 1 .*FILTERED$", text, re.MULTILINE)
    assert "MIDImix MISSING" in text and "filtered 'x': artist" in text


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("slot.3.weight=abc", "weight must be a number"),
        ("playback=plya", "playback must be one of"),
        ("master_volume=NaN", "master_volume must be a number"),
    ],
)
async def test_status_set_reports_a_refusal_and_exits_non_zero(
    served: tuple[Rig, StatusServer], setting: str, message: str
) -> None:
    """A change the performance refuses is an error reply; ``status --set`` fails with it."""
    rig, server = served
    before = rig.perf.snapshot()
    args = _args("--status", f"127.0.0.1:{server.port}", "--set", setting)
    with pytest.raises(BridgeError, match=f"refused: .*{message}"):
        await asyncio.to_thread(status_command.run, args)
    assert rig.perf.snapshot() == before


async def test_status_set_says_when_a_value_was_clamped(
    served: tuple[Rig, StatusServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """``config.bpm=500`` is applied as 200 and the command says so (not silently)."""
    rig, server = served
    args = _args("--status", f"127.0.0.1:{server.port}", "--set", "config.bpm=500")
    assert await asyncio.to_thread(status_command.run, args) == 0
    assert rig.perf.config.bpm == 200
    assert "config.bpm: 500 is outside 60..200, set to 200" in capsys.readouterr().err
