"""MidiHub on real JACK MIDI ports: events in order, hot-plug, waiting, the virtual port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import mido
import pytest

from bridge.core.types import MidiEvent
from bridge.errors import DeviceError
from bridge.io.midi import MidiHub, controller, encode, list_ports, parse, resolve_api
from tests.conftest import VirtualController


def test_parse_and_encode_round_trip() -> None:
    """Bytes → MidiEvent → bytes gives the same bytes for every kind we use."""
    cases = [
        [0xB3, 7, 100],  # cc, channel 4
        [0x90, 60, 99],
        [0x80, 60, 0],
        [0xE0, 0x00, 0x40],  # pitch bend centre
        [0xD1, 42],
        [0xA2, 60, 17],
        [0xC5, 12],
        [0xF8],
        [0xFA],
        [0xFB],
        [0xFC],
        [0xF0, 0x00, 0x20, 0x29, 0x02, 0xF7],
    ]
    for raw in cases:
        event = parse(raw, "ctl", 1.5)
        assert event is not None, raw
        assert event.port == "ctl" and event.time == 1.5
        assert encode(event) == raw


def test_parse_details() -> None:
    """Pitch bend is 0..16383 with centre 8192; note-on velocity 0 is a note-off."""
    assert parse([0xE0, 0, 0x40], "p", 0) == MidiEvent("pitchbend", 0, 0, 8192, "p", 0)
    assert parse([0x91, 60, 0], "p", 0) == MidiEvent("note_off", 1, 60, 0, "p", 0)
    assert parse([0xFE], "p", 0) is None  # active sensing: not used
    assert parse([0xB0, 200, 1], "p", 0) is None  # malformed: dropped, never raised


def test_api_resolution() -> None:
    """auto follows MIDO_BACKEND; an unknown API is a clear error."""
    assert resolve_api("auto", {"MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"}) == "jack"
    assert resolve_api("auto", {"MIDO_BACKEND": "mido.backends.rtmidi/LINUX_ALSA"}) == "alsa"
    assert resolve_api("auto", {}) == "auto"
    assert resolve_api("alsa", {"MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"}) == "alsa"
    with pytest.raises(DeviceError, match="auto, alsa, jack"):
        resolve_api("coremidi")


def test_controller_pattern_prefix() -> None:
    """``re:`` makes the pattern a regex; otherwise it is a substring."""
    assert controller("a", "re:^nano.*2$").regex
    spec = controller("b", "nanoKONTROL2", index=1)
    assert not spec.regex and spec.port == "nanoKONTROL2" and spec.index == 1


class Harness:
    """Runs a hub on a fresh loop, collecting events and presence changes."""

    def __init__(self) -> None:
        self.events: list[MidiEvent] = []
        self.changes: list[tuple[str, bool, float]] = []

    def on_event(self, event: MidiEvent) -> None:
        self.events.append(event)

    def on_change(self, name: str, present: bool) -> None:
        self.changes.append((name, present, time.monotonic()))

    async def until(self, cond: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            await asyncio.sleep(0.01)
        return False


def run_hub(hub: MidiHub, body: Callable[[Harness], Awaitable[None]]) -> Harness:
    h = Harness()

    async def main() -> None:
        await hub.start(asyncio.get_running_loop(), h.on_event, h.on_change)
        try:
            await body(h)
        finally:
            await hub.close()

    asyncio.run(main())
    return h


@pytest.mark.jack
def test_events_arrive_in_order(virtual_controller: VirtualController) -> None:
    """100 CCs moved on a controller arrive in order, tagged with the controller's name."""
    hub = MidiHub(api="jack", virtual=None)
    hub.add_controller(controller("knobs", virtual_controller.name))

    async def body(h: Harness) -> None:
        assert hub.present() == {"knobs": True}
        for i in range(100):
            virtual_controller.send(mido.Message("control_change", channel=2, control=7, value=i))
        assert await h.until(lambda: len(h.events) >= 100, 3)

    h = run_hub(hub, body)
    assert [e.value for e in h.events] == list(range(100))
    assert {(e.kind, e.channel, e.number, e.port) for e in h.events} == {("cc", 2, 7, "knobs")}
    times = [e.time for e in h.events]
    assert times == sorted(times)


