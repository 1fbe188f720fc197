"""A prompt space end to end: the real daemon, a virtual controller on JACK, an OSC surface
on loopback, and a Lyria-protocol server on loopback that records what the model is sent.

The controller's joystick (pitch bend = space.x, mod wheel = space.y, as the example set
binds them) and then the OSC surface's X/Y pad move the position; the test reads the
prompt sets that arrived at the server, and the feedback the registered surface got.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import mido
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from bridge.config import mappings_dir
from tests.daemon_helpers import Daemon, free_port, status
from tests.faultserver import FaultServer
from tests.test_faults_daemon import assert_clean_exit, serving, wait_until, wire_prompts

pytestmark = pytest.mark.jack
SET = mappings_dir() / "examples" / "space_set.toml"
AMBIENT = "Ambient pads, slow evolving synth textures"
TECHNO = "Techno: driving kick, hypnotic acid 303 line"
HOUSE = "Deep house groove with warm analog bass"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loudest(conn: Any) -> str:
    prompts = wire_prompts(conn)
    return max(prompts, key=lambda text: prompts[text])


def osc(sock: socket.socket, port: int, address: str, *args: Any) -> None:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    sock.sendto(builder.build().dgram, ("127.0.0.1", port))


def received(sock: socket.socket, seconds: float) -> dict[str, list[Any]]:
    """The last value of every address the surface was sent within ``seconds``."""
    out: dict[str, list[Any]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        for m in OscPacket(data).messages:
            out[m.message.address] = list(m.message.params)
    return out


def test_joystick_and_osc_pad_move_the_space_to_the_model(
    tmp_path: Path, jack_server: Any, virtual_controller: Any
) -> None:
    osc_port, status_port = free_udp_port(), free_port()
    with serving(FaultServer()) as server:
        args = [
            "run", "--engine", "lyria", "--url", server.url, "--mapping", str(SET),
            "--midi-api", "jack", "--midi-in", virtual_controller.name, "--no-virtual-port",
            "--output", "none", "--latency", "low", "--autoplay",
            "--state-file", str(tmp_path / "state.json"),
            "--status", f"127.0.0.1:{status_port}", "--osc", f"127.0.0.1:{osc_port}",
        ]  # fmt: skip
        daemon = Daemon(args)
        surface = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        surface.bind(("127.0.0.1", 0))
        surface.settimeout(0.05)
        try:
            daemon.wait_for("audio flowing", timeout=30)
            conn = server.connections[0]
            assert loudest(conn) == HOUSE  # the set starts at deep house's point

            # The joystick: bend fully left (x = 0), mod wheel fully up (y = 1): ambient.
            virtual_controller.send(mido.Message("pitchwheel", pitch=-8192))
            virtual_controller.send(mido.Message("control_change", control=1, value=127))
            wait_until(lambda: loudest(conn) == AMBIENT, 5, "ambient to lead the mix")
            assert HOUSE not in wire_prompts(conn)

            # The OSC surface registers, gets the state, and moves its X/Y pad to techno.
            osc(surface, osc_port, "/register")
            state = received(surface, 1.0)
            assert state["/space/xy"] == [0.0, 1.0]
            osc(surface, osc_port, "/space/xy", 0.95, 0.95)
            wait_until(lambda: loudest(conn) == TECHNO, 5, "techno to lead the mix")
            feedback = received(surface, 0.5)
            assert feedback["/slot/6/weight"] == [1.0]  # the faders follow the space
            assert "/space/xy" not in feedback  # its own move is not echoed back
            osc(surface, osc_port, "/space/x", "far")
            error = ["space.x: position must be a number in 0..1"]
            assert received(surface, 0.5)["/error"] == error
            snap = status(status_port)
            assert snap["osc"]["listeners"] == [f"127.0.0.1:{surface.getsockname()[1]}"]
            assert snap["osc"]["errors"] == 1  # the status page shows surfaces and errors
            assert_clean_exit(daemon)
        finally:
            surface.close()
            daemon.stop()
