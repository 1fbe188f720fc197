"""The whole daemon against a misbehaving Lyria-protocol server: it heals, nothing is lost.

Each test starts the real ``promptbridge run --engine lyria`` as a child process pointed
at a ``FaultServer`` on loopback (run in a thread of the test process), drives it through
its status API, and checks what the server received (every client frame is recorded) and
what the daemon reports. The engine-level fault tests live in ``test_lyria_faults.py``;
these go through MIDI-less, sound-card-less daemons (``--output none`` consumes at real
time, so underruns are real). Network, process and file I/O.

The engine reconnects at once after an unplanned close (the 10 s stagger between session
starts applies to planned rotations only), but a set through several outages still takes
a while: the tests are marked slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from bridge.core.types import Change
from tests.daemon_helpers import Daemon, free_port, status, wait_status
from tests.faultserver import GARBAGE, Connection, Fault, FaultServer, audio_frame

pytestmark = pytest.mark.slow

NO_JACK = {"JACK_NO_START_SERVER": "1", "JACK_DEFAULT_SERVER": "pb-no-such-server"}
PERFORMANCE = """\
use = "generic"

[[slots]]
text = "minimal techno"
weight = 1.0

[[slots]]
text = "dub chords"
weight = 0.5

[[scenes]]
name = "intro"
weights = { 1 = 1.0, 2 = 0.0 }

