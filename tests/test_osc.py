"""OSC: the address map (pure), then the real UDP server on loopback driven by a real
python-osc client, in front of a real Instrument (the daemon's own core)."""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket
from pythonosc.udp_client import SimpleUDPClient

from bridge.config import load_mapping, mappings_dir
from bridge.core import oscmap
from bridge.core.types import Change
from bridge.errors import ConfigError
from bridge.io.osc import OscServer
from tests.status_rig import StandIn

pytestmark = pytest.mark.anyio
SET = mappings_dir() / "examples" / "space_set.toml"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the address map (pure) -------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "args", "expected"),
    [
        ("/slot/3/weight", [0.5], [("slot.3.weight", 0.5)]),
        ("/config/bpm", [124], [("config.bpm", 124)]),
        ("/space/x", [0.3], [("space.x", 0.3)]),
        ("/space/xy", [0.1, 0.9], [("space.x", 0.1), ("space.y", 0.9)]),
        ("/scene/recall", [2], [("scene.recall", 2)]),
        ("/scene/recall/2", [1.0], [("scene.recall", 2)]),
        ("/playback", ["play"], [("playback", "play")]),
        ("/playback/play", [], [("playback", "play")]),
        ("/config/scale/D_MAJOR_B_MINOR", [1], [("config.scale", "D_MAJOR_B_MINOR")]),
        ("/tap_tempo", [1.0], [("tap_tempo", True)]),
    ],
)
def test_addresses_are_targets_with_slashes(address: str, args: list[Any], expected: Any) -> None:
    parsed = oscmap.parse(address, args)
    assert isinstance(parsed, list)
    assert [(c.target, c.value) for c in parsed] == expected


@pytest.mark.parametrize(
    ("address", "args", "reason"),
    [
        ("/volume", [0.5], "unknown address /volume"),
        ("/slot/x/weight", [0.5], "unknown address"),
        ("/slot/1/weight", [], "takes one value (got 0 arguments)"),
        ("/slot/1/weight", [0.1, 0.2], "takes one value (got 2 arguments)"),
        ("/slot/1/weight", [b"\x00\x01"], "arguments must be numbers, strings"),
        ("/space/xy", [0.5], "takes 2 numbers"),
        ("/register", ["nine"], "takes a port number"),
        ("no/slash", [1], "bad address"),
    ],
)
def test_bad_messages_say_why(address: str, args: list[Any], reason: str) -> None:
    parsed = oscmap.parse(address, args)
    assert isinstance(parsed, oscmap.BadMessage)
    assert reason in parsed.reason


def test_a_button_release_is_ignored_and_session_messages_parse() -> None:
    assert oscmap.parse("/playback/play", [0.0]) == oscmap.Ignore()
    assert oscmap.parse("/register", [9001]) == oscmap.Register(9001)
    assert oscmap.parse("/register", []) == oscmap.Register(None)
    assert oscmap.parse("/sync", []) == oscmap.Sync()


def test_a_listener_is_not_echoed_its_own_move_but_is_corrected() -> None:
    listener = oscmap.Listener("127.0.0.1", 9000)
    values = {"/slot/1/weight": (0.3,), "/slot/2/weight": (1.0,)}
    assert listener.due(values) == list(values.items())  # first: everything
    listener.heard("/slot/1/weight", [0.30000001192092896])  # float32 of its own 0.3
    assert listener.due({**values, "/slot/1/weight": (0.3,)}) == []
    listener.heard("/slot/2/weight", [3.0])  # clamped by the performance to 2.0
    assert listener.due({**values, "/slot/2/weight": (2.0,)}) == [("/slot/2/weight", (2.0,))]


def test_the_reply_budget_limits_error_replies() -> None:
    budget = oscmap.Budget(rate=10, burst=10, tokens=10, last=0.0)
    assert sum(budget.take(0.0) for _ in range(100)) == 10
    assert budget.take(0.5) and budget.dropped == 90


# --- the server on loopback ---------------------------------------------------------------
class Rig(StandIn):
    """An OscServer in front of a real Instrument, as the daemon wires it."""

    server: OscServer

    def __init__(self) -> None:
        super().__init__(load_mapping([SET]))
        self.server = OscServer("127.0.0.1", 0, self.snapshot, self.control, push_interval=0.01)
        self.surfaces: list[Surface] = []

    def surface(self) -> Surface:
        self.surfaces.append(Surface(self.server.port))
        return self.surfaces[-1]

    def weight(self, number: int) -> float:
        return self.instrument.perf.slots[number - 1].weight


