"""A surface's own OSC addresses: the [osc] table, its scaling both ways, and
`learn --osc` on a real terminal fed by a real python-osc client."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from pythonosc.udp_client import SimpleUDPClient

from bridge.config import load_mapping, loads, mappings_dir
from bridge.core import oscmap
from bridge.core.performance import Performance
from bridge.errors import ConfigError
from tests.test_learn import Terminal

TABLE = """
use = "generic"
[osc]
"/1/fader1" = "slot.1.weight"
"/1/fader9" = { target = "config.bpm", range = [90, 140] }
"/1/push1" = { target = "playback", value = "toggle" }
"/1/label" = "slot.1.text"
"""


def test_bound_addresses_scale_into_the_target_and_back() -> None:
    bound = {b.address: b for b in loads(TABLE, "t.toml").osc}
    assert set(bound) == {"/1/fader1", "/1/fader9", "/1/push1", "/1/label"}
    fader = oscmap.parse("/1/fader1", [0.25], bound)
    assert isinstance(fader, list) and (fader[0].target, fader[0].value) == ("slot.1.weight", 0.5)
    bpm = oscmap.parse("/1/fader9", [0.5], bound)
    assert isinstance(bpm, list) and bpm[0].value == 115.0
    push = oscmap.parse("/1/push1", [1.0], bound)
    assert isinstance(push, list) and (push[0].target, push[0].value) == ("playback", "toggle")
    assert oscmap.parse("/1/push1", [0.0], bound) == oscmap.Ignore()
    text = oscmap.parse("/1/label", ["rain"], bound)
    assert isinstance(text, list) and text[0].value == "rain"

    values = {"/slot/1/weight": (1.5,), "/config/bpm": (140.0,), "/slot/1/text": ("rain",)}
    values["/playback/toggle"] = (1.0,)
    shown = oscmap.bound_feedback(values, tuple(bound.values()))
    assert shown["/1/fader1"] == (0.75,) and shown["/1/fader9"] == (1.0,)
    assert shown["/1/push1"] == (1.0,) and shown["/1/label"] == ("rain",)


def test_a_bad_osc_table_names_file_line_and_key() -> None:
    with pytest.raises(ConfigError) as err:
        loads('use = "generic"\n[osc]\n"/1/f" = "slot.99.weight"\n"x" = "playback"\n', "t.toml")
    lines = str(err.value).splitlines()
    assert lines[0].startswith("t.toml:3: osc./1/f.target: no prompt slot 99")
    assert lines[1].startswith("t.toml:4: osc.x: an OSC address starts with /")


def test_learn_osc_on_a_terminal_writes_bindings(tmp_path: Path) -> None:
    """Asked control by control, a fader's address and a button's are bound; Enter skips
    one; the written file loads with the real loader."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "surface.toml"
    term = Terminal(["learn", "--osc", f"127.0.0.1:{port}", "--out", str(out),
                     "--slots", "2", "--quiet", "0.3"])  # fmt: skip
    client = SimpleUDPClient("127.0.0.1", port)
    try:
        term.expect("move the control for slot 1 weight")
        for value in (0.1, 0.2, 0.3):
            client.send_message("/1/fader1", value)
            time.sleep(0.02)
        term.expect("move the control for slot 2 weight")
        term.type("\n")
        for label in ("density", "brightness", "master volume"):
            term.expect(f"move the control for {label}")
            term.type("\n")
        term.expect("move the control for play/pause")
        client.send_message("/1/push1", 1.0)
        client.send_message("/1/push1", 0.0)
        term.expect("wrote")
        assert term.close() == 0
    finally:
        client.close()
        if term.proc.poll() is None:
            term.proc.kill()
    bound = {b.address: b for b in load_mapping([out]).osc}
    assert bound["/1/fader1"].target == "slot.1.weight" and bound["/1/fader1"].hi == 2.0
    assert (bound["/1/push1"].target, bound["/1/push1"].value) == ("playback", "toggle")
    assert "learned: /1/fader1 → slot.1.weight" in term.output


def test_the_open_stage_control_session_speaks_the_bridges_addresses() -> None:
    """The shipped session is what its generator writes, every widget address is one the
    bridge takes (with the values that widget sends), and the bridge's feedback reaches
    every widget (Open Stage Control moves widgets whose address gets a message)."""
    import importlib.util
    import json

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("session", root / "scripts/make_osc_session.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = json.loads((root / "surfaces" / "promptbridge.json").read_text(encoding="utf-8"))
    assert shipped == module.session()  # regenerate with scripts/make_osc_session.py

    perf = Performance(load_mapping([mappings_dir() / "examples" / "space_set.toml"]).performance)
    fed = oscmap.feedback(perf.snapshot())
    addressed = [w for w in module.widgets(shipped["content"]) if "address" in w]
    assert len(addressed) > 40
    for widget in addressed:
        if widget.get("interaction") is not False:  # display-only meters send nothing
            sample = [0.5, 0.5] if widget["type"] == "xy" else [1]
            parsed = oscmap.parse(widget["address"], sample)
            assert isinstance(parsed, list), (widget["id"], parsed)
        assert widget["address"] in fed or widget["address"] == "/space/z", widget["id"]  # 3D