@pytest.mark.jack
def test_unplug_and_replug_reopens_and_resends_feedback(
    virtual_controller: VirtualController,
) -> None:
    """A vanished controller is reported; back, it is reopened within 1 s with its LEDs."""
    hub = MidiHub(api="jack", virtual=None)
    name = virtual_controller.name
    hub.add_controller(controller("pads", name, output=name))

    async def body(h: Harness) -> None:
        hub.send("pads", MidiEvent("note_on", 0, 36, 127))
        hub.send("pads", MidiEvent("cc", 0, 20, 64))
        hub.send("pads", MidiEvent("note_on", 0, 36, 5))  # the last value of a LED counts
        assert await h.until(lambda: len(virtual_controller.messages()) >= 3, 2)
        virtual_controller.unplug()
        assert await h.until(lambda: hub.present() == {"pads": False}, 2)
        hub.send("pads", MidiEvent("cc", 0, 21, 1))  # while away: kept for later
        virtual_controller.clear()
        plugged = time.monotonic()
        virtual_controller.plug()
        assert await h.until(lambda: hub.present() == {"pads": True}, 2)
        assert h.changes[-1][2] - plugged < 1.0
        assert await h.until(lambda: len(virtual_controller.messages()) >= 3, 2)
        virtual_controller.send(mido.Message("control_change", control=1, value=9))
        assert await h.until(lambda: any(e.value == 9 for e in h.events), 2)

    h = run_hub(hub, body)
    # reported at start (present), at the unplug, and when it is back
    assert [(n, p) for n, p, _ in h.changes] == [("pads", True), ("pads", False), ("pads", True)]
    # the LEDs end up showing the last value of each, including the one set while away
    final = {}
    for m in virtual_controller.messages():
        d = m.dict()
        final[(d["type"], d.get("note"), d.get("control"))] = d.get("velocity", d.get("value"))
    assert final == {
        ("control_change", None, 20): 64,
        ("note_on", 36, None): 5,
        ("control_change", None, 21): 1,
    }


@pytest.mark.jack
def test_absent_controller_is_waited_for(jack_server: Any) -> None:
    """A controller missing at start is not fatal: it is opened when it appears."""
    hub = MidiHub(api="jack", virtual=None)
    hub.add_controller("late", "LateController")  # the name + pattern form

    async def body(h: Harness) -> None:
        assert hub.present() == {"late": False}
        ctl = await asyncio.to_thread(VirtualController, "LateController")
        try:
            assert await h.until(lambda: hub.present() == {"late": True}, 1.0)
            ctl.send(mido.Message("note_on", note=40, velocity=100))
            assert await h.until(lambda: len(h.events) == 1, 2)
        finally:
            await asyncio.to_thread(ctl.unplug)

    h = run_hub(hub, body)
    assert h.events[0].kind == "note_on" and h.events[0].port == "late"
    assert h.changes[0][:2] == ("late", True)


@pytest.mark.jack
def test_virtual_port_takes_input_from_a_sequencer(jack_server: Any) -> None:
    """A program (DAW, sequencer) connecting to "PromptBridge" drives the daemon."""
    hub = MidiHub(api="jack")
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)

    async def body(h: Harness) -> None:
        names = backend.get_output_names()
        target = [n for n in names if n.startswith("PromptBridge:")]
        assert target, names
        out = backend.open_output(target[0])
        try:
            # JACK makes the new connection live at a cycle boundary: resend until it is
            for _ in range(40):
                out.send(mido.Message("control_change", channel=0, control=74, value=33))
                if await h.until(lambda: len(h.events) >= 1, 0.05):
                    break
            out.send(mido.Message("clock"))
            assert await h.until(lambda: any(e.kind == "clock" for e in h.events), 2)
        finally:
            out.close()

    h = run_hub(hub, body)
    assert [(e.kind, e.port) for e in h.events] == [
        ("cc", "PromptBridge"),
        ("clock", "PromptBridge"),
    ]


@pytest.mark.jack
def test_list_ports_hides_nothing_but_shows_controllers(
    virtual_controller: VirtualController,
) -> None:
    """list_ports() shows the controller's output and input ports."""
    ins, outs = list_ports("jack")
    assert any(virtual_controller.name in p for p in ins)
    assert any(virtual_controller.name in p for p in outs)


def test_send_to_unknown_controller_is_an_error() -> None:
    """Feedback for a controller that was never added is a clear error."""
    hub = MidiHub(api="jack", virtual=None)
    with pytest.raises(DeviceError, match="no controller named 'x'"):
        hub.send("x", MidiEvent("cc"))


def test_only_this_adapter_imports_rtmidi() -> None:
    """Layering: bridge/io/midi.py is the one module that imports python-rtmidi."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "bridge"
    pattern = re.compile(r"^\s*(import|from)\s+rtmidi\b", re.MULTILINE)
    users = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text())
    )
    assert users == ["io/midi.py"]