class Surface:
    """A surface on loopback: python-osc messages out of, and replies into, one socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.server = ("127.0.0.1", port)

    def send(self, address: str, *args: Any) -> None:
        """python-osc builds the message; sent from the socket replies come back to."""
        builder = OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        self.sock.sendto(builder.build().dgram, self.server)

    def raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    async def receive(self, until: Any = None, timeout: float = 2.0) -> list[tuple[str, list[Any]]]:
        """Messages received until ``until(messages)`` holds (or ``timeout``)."""
        got: list[tuple[str, list[Any]]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                if until is not None and until(got):
                    return got
                await asyncio.sleep(0.005)
                continue
            got += [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
        return got


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = Rig()
    await rig.server.start()
    try:
        yield rig
    finally:
        await rig.server.close()
        for surface in rig.surfaces:
            surface.sock.close()


def errors(messages: list[tuple[str, list[Any]]]) -> list[str]:
    return [args[0] for address, args in messages if address == "/error"]


async def test_valid_ill_typed_and_unknown_messages(rig: Rig) -> None:
    """A valid move applies; a bad value, a blob and an unknown address get an /error each;
    an out-of-range value is applied clamped and said with /notice."""
    surface = rig.surface()
    surface.send("/space/xy", 0.1, 0.9)  # onto the ambient point
    surface.send("/slot/1/weight", "loud")
    surface.send("/slot/1/weight", b"\x00\x01")
    surface.send("/volume", 0.5)
    surface.send("/space/x", 7.0)
    got = await surface.receive(until=lambda m: len(m) >= 4)
    assert errors(got) == [
        "slot.1.weight: weight must be a number in 0..2",
        "/slot/1/weight: arguments must be numbers, strings, booleans or nil",
        "unknown address /volume (addresses are targets with slashes: /slot/1/weight, "
        "/config/bpm, /space/x, /playback)",
    ]
    assert ("/notice", ["space.x: 7 is outside 0..1, set to 1"]) in got
    assert rig.instrument.perf.position == [1.0, pytest.approx(0.9)]  # OSC floats: float32


async def test_a_future_bundle_applies_at_once(rig: Rig) -> None:
    """python-osc's dispatcher would sleep on the loop for a timestamped bundle: not here."""
    surface = rig.surface()
    bundle = OscBundleBuilder(time.time() + 30)
    message = OscMessageBuilder("/config/bpm")
    message.add_arg(124)
    bundle.add_content(message.build())
    started = time.monotonic()
    surface.raw(bundle.build().dgram)
    for _ in range(100):
        if rig.instrument.perf.config.bpm == 124:
            break
        await asyncio.sleep(0.01)
    assert rig.instrument.perf.config.bpm == 124
    assert time.monotonic() - started < 1.0


async def until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return bool(predicate())


async def test_a_flood_of_ten_thousand_messages_and_random_bytes(rig: Rig) -> None:
    """10,000 moves in bursts of 100 (a burst is what a socket buffer holds; UDP drops the
    rest of a longer one, by design) are every one applied, fast; then 500 random datagrams:
    no crash, error replies rate limited, and the server still follows the surface."""
    surface = rig.surface()
    counters = rig.server.counters
    started = time.monotonic()
    for burst in range(100):
        for i in range(100):
            surface.send("/slot/9/weight", (burst * 100 + i) % 200 / 100)
        assert await until(lambda n=burst: counters["messages"] >= (n + 1) * 100)
    assert counters["messages"] == counters["changes"] == 10_000
    assert time.monotonic() - started < 20.0  # thousands a second on a loaded 2-core box
    assert rig.weight(9) == pytest.approx(1.99)  # OSC floats are float32
    rng = random.Random(15)
    junk_started = time.monotonic()
    for _ in range(500):
        surface.raw(rng.randbytes(rng.randint(0, 200)))
        await asyncio.sleep(0)
    got = await surface.receive(timeout=0.3)
    # the budget: 20 at once, then 20 a second (a loaded machine takes longer to send)
    budget = 20 + 20 * math.ceil(time.monotonic() - junk_started)
    assert 1 <= len(errors(got)) <= budget
    surface.send("/slot/9/weight", 1.25)
    assert await until(lambda: rig.weight(9) == 1.25)