[[scenes]]
name = "drop"
weights = { 1 = 1.3, 2 = 1.0 }
"""


# --- a scripted fault server, served from a thread --------------------------------------
@dataclass
class Step:
    """One misbehaviour at the ``after``-th audio chunk of a connection."""

    action: str  # drop_mid_frame | close | junk | stall | oversized
    after: int
    code: int = 1011
    seconds: float = 10.0


class ScriptedServer(FaultServer):
    """A FaultServer whose connections may misbehave several times, in order."""

    def __init__(self, script: dict[int, list[Step]] | None = None, **kw: Any) -> None:
        super().__init__(
            [Fault("no_setup") if "no_setup" in _names(s) else Fault() for s in _steps(script)],
            **kw,
        )
        self.script = script or {}

    async def _stream(
        self, ws: ServerConnection, conn: Connection, fault: Fault, state: dict[str, bool]
    ) -> None:
        steps = sorted(self.script.get(conn.index, []), key=lambda s: s.after)
        freq = self.base_freq * (1 + conn.index / 4)
        phase = 0.0
        while True:
            if not (state["playing"] and state["prompts"]):
                if ws.close_code is not None:
                    return
                await asyncio.sleep(0.01)
                continue
            while steps and conn.chunks_sent >= steps[0].after:
                if await self._step(ws, steps.pop(0)):
                    return
            samples, phase = self._sine(freq, phase)
            await ws.send(audio_frame(samples))
            conn.chunks_sent += 1
            await asyncio.sleep(self.chunk_frames / 48_000 / self.speed)

    async def _step(self, ws: ServerConnection, step: Step) -> bool:
        """Misbehave once; True when the connection is over."""
        if step.action == "drop_mid_frame":
            # a frame header announcing 64 KiB, half of it, then the TCP connection dies
            ws.transport.write(struct.pack("!BBQ", 0x82, 127, 65536) + b"\0" * 32768)
            ws.transport.abort()
            return True
        if step.action == "close":
            await ws.close(step.code, "The service is currently unavailable.")
            return True
        if step.action == "junk":  # not JSON, binary, bad base64, torn, unknown, truncated
            for frame in GARBAGE:
                await ws.send(frame)
            return False
        if step.action == "stall":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), step.seconds)
            return ws.close_code is not None
        if step.action == "oversized":  # over the client's 16 MiB frame limit
            await ws.send(b"{" + b" " * (17 * 2**20) + b"}")
            await ws.wait_closed()
            return True
        raise ValueError(step.action)


def _steps(script: dict[int, list[Step]] | None) -> list[list[Step]]:
    script = script or {}
    return [script.get(i, []) for i in range(max(script, default=-1) + 1)]


def _names(steps: list[Step]) -> set[str]:
    return {s.action for s in steps}


class Served:
    """A FaultServer running on its own event loop in a thread (the test itself blocks)."""

    def __init__(self, server: FaultServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(5)
        return self.server

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.server.__aexit__(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@contextlib.contextmanager
def serving(server: FaultServer) -> Iterator[FaultServer]:
    with Served(server) as running:
        yield running


@dataclass
class Rig:
    """A daemon on loopback: its status port, its files, the process."""

    tmp: Path
    url: str
    port: int = field(default_factory=free_port)
    daemon: Daemon | None = None

    def args(self, *extra: str) -> list[str]:
        (self.tmp / "set.toml").write_text(PERFORMANCE)
        return [
            "run",
            "--engine",
            "lyria",
            "--url",
            self.url,
            "--mapping",
            str(self.tmp / "set.toml"),
            "--output",
            "none",
            "--latency",
            "low",
            "--midi-api",
            "jack",
            "--no-virtual-port",
            "--autoplay",
            "--state-file",
            str(self.tmp / "state.json"),
            "--status",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "info",
            *extra,
        ]

    def start(self, *extra: str) -> Daemon:
        self.daemon = Daemon(self.args(*extra), env=NO_JACK)
        return self.daemon

    def change(self, target: str, value: Any, glide: float | None = None) -> dict[str, Any]:
        return status(self.port, [Change(target, value, glide=glide, source="test")])


# --- what the server saw ----------------------------------------------------------------
def frames_of(conn: Connection, key: str) -> list[Any]:
    return [f[key] for f in list(conn.frames) if key in f]


def wire_prompts(conn: Connection) -> dict[str, float]:
    """The last prompt set a connection received, as {text: weight}."""
    sets = frames_of(conn, "clientContent")
    assert sets, f"connection {conn.index} got no prompts: {conn.kinds()}"
    return {p["text"]: p["weight"] for p in sets[-1]["weightedPrompts"]}


def expected_prompts(snap: dict[str, Any]) -> dict[str, float]:
    """What the daemon says the model should hear: every slot with an effective weight."""
    slots = snap["performance"]["slots"]
    return {s["text"]: s["effective"] for s in slots if s["effective"] > 0}


def assert_replayed(conn: Connection, snap: dict[str, Any]) -> None:
    """A (re)connection starts with setup, then the current prompts, config and PLAY."""
    kinds = conn.kinds()
    assert kinds[0] == "setup", kinds
    assert set(kinds[1:4]) == {"clientContent", "musicGenerationConfig", "PLAY"}, kinds
    first_prompts = frames_of(conn, "clientContent")[0]["weightedPrompts"]
    assert {p["text"]: p["weight"] for p in first_prompts} == expected_prompts(snap)


def weights(snap: dict[str, Any]) -> list[float]:
    """The knob weights of slots 1 and 2 (before the crossfader's gain)."""
    return [s["weight"] for s in snap["performance"]["slots"][:2]]


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def engine(snap: dict[str, Any]) -> dict[str, Any]:
    return dict(snap["engine"])


def assert_clean_exit(daemon: Daemon) -> None:
    daemon.signal(signal.SIGTERM)
    code = daemon.proc.wait(timeout=10)
    log = daemon.log()
    assert code == 0, log
    assert "Traceback" not in log, log


# --- the tests ----------------------------------------------------------------------------
def test_drop_mid_frame_1011_junk_stall_and_oversized_frames_heal(tmp_path: Path) -> None:
    """One set through five server faults: a TCP drop in the middle of a frame, a close
    with 1011, a burst of junk frames (not JSON, binary, bad base64, unknown keys, torn
    and truncated), a 10 s stall, then a frame over the 16 MiB limit. The daemon never
    stops; every new session gets setup and then the *current* prompts (changed through
    the status API during an outage), config and PLAY; bad frames are counted; underruns
    stay at most one per outage and stop once audio flows again."""
    script = {
        0: [Step("drop_mid_frame", after=6)],
        1: [Step("close", after=6, code=1011)],
        2: [
            Step("junk", after=4),
            Step("stall", after=8, seconds=10.0),
            Step("oversized", after=14),
        ],
    }
    with serving(ScriptedServer(script, speed=4.0)) as server:
        rig = Rig(tmp_path, server.url)
        daemon = rig.start()
        try:
            daemon.wait_for("audio flowing", timeout=30)
            wait_until(lambda: len(server.connections) >= 2, 20, "the reconnect after the drop")
            # during or right after the outage, the performer moves things
            rig.change("slot.2.weight", 1.5)
            rig.change("config.density", 0.25)
            wait_until(lambda: len(server.connections) >= 3, 20, "the reconnect after 1011")
            snap = status(rig.port)
            assert_replayed(server.connections[2], snap)
            assert frames_of(server.connections[2], "musicGenerationConfig")[0]["density"] == 0.25
            assert weights(snap) == [1.0, 1.5]
            assert wire_prompts(server.connections[2]) == expected_prompts(snap)

            wait_until(lambda: len(server.connections) >= 4, 40, "the reconnect after 1009")
            snap = wait_status(rig.port, lambda s: engine(s)["state"] == "streaming", 15)
            assert_replayed(server.connections[3], snap)
            eng = engine(snap)
            assert eng["sessions"] == 4 and eng["reconnects"] >= 3, eng
            assert eng["bad_frames"] >= 6, eng

            # recovered: audio flows at real time again and no new underrun appears
            time.sleep(2.0)
            first = status(rig.port)["audio"]
            time.sleep(2.0)
            later = status(rig.port)["audio"]
            assert later["played_seconds"] - first["played_seconds"] > 1.8
            assert later["underruns"] == first["underruns"], (first, later)
            assert 1 <= later["underruns"] <= 4, later  # at most one per outage
            assert later["fill_seconds"] >= later["target_seconds"] / 2, later  # queued again
            assert daemon.proc.poll() is None
            log = daemon.log()
            assert "dropped a bad frame" in log
            assert_clean_exit(daemon)
        finally:
            daemon.stop()


def test_server_that_never_answers_setup_then_recovers_with_the_state(tmp_path: Path) -> None:
    """The first session never gets setupComplete: the daemon's status API answers and
    obeys while it waits 10 s, then it retries; the next session gets the whole current
    state, including a scene recalled meanwhile, and streams."""
    with serving(ScriptedServer({0: [Step("no_setup", after=0)]})) as server:
        rig = Rig(tmp_path, server.url)
        daemon = rig.start()
        try:
            wait_until(lambda: len(server.connections) >= 1, 20, "the first connection")
            # the status API answers (and obeys) while the engine waits for setupComplete
            snap = wait_status(rig.port, lambda s: engine(s)["state"] == "connecting", 5)
            assert engine(snap)["sessions"] == 0
            rig.change("scene.recall", "drop", glide=0)
            wait_until(lambda: len(server.connections) >= 2, 30, "the retry after setup")
            daemon.wait_for("audio flowing", timeout=15)
            snap = wait_status(rig.port, lambda s: engine(s)["state"] == "streaming", 10)
            assert snap["performance"]["scene"] == "drop"
            assert_replayed(server.connections[1], snap)
            assert weights(snap) == [1.3, 1.0]
            assert wire_prompts(server.connections[1]) == expected_prompts(snap)
            assert "no setupComplete within 10 s" in daemon.log()  # one clear line
            assert_clean_exit(daemon)
        finally:
            daemon.stop()


def test_status_api_slot_move_reaches_the_model_as_a_prompt_frame(tmp_path: Path) -> None:
    """A slot moved through the status websocket API arrives at the Lyria-protocol server
    as a clientContent frame with the new weight, within a second."""
    with serving(FaultServer()) as server:
        rig = Rig(tmp_path, server.url)
        daemon = rig.start()
        try:
            daemon.wait_for("audio flowing", timeout=30)
            conn = server.connections[0]
            before = len(frames_of(conn, "clientContent"))
            sent = time.monotonic()
            rig.change("slot.2.weight", 0.75)
            wait_until(lambda: len(frames_of(conn, "clientContent")) > before, 5, "the prompts")
            assert time.monotonic() - sent < 1.0
            snap = status(rig.port)
            assert weights(snap) == [1.0, 0.75]
            assert wire_prompts(conn) == expected_prompts(snap)
            rig.change("slot.1.text", "deep dub techno")
            wait_until(lambda: "deep dub techno" in wire_prompts(conn), 5, "the new text")
            assert_clean_exit(daemon)
        finally:
            daemon.stop()


def test_sigkill_then_restart_restores_prompts_config_and_scene(tmp_path: Path) -> None:
    """SIGKILL a daemon a second after the performer changed slots, config and scene: the
    next daemon restores them from the state file and sends them, first thing, to the
    model."""
    with serving(FaultServer()) as server:
        rig = Rig(tmp_path, server.url)
        daemon = rig.start()
        try:
            daemon.wait_for("audio flowing", timeout=30)
            rig.change("scene.recall", "drop", glide=0)
            rig.change("config.bpm", 128)
            rig.change("config.brightness", 0.8)
            rig.change("slot.2.text", "rolling dub chords")
            before = wait_status(
                rig.port, lambda s: s["performance"]["config"]["bpm"] == 128, timeout=5
            )
            wait_until(lambda: _saved_bpm(tmp_path) == 128, 5, "the state file")
            daemon.signal(signal.SIGKILL)
            daemon.proc.wait(timeout=5)
        finally:
            daemon.stop()
        count = len(server.connections)
        again = rig.start()
        try:
            line = again.wait_for("restored from", timeout=20)
            # one line saying what came back and from where
            for said in ("state.json", "playing", "2 slots up", "bpm 128", "scene 'drop'"):
                assert said in line, line
            again.wait_for("audio flowing", timeout=30)
            after = status(rig.port)["performance"]
            for key in ("slots", "config", "scene", "playback"):
                assert after[key] == before["performance"][key], key
            conn = server.connections[count]
            assert_replayed(conn, status(rig.port))
            config = frames_of(conn, "musicGenerationConfig")[0]
            assert config["bpm"] == 128 and config["brightness"] == 0.8
            assert weights(status(rig.port)) == [1.3, 1.0]
            assert set(wire_prompts(conn)) == {"minimal techno", "rolling dub chords"}
            assert_clean_exit(again)
        finally:
            again.stop()


def _saved_bpm(tmp: Path) -> Any:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((tmp / "state.json").read_text())["config"]["bpm"]
    return None
