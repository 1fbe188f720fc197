"""MIDI bytes → events, and events → logical inputs: 14-bit pairs, NRPN/RPN (pure core)."""

from __future__ import annotations

import re

import pytest

from bridge.core.midi import Assembler, Input, encode, parse
from bridge.core.types import MidiEvent


@pytest.mark.parametrize(
    ("raw", "kind", "channel", "number", "value"),
    [
        ([0xB0, 7, 100], "cc", 0, 7, 100),
        ([0xBF, 0, 0], "cc", 15, 0, 0),
        ([0x91, 60, 64], "note_on", 1, 60, 64),
        ([0x91, 60, 0], "note_off", 1, 60, 0),  # note-on velocity 0 is a release
        ([0x82, 61, 30], "note_off", 2, 61, 30),
        ([0xE0, 0x00, 0x40], "pitchbend", 0, 0, 8192),
        ([0xE3, 0x7F, 0x7F], "pitchbend", 3, 0, 16383),
        ([0xC4, 12], "program", 4, 12, 0),
        ([0xD5, 99], "aftertouch", 5, 0, 99),
        ([0xA6, 40, 77], "poly_aftertouch", 6, 40, 77),
        ([0xF8], "clock", -1, 0, 0),
        ([0xFA], "start", -1, 0, 0),
        ([0xFB], "continue", -1, 0, 0),
        ([0xFC], "stop", -1, 0, 0),
    ],
)
def test_parse_channel_and_system_messages(
    raw: list[int], kind: str, channel: int, number: int, value: int
) -> None:
    """Each message kind parses to its MidiEvent with 0-based channel, number and value."""
    ev = parse(bytes(raw), port="p", time=1.5)
    assert ev is not None
    assert (ev.kind, ev.channel, ev.number, ev.value) == (kind, channel, number, value)
    assert (ev.port, ev.time) == ("p", 1.5)


@pytest.mark.parametrize(
    "raw",
    [[], [0xB0, 7], [0xB0, 0x80, 1], [0x90, 60, 200], [0xF0, 1, 2], [0xF1, 3], [0x40, 1, 2]],
)
def test_parse_rejects_truncated_and_malformed_without_raising(raw: list[int]) -> None:
    """Truncated, out-of-range data bytes, unterminated sysex and unused statuses → None."""
    assert parse(raw) is None


def test_parse_sysex_keeps_the_bytes() -> None:
    """A complete sysex keeps its raw bytes in ``data``."""
    ev = parse([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7])
    assert (
        ev is not None and ev.kind == "sysex" and ev.data == bytes([0xF0, 0x7E, 0x7F, 6, 1, 0xF7])
    )


@pytest.mark.parametrize(
    "raw",
    [
        [0xB3, 7, 1],
        [0x90, 60, 1],
        [0x80, 60, 5],
        [0x80, 60, 0],
        [0xE2, 5, 9],
        [0xE0, 0x00, 0x40],
        [0xC1, 3],
        [0xD0, 9],
        [0xA0, 1, 2],
        [0xF8],
        [0xFA],
        [0xFB],
        [0xFC],
        [0xF0, 0x00, 0x20, 0x29, 0x02, 0xF7],
        [0xF0, 0xF7],
    ],
)
def test_encode_is_the_inverse_of_parse(raw: list[int]) -> None:
    """encode(parse(bytes)) gives back the same bytes, for every kind we read."""
    ev = parse(raw)
    assert ev is not None
    assert encode(ev) == bytes(raw)


# The daemon used to run a second parser (mido's, in bridge/io/midi.py) while the
# benchmark measured this one; where the two disagreed, these tests pin the behaviour kept.


@pytest.mark.parametrize(
    "raw",
    [
        [0xB0, 7, 100, 5],  # the old core read the CC and ignored the extra byte
        [0xB0, 7, 100, 8, 101],  # two CCs with running status in one buffer
        [0xC0, 1, 2],
        [0xD0, 1, 2],
        [0xF8, 0],
        [0xFA, 0, 0],
        [0xE0, 0, 0x40, 0x10],  # mido's pitch bend (the old adapter) ignored the extra byte
    ],
)
def test_parse_rejects_trailing_bytes(raw: list[int]) -> None:
    """A buffer holding more than one message is not one well-formed message: None.
    (rtmidi delivers exactly one message per read, with its status byte, on ALSA and JACK.)"""
    assert parse(raw) is None


