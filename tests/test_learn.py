"""MIDI learn: detection from values (pure), the written profile (checked by the real
loader), and `promptbridge learn` / `devices` end to end on a terminal and JACK MIDI."""

from __future__ import annotations

import contextlib
import os
import pty
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mido
import pytest

from bridge.commands.learn import control_name, port_pattern, render_profile
from bridge.config import check_files, load_mapping
from bridge.core.learn import Collector, Detected, classify, detect_line, relative_encoding
from bridge.core.types import MidiEvent
from tests.conftest import JackServer, VirtualController, despite_xruns

ROOT = Path(__file__).resolve().parents[1]


def ccs(number: int, values: list[int], channel: int = 0) -> list[MidiEvent]:
    return [MidiEvent("cc", channel, number, v) for v in values]


def test_absolute_knob() -> None:
    """Values that walk (64, 63, 62, ...) are an absolute 7-bit knob."""
    det = classify(ccs(16, [64, 63, 62, 61, 60, 58, 57]))
    assert det == Detected("cc", 16, 0, "knob", note="absolute 7-bit")


@pytest.mark.parametrize(
    ("values", "encoding"),
    [
        ([127, 127, 127, 126, 127, 127], "twos-complement"),
        ([63, 63, 63, 62, 63, 63], "binary-offset"),
        ([65, 65, 65, 66, 65], "sign-bit"),
        ([1, 1, 1, 2, 1, 1], "sign-bit-inverted"),
    ],
)
def test_relative_encoders_turned_left(values: list[int], encoding: str) -> None:
    """Repeated values in a band tell the encoding (the user turns left, i.e. down)."""
    det = classify(ccs(10, values))
    assert det is not None
    assert (det.kind, det.type, det.encoding) == ("cc", "encoder", encoding)
    assert det.fields() == {"cc": 10, "channel": 1, "type": "encoder", "encoding": encoding}


def test_walking_values_in_a_band_are_not_relative() -> None:
    """An absolute knob moving through 60..56 is not mistaken for binary-offset."""
    assert relative_encoding([60, 59, 58, 57, 56]) is None
    assert relative_encoding([63, 63]) is None  # too short to tell


def test_fourteen_bit_pair() -> None:
    """CC 1 with CC 33 interleaved is a 14-bit pair on MSB 1."""
    events = []
    for v in range(10):
        events += [MidiEvent("cc", 2, 1, 60 + v), MidiEvent("cc", 2, 33, v * 10)]
    det = classify(events)
    assert det is not None and (det.kind, det.number, det.channel) == ("cc14", 1, 2)
    assert det.fields()["cc14"] == 1 and det.fields()["channel"] == 3


def test_nrpn() -> None:
    """CC 99/98 then data CC 6 is an NRPN with parameter MSB·128 + LSB."""
    events = ccs(99, [1]) + ccs(98, [5]) + ccs(6, [40, 41, 42])
    det = classify(events)
    assert det is not None and (det.kind, det.number) == ("nrpn", 133)


def test_buttons_notes_and_others() -> None:
    """0/127 CCs are a button; notes a pad; bend, aftertouch and program are sources."""
    button = classify(ccs(45, [127, 0]))
    assert button is not None and button.type == "button" and button.kind == "cc"
    pad = classify([MidiEvent("note_on", 9, 36, 100), MidiEvent("note_off", 9, 36, 0)])
    assert pad is not None and (pad.kind, pad.number, pad.channel, pad.type) == (
        "note",
        36,
        9,
        "pad",
    )
    bend = classify([MidiEvent("pitchbend", 0, 0, 9000)])
    assert bend is not None and bend.fields()["pitchbend"] is True
    assert classify([MidiEvent("clock", -1)]) is None
    assert classify([]) is None


def test_collector_waits_for_quiet_and_skips_learned_controls() -> None:
    """A burst is done after `quiet` seconds of silence; controls already learned and
    clock ticks do not start a new burst."""
    col = Collector(quiet=0.5, skip=frozenset({("cc", 16, 0)}))
    col.add(MidiEvent("cc", 0, 16, 5), 0.0)  # the previous control, still moving
    col.add(MidiEvent("clock", -1), 0.0)
    assert col.events == [] and not col.done(10.0)
    for i, t in enumerate((1.0, 1.1, 1.2)):
        col.add(MidiEvent("cc", 0, 17, 60 - i), t)
    col.add(MidiEvent("cc", 3, 99, 1), 1.3)  # another channel: not this control
    assert not col.done(1.6)
    assert col.done(1.7)
    det = col.result()
    assert det is not None and det.number == 17 and col.keys() == {("cc", 17, 0)}


def test_detect_lines() -> None:
    """--detect renders events as [controls] lines (1-based channels)."""
    assert detect_line(MidiEvent("cc", 0, 7, 64)) == "cc7 = { cc = 7, channel = 1 }  # value 64"
    assert detect_line(MidiEvent("note_on", 9, 36, 100)) == (
        "note36 = { note = 36, channel = 10 }  # note_on velocity 100"
    )
    assert detect_line(MidiEvent("clock", -1)) is None