async def test_feedback_reaches_a_registered_client_without_echo(rig: Rig) -> None:
    """A registered surface gets the whole state, then only changes: another input's move,
    the weights its own space move caused, but never its own value back."""
    surface = rig.surface()
    surface.send("/register")
    got = await surface.receive(until=lambda m: any(a == "/space/xy" for a, _ in m))
    state = dict((a, v) for a, v in got)
    assert state["/registered"] == [surface.port]
    assert state["/slot/1/weight"] == [1.0] and state["/space/xy"] == [0.75, 0.75]
    assert state["/slot/1/text"] == ["Deep house groove with warm analog bass"]

    rig.control(Change("config.bpm", 128, source="midi"))  # another input
    got = await surface.receive(until=lambda m: m)
    assert got == [("/config/bpm", [128.0])]

    surface.send("/space/x", 0.95)  # its own move: the weights follow, the x does not echo
    surface.send("/space/y", 0.95)
    got = await surface.receive(until=lambda m: any(a == "/slot/6/weight" for a, _ in m))
    addresses = [a for a, _ in got]
    assert ("/slot/6/weight", [1.0]) in got
    assert "/space/x" not in addresses and "/space/y" not in addresses
    assert ("/space/xy", [pytest.approx(0.95), pytest.approx(0.95)]) in got


async def test_rig_clients_get_feedback_and_unregister_stops_it() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(2.0)
    port = listener.getsockname()[1]
    rig = Rig()
    rig.server = OscServer("127.0.0.1", 0, rig.snapshot, rig.control, clients=[f"127.0.0.1:{port}"])
    await rig.server.start()
    try:
        data = await asyncio.to_thread(listener.recv, 65536)
        assert OscPacket(data).messages
        assert len(rig.server.listeners) == 1
        with SimpleUDPClient("127.0.0.1", rig.server.port) as client:
            client.send_message("/unregister", port)
        await asyncio.sleep(0.1)
        assert rig.server.listeners == {}
    finally:
        await rig.server.close()
        listener.close()


async def test_off_loopback_needs_an_allow_list() -> None:
    rig = Rig()
    server = OscServer("0.0.0.0", 0, rig.snapshot, rig.control)
    with pytest.raises(ConfigError, match="needs an allow-list"):
        await server.start()
    allowed = OscServer("127.0.0.1", 0, rig.snapshot, rig.control, allow=["192.168.1.0/24"])
    assert allowed._allowed("192.168.1.20") and not allowed._allowed("10.0.0.1")
    with pytest.raises(ConfigError, match="not an address or network"):
        OscServer("127.0.0.1", 0, rig.snapshot, rig.control, allow=["lan"])


async def test_a_surfaces_own_addresses_work_both_ways() -> None:
    """An [osc] binding (/1/fader1 → slot 2) moves the slot scaled, and a registered
    surface's /1/fader1 follows a move made elsewhere, scaled back to 0..1."""
    rig = Rig()
    bound = (oscmap.OscBinding("/1/fader1", "slot.2.weight", 0.0, 2.0, scale=True),)
    rig.server = OscServer(
        "127.0.0.1", 0, rig.snapshot, rig.control, bindings=lambda: bound, push_interval=0.01
    )
    await rig.server.start()
    surface = rig.surface()
    try:
        surface.send("/register")
        await surface.receive(until=lambda m: any(a == "/1/fader1" for a, _ in m))
        surface.send("/1/fader1", 0.25)
        assert await until(lambda: rig.weight(2) == 0.5)
        rig.control(Change("slot.2.weight", 1.5, source="midi"))
        got = await surface.receive(until=lambda m: any(a == "/1/fader1" for a, _ in m))
        assert ("/1/fader1", [0.75]) in got
    finally:
        await rig.server.close()
        surface.sock.close()


def test_the_rig_refuses_osc_settings_the_server_would_refuse() -> None:
    """`check` and `run` say FILE:LINE before anything starts: off loopback without an
    allow-list, a bad allow-list entry, a bad client address."""
    from bridge.rig import parse_rig, rig_problems

    text = 'osc = "0.0.0.0:9000"\nosc_clients = ["127.0.0.1:70000"]\n'
    problems = [str(p) for p in rig_problems(parse_rig(text, "r.toml"), "r.toml", text)]
    assert problems[0].startswith("r.toml:1: osc: listening on 0.0.0.0 needs osc_allow")
    assert problems[1].startswith("r.toml:2: osc_clients: address '127.0.0.1:70000'")
    text = 'osc = "0.0.0.0:9000"\nosc_allow = ["lan"]\n'
    problems = [str(p) for p in rig_problems(parse_rig(text, "r.toml"), "r.toml", text)]
    assert problems == [
        "r.toml:2: osc_allow: 'lan' is not an address or network (e.g. 192.168.1.0/24)"
    ]
    fine = 'osc = "0.0.0.0:9000"\nosc_allow = ["192.168.1.0/24"]\n'
    assert rig_problems(parse_rig(fine, "r.toml"), "r.toml", fine) == []