@pytest.mark.parametrize("raw", [[0x40, 1], [7, 100], [0x7F]])
def test_parse_rejects_running_status_fragments(raw: list[int]) -> None:
    """Data bytes with no status byte first are dropped, never guessed."""
    assert parse(raw) is None


@pytest.mark.parametrize(
    "raw", [[0xF0, 0x80, 0xF7], [0xF0, 0x01, 0xB0, 0xF7], [0xF0, 0x01, 0xF8, 0xF7], [0xF0]]
)
def test_parse_rejects_sysex_with_a_status_byte_inside(raw: list[int]) -> None:
    """Sysex data bytes are 0..127 (the old core accepted any byte between F0 and F7)."""
    assert parse(raw) is None


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (MidiEvent("cc", 0, 7, 128), "value must be in range 0..127 (got 128)"),
        (MidiEvent("cc", 0, 128, 1), "number must be in range 0..127"),
        (MidiEvent("note_on", 0, 60, -1), "value must be in range 0..127"),
        (MidiEvent("cc", -1, 7, 1), "channel must be in range 0..15 (got -1)"),
        (MidiEvent("cc", 16, 7, 1), "channel must be in range 0..15"),
        (MidiEvent("pitchbend", 0, 0, 16384), "pitch bend must be in range 0..16383"),
        (MidiEvent("program", 0, 200, 0), "program must be in range 0..127"),
        (MidiEvent("sysex", -1, data=b"\x01\x02"), "sysex data must be F0"),
        (MidiEvent("sysex", -1, data=b""), "sysex data must be F0"),
        (MidiEvent("sysex", -1, data=b"\xf0\x90\xf7"), "sysex data must be F0"),
    ],
)
def test_encode_refuses_what_is_not_a_message(event: MidiEvent, message: str) -> None:
    """Out-of-range fields are an error, not wrapped into another message (the old core
    sent channel -1 on channel 16 and value 128 as 0: the wrong LED, a fader jump)."""
    with pytest.raises(ValueError, match=re.escape(message)):
        encode(event)


def cc(n: int, v: int, ch: int = 0) -> MidiEvent:
    return MidiEvent("cc", ch, n, v)


def feed(asm: Assembler, *events: MidiEvent) -> list[Input]:
    return [inp for ev in events for inp in asm.feed(ev)]


def test_plain_cc_passes_straight_through() -> None:
    """A CC that is not part of a 14-bit pair or NRPN is one 7-bit input."""
    assert feed(Assembler(cc14=[1]), cc(7, 99)) == [Input("cc", 0, 7, 99)]


def test_14bit_msb_first_sender_is_learned_then_held_until_the_lsb() -> None:
    """MSB then LSB: after the first pair the MSB waits for its LSB (one value per move)."""
    asm = Assembler(cc14=[1])
    # First MSB: order unknown, reported at once (could be an MSB-only sender).
    assert feed(asm, cc(1, 64)) == [Input("cc14", 0, 1, 64 << 7 | 64)]
    assert feed(asm, cc(33, 5)) == [Input("cc14", 0, 1, 64 << 7 | 5)]
    # Now learned: MSB held, LSB completes.
    assert feed(asm, cc(1, 65)) == []
    assert feed(asm, cc(33, 0)) == [Input("cc14", 0, 1, 65 << 7)]
    # The LSB alone (MSB unchanged, not re-sent) completes with the last MSB.
    assert feed(asm, cc(33, 9)) == [Input("cc14", 0, 1, 65 << 7 | 9)]


def test_14bit_lsb_first_sender_is_learned() -> None:
    """LSB then MSB: the LSB waits and the MSB completes, so no stale half is reported."""
    asm = Assembler(cc14=[2])
    assert feed(asm, cc(34, 100)) == []
    assert feed(asm, cc(2, 10)) == [Input("cc14", 0, 2, 10 << 7 | 100)]
    assert feed(asm, cc(34, 3), cc(2, 11)) == [Input("cc14", 0, 2, 11 << 7 | 3)]
    # MSB alone (LSB unchanged): completes with the last LSB.
    assert feed(asm, cc(2, 12)) == [Input("cc14", 0, 2, 12 << 7 | 3)]