def test_names_and_port_patterns() -> None:
    """Control names come from targets; port patterns drop ALSA numbers and generic clients."""
    assert control_name("slot.3.weight") == "slot3_weight"
    assert control_name("config.density") == "density"
    assert control_name("playback") == "play_pause"
    assert port_pattern("nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0") == "nanoKONTROL2"
    assert port_pattern("RtMidiOut Client:FakeController") == "FakeController"


def test_rendered_profile_loads_with_the_real_loader(tmp_path: Path) -> None:
    """What learn writes is a valid profile: every control bound, channels right."""
    learned = [
        ("slot.1.weight", Detected("cc", 16, 0, "knob", note="absolute 7-bit"), {}),
        ("slot.2.weight", Detected("cc14", 1, 0, "fader", note="14-bit"), {}),
        (
            "config.density",
            Detected("cc", 10, 0, "encoder", "binary-offset", note="relative"),
            {},
        ),
        ("playback", Detected("note", 36, 9, "pad", note="pad"), {"value": "toggle"}),
    ]
    text = render_profile("Desk", "Desk MIDI", learned, ["warm pads", "dry drums"])
    path = tmp_path / "desk.toml"
    path.write_text(text)
    assert check_files([path]) == []
    mapping = load_mapping([path])
    assert mapping.controllers[0].port == "Desk MIDI"
    sources = {
        b.target: (b.source.kind, b.source.number, b.source.channel) for b in mapping.bindings
    }
    assert sources == {
        "slot.1.weight": ("cc", 16, 0),
        "slot.2.weight": ("cc14", 1, 0),
        "config.density": ("cc", 10, 0),
        "playback": ("note", 36, 9),
    }
    density = next(b for b in mapping.bindings if b.target == "config.density")
    assert density.mode == "relative" and density.encoding == "binary-offset"
    assert [s.text for s in mapping.performance.slots] == ["warm pads", "dry drums"]
    assert "# absolute 7-bit" in text and "Written by `promptbridge learn`" in text


@pytest.fixture
def ctrl_c_kills() -> Iterator[None]:
    """Children started now get Ctrl-C's default action, as on a user's terminal.

    A shell starts a background job (``./dev.sh test &``, a CI runner's) with SIGINT
    ignored; its children inherit that, Python then installs no KeyboardInterrupt, and
    the SIGINT these tests send was ignored (seen: learn ran on, all three timed out). A handler
    of ours, unlike "ignored", is reset to the default by exec."""
    old = signal.getsignal(signal.SIGINT)
    if old is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class Lines:
    """A child's output lines, read by a thread: ``next`` waits at most ``timeout``."""

    def __init__(self, stream: Any) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        with contextlib.suppress(ValueError, OSError):  # the test closed the pipe
            for line in stream:
                self._lines.put(line)

    def next(self, timeout: float = 10.0) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return ""


def printed(server: JackServer, lines: Lines, ctl: VirtualController, msg: mido.Message) -> str:
    """The line learn printed for ``msg`` sent by the controller.

    The loaded JACK dummy can lose a cycle's MIDI in an xrun; the message is sent again
    only if the server logged one meanwhile, so on a clean run one message must be
    enough, and a message learn never reads still fails the test."""
    line = ""

    def attempt() -> bool:
        nonlocal line
        ctl.send(msg)
        line = lines.next(timeout=3.0)
        return bool(line)

    despite_xruns(server, attempt)
    return line


class Terminal:
    """`promptbridge ...` running on a real pseudo-terminal."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        os.close(slave)
        self.output = ""

    def expect(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not seen; output so far:\n{self.output}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                with contextlib.suppress(OSError):  # the child closed the terminal
                    self.output += os.read(self.master, 4096).decode(errors="replace")
        return self.output

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=15)
        finally:
            os.close(self.master)


@pytest.mark.jack
def test_learn_on_a_terminal_writes_a_valid_profile(
    virtual_controller: VirtualController, tmp_path: Path
) -> None:
    """Asked control by control, a knob, an encoder turned left and a skipped control
    give a profile the loader accepts, with the detected sources."""
    out = tmp_path / "learned.toml"
    term = Terminal(
        ["learn", "--out", str(out), "--midi-in", virtual_controller.name,
         "--midi-api", "jack", "--slots", "3", "--quiet", "0.3"]
    )  # fmt: skip
    try:
        term.expect("move the control for slot 1 weight")
        for v in (70, 69, 68, 67, 66, 65):
            virtual_controller.send(mido.Message("control_change", control=21, value=v))
            time.sleep(0.01)
        term.expect("move the control for slot 2 weight")
        for v in (63, 63, 63, 63, 62, 63):
            virtual_controller.send(mido.Message("control_change", control=40, value=v))
            time.sleep(0.01)
        term.expect("move the control for slot 3 weight")
        term.type("\n")  # skip it
        term.expect("move the control for density")
        term.type("q\n")
        term.expect("wrote")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    mapping = load_mapping([out])
    by_target = {b.target: b for b in mapping.bindings}
    assert set(by_target) == {"slot.1.weight", "slot.2.weight"}
    assert (by_target["slot.1.weight"].source.number, by_target["slot.1.weight"].mode) == (
        21,
        "absolute",
    )
    enc = by_target["slot.2.weight"]
    assert (enc.source.number, enc.mode, enc.encoding) == (40, "relative", "binary-offset")
    assert mapping.controllers[0].port == virtual_controller.name
    assert "learned: relative encoder (binary-offset)" in term.output
    assert "skipped" in term.output


@pytest.mark.jack
@pytest.mark.usefixtures("ctrl_c_kills")
def test_detect_prints_binding_lines(
    jack_server: JackServer, virtual_controller: VirtualController
) -> None:
    """learn --detect prints a line to paste for every event, until Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "learn", "--detect", "--midi-api", "jack",
         "--midi-in", virtual_controller.name],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        assert "listening to" in lines.next()
        cc = mido.Message("control_change", channel=4, control=74, value=3)
        first = printed(jack_server, lines, virtual_controller, cc)
        note = mido.Message("note_on", note=40, velocity=90)
        second = printed(jack_server, lines, virtual_controller, note)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert first.strip() == "cc74 = { cc = 74, channel = 5 }  # value 3"
    assert second.strip() == "note40 = { note = 40, channel = 1 }  # note_on velocity 90"


@pytest.mark.jack
@pytest.mark.usefixtures("ctrl_c_kills")
def test_learn_waits_for_the_controller_to_be_plugged_in(jack_server: JackServer) -> None:
    """With no matching input, learn says it is waiting; plugged in, it starts listening."""
    name = f"LateLearn{uuid.uuid4().hex[:4]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "learn", "--detect", "--midi-api", "jack",
         "--midi-in", name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    ctl = None
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        waiting = lines.next()
        assert waiting.startswith(f"waiting for a MIDI input matching {name!r} (inputs now: ")
        assert waiting.rstrip().endswith("plug the controller in, or Ctrl-C to give up")
        ctl = VirtualController(name)
        assert lines.next().startswith(f"listening to RtMidiOut Client:{name}")
        cc = mido.Message("control_change", channel=0, control=7, value=1)
        assert printed(jack_server, lines, ctl, cc).startswith("cc7 = { cc = 7, channel = 1 }")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if ctl is not None:
            ctl.unplug()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.jack
@pytest.mark.usefixtures("ctrl_c_kills")
def test_learn_gives_up_waiting_after_wait_seconds_or_ctrl_c(jack_server: Any) -> None:
    """``--wait`` bounds the wait (0: none); Ctrl-C while waiting gives up; each is one
    line, exit 1."""
    cmd = [sys.executable, "-m", "bridge", "learn", "--detect", "--midi-api", "jack",
           "--midi-in", "NoSuchController"]  # fmt: skip
    res = subprocess.run(
        [*cmd, "--wait", "0.3"], capture_output=True, text=True, cwd=ROOT, timeout=30
    )
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "promptbridge: no MIDI input matching 'NoSuchController' appeared within 0.3 s"
    ]
    res = subprocess.run(
        [*cmd, "--wait", "0"], capture_output=True, text=True, cwd=ROOT, timeout=30
    )
    assert res.returncode == 1
    assert res.stderr.startswith("promptbridge: no MIDI input matching 'NoSuchController'; inputs:")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("waiting for a MIDI input")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 1
        assert proc.stderr.read().strip().splitlines() == [
            "promptbridge: gave up waiting for a MIDI input matching 'NoSuchController'"
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_learn_off_a_terminal_is_a_clear_error() -> None:
    """Without a terminal (and without --detect), learn says why in one line."""
    res = subprocess.run(
        [sys.executable, "-m", "bridge", "learn", "--out", "x.toml"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=ROOT, timeout=30,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        "promptbridge: learn asks questions: run it on a terminal (or use --detect)"
    )


@pytest.mark.jack
def test_devices_lists_midi_and_audio(virtual_controller: VirtualController) -> None:
    """`promptbridge devices` shows the controller's ports and the JACK audio output."""
    res = subprocess.run(
        [sys.executable, "-m", "bridge", "devices", "--midi-api", "jack"],
        capture_output=True, text=True, cwd=ROOT, timeout=30,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    ins = lines.index("MIDI inputs:")
    outs = lines.index("MIDI outputs:")
    audio = next(i for i, line in enumerate(lines) if line.startswith("Audio outputs"))
    assert any(virtual_controller.name in line for line in lines[ins:outs])
    assert any(virtual_controller.name in line for line in lines[outs:audio])
    assert any(
        "system [JACK Audio Connection Kit, 2 ch, 48000 Hz]" in line for line in lines[audio:]
    )