@pytest.mark.parametrize(("msb", "value"), [(0, 0), (1, 129), (64, 8256), (127, 16383)])
def test_14bit_msb_only_sender_reaches_both_ends(msb: int, value: int) -> None:
    """A sender that never sends the LSB still spans 0..16383 (MSB bits replicated)."""
    asm = Assembler(cc14=[0])
    assert feed(asm, cc(0, msb)) == [Input("cc14", 0, 0, value)]


def test_14bit_pairs_are_kept_apart_per_channel() -> None:
    """The same pair on two channels assembles independently."""
    asm = Assembler(cc14=[1])
    feed(asm, cc(1, 1, ch=0), cc(33, 1, ch=0))
    got = feed(asm, cc(1, 2, ch=0), cc(1, 50, ch=3), cc(33, 7, ch=0))
    assert got == [Input("cc14", 3, 1, 50 << 7 | 50), Input("cc14", 0, 1, 2 << 7 | 7)]


def test_nrpn_select_then_data_msb_lsb() -> None:
    """CC 99/98 select NRPN 0x0105; CC 6/38 carry its 14-bit value."""
    asm = Assembler(nrpn=True)
    assert feed(asm, cc(99, 1), cc(98, 5)) == []
    assert feed(asm, cc(6, 64)) == [Input("nrpn", 0, 133, 64 << 7 | 64)]
    assert feed(asm, cc(38, 1)) == [Input("nrpn", 0, 133, 64 << 7 | 1)]


def test_rpn_increment_decrement_and_null() -> None:
    """CC 96/97 step the selected RPN by ±1; RPN 127/127 deselects (CC 96 passes through)."""
    asm = Assembler(nrpn=True)
    feed(asm, cc(101, 0), cc(100, 0))
    assert feed(asm, cc(96, 0), cc(97, 0)) == [Input("rpn", 0, 0, 0, 1), Input("rpn", 0, 0, 0, -1)]
    assert feed(asm, cc(101, 127), cc(100, 127)) == []
    assert feed(asm, cc(96, 0)) == [Input("cc", 0, 96, 0)]


def test_nrpn_ccs_are_plain_when_not_asked_for() -> None:
    """Without NRPN bindings, CC 6/98/99 are ordinary CCs."""
    assert feed(Assembler(), cc(99, 1), cc(6, 2)) == [Input("cc", 0, 99, 1), Input("cc", 0, 6, 2)]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (MidiEvent("note_on", 2, 36, 90), Input("note", 2, 36, 90)),
        (MidiEvent("note_off", 2, 36, 64), Input("note", 2, 36, 0)),  # a release
        (MidiEvent("pitchbend", 0, 0, 8192), Input("pitchbend", 0, 0, 8192)),
        (MidiEvent("aftertouch", 1, 0, 20), Input("aftertouch", 1, 0, 20)),
        (MidiEvent("poly_aftertouch", 1, 40, 21), Input("poly_aftertouch", 1, 40, 21)),
        (MidiEvent("program", 0, 7, 0), Input("program", 0, 7, 0)),
    ],
)
def test_other_messages_map_one_to_one(event: MidiEvent, expected: Input) -> None:
    """Notes, bends, aftertouch and program changes become one input each."""
    assert feed(Assembler(), event) == [expected]


def test_pure_modules_import_no_io() -> None:
    """The assembly, mapper and its helpers import no I/O library, thread or clock."""
    import ast
    from pathlib import Path

    import bridge.core

    forbidden = {"mido", "rtmidi", "websockets", "sounddevice", "asyncio", "threading", "time"}
    forbidden |= {"socket", "os", "tomllib"}
    core = Path(bridge.core.__file__).parent
    names = ["midi", "mapping", "mapper", "transform", "encoders", "takeover", "tempo"]
    for name in names:
        tree = ast.parse((core / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            assert not {m.split(".")[0] for m in mods} & forbidden, (name, mods)
