"""MIDI bytes → events, and events → logical inputs (14-bit CC, NRPN/RPN). Pure, no I/O.

* ``parse(raw, port, time)`` turns one raw MIDI message (bytes from rtmidi) into a
  ``MidiEvent`` or None for what we do not use or cannot read (never raises).
  ``encode(event)`` is its inverse, for feedback output. They are the only MIDI byte
  parser and encoder: the MIDI adapter (``bridge.io.midi``) and the MIDI file reader
  (``bridge.io.midifile``) call them, and the core benchmark measures them.
* ``Assembler`` turns a port's ``MidiEvent`` stream into ``Input`` values, the logical
  messages bindings listen to:

  - **14-bit CC** (MSB on CC n in 0..31, LSB on CC n+32) for the MSB numbers it is told
    about. Senders differ in order and in whether they send the LSB at all, so each pair
    learns its sender: while no pair has completed, an MSB is reported at once as
    ``msb << 7 | msb`` (an MSB-only sender still reaches both ends); once an MSB has been
    followed by its LSB (MSB-first) the MSB is held and the LSB completes it; once an LSB
    has been followed by its MSB (LSB-first) the LSB is held and the MSB completes it. A
    half arriving alone (its partner unchanged, so not re-sent) completes with the
    partner's last value.
  - **NRPN/RPN** (when told to): CC 99/98 (NRPN) or 101/100 (RPN) select a parameter,
    CC 6/38 carry its data MSB/LSB (assembled like a 14-bit pair), CC 96/97 increment or
    decrement it by one (``Input.delta``). RPN 127/127 (null) deselects. Data CCs with no
    parameter selected pass through as plain CCs.
  - notes (note-off and note-on velocity 0 alike → value 0), pitch bend (0..16383),
    channel and poly aftertouch, program change, all one-to-one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.core.types import MidiEvent, MidiKind

# The message table: kind → (status high nibble or system status byte, message length).
# Length 0 is sysex (F0 ... F7, any length). Everything else is read from this table.
_SPECS: dict[MidiKind, tuple[int, int]] = {
    "note_off": (0x80, 3),
    "note_on": (0x90, 3),
    "poly_aftertouch": (0xA0, 3),
    "cc": (0xB0, 3),
    "program": (0xC0, 2),
    "aftertouch": (0xD0, 2),
    "pitchbend": (0xE0, 3),
    "sysex": (0xF0, 0),
    "clock": (0xF8, 1),
    "start": (0xFA, 1),
    "continue": (0xFB, 1),
    "stop": (0xFC, 1),
}
_SYSTEM = frozenset(k for k, (status, _) in _SPECS.items() if status >= 0xF0)
# every status byte we read → (kind, channel, length): one dict look-up per message
_BY_STATUS: dict[int, tuple[MidiKind, int, int]] = {
    status | channel: (kind, channel, length)
    for kind, (status, length) in _SPECS.items()
    if kind not in _SYSTEM
    for channel in range(16)
} | {status: (kind, -1, length) for kind, (status, length) in _SPECS.items() if kind in _SYSTEM}


def parse(raw: bytes | Sequence[int], port: str = "", time: float = 0.0) -> MidiEvent | None:
    """Exactly one raw MIDI message → MidiEvent, or None (never raises).

    None for what we do not use (active sensing, MTC, song position, ...) and for what
    is not one well-formed message: empty, truncated, a data byte > 127, a sysex without
    its F7 or with a status byte inside, trailing bytes, or a running-status fragment
    (no status byte: rtmidi always delivers the status, on ALSA and JACK alike).
    """
    spec = _BY_STATUS.get(raw[0]) if raw else None
    if spec is None:
        return None
    kind, channel, length = spec
    size = len(raw)
    if length == 3:
        if size != 3 or raw[1] > 0x7F or raw[2] > 0x7F:
            return None
        if kind == "pitchbend":
            return MidiEvent(kind, channel, 0, raw[1] | raw[2] << 7, port, time)
        if kind == "note_on" and raw[2] == 0:  # velocity 0 is how most devices release
            kind = "note_off"
        return MidiEvent(kind, channel, raw[1], raw[2], port, time)
    if length == 2:
        if size != 2 or raw[1] > 0x7F:
            return None
        if kind == "program":
            return MidiEvent(kind, channel, raw[1], 0, port, time)
        return MidiEvent(kind, channel, 0, raw[1], port, time)
    if length == 1:
        return MidiEvent(kind, -1, 0, 0, port, time) if size == 1 else None
    if size < 2 or raw[-1] != 0xF7 or max(raw[1:-1], default=0) > 0x7F:
        return None
    return MidiEvent(kind, -1, 0, 0, port, time, bytes(raw))


def encode(event: MidiEvent) -> bytes:
    """MidiEvent → the raw bytes of one message (the inverse of ``parse``).

    Raises ValueError for an event that is not a valid message (channel, number or
    value out of range; a sysex whose ``data`` is not F0 ... F7): sending a wrapped-around
    value would light the wrong LED or jump a motor fader.
    """
    kind = event.kind
    if kind == "sysex":
        data = event.data
        if (
            len(data) < 2
            or data[0] != 0xF0
            or data[-1] != 0xF7
            or max(data[1:-1], default=0) > 0x7F
        ):
            raise ValueError("sysex data must be F0, data bytes 0..127, F7")
        return data
    if kind not in _SPECS:
        raise ValueError(f"cannot encode a {kind!r} message")
    status, length = _SPECS[kind]
    if kind in _SYSTEM:
        return bytes([status])
    _check("channel", event.channel, 15)
    status |= event.channel
    if kind == "pitchbend":
        _check("pitch bend", event.value, 16383)
        return bytes([status, event.value & 0x7F, event.value >> 7])
    if length == 2:
        byte = event.number if kind == "program" else event.value
        _check("program" if kind == "program" else "value", byte, 127)
        return bytes([status, byte])
    _check("number", event.number, 127)
    _check("value", event.value, 127)
    return bytes([status, event.number, event.value])


def _check(what: str, value: int, hi: int) -> None:
    if not 0 <= value <= hi:
        raise ValueError(f"{what} must be in range 0..{hi} (got {value})")


@dataclass(frozen=True, slots=True)
class Input:
    """A logical input a binding can listen to.

    ``kind`` is a source kind (see ``bridge.core.mapping.SOURCE_KINDS``); ``value`` the
    raw value (7- or 14-bit); ``delta`` non-zero for (N)RPN data increment/decrement.
    """

    kind: str
    channel: int
    number: int
    value: int
    delta: int = 0


_UNKNOWN, _MSB_FIRST, _LSB_FIRST = 0, 1, 2
_MSB, _LSB = 1, 2


class Pair:
    """One 14-bit value sent as two 7-bit halves, learning the sender's order."""

    __slots__ = ("lsb", "msb", "order", "pending")

    def __init__(self) -> None:
        self.msb = 0
        self.lsb = 0
        self.order = _UNKNOWN
        self.pending = 0  # the half that is waiting for its partner, if any

    def on_msb(self, v: int) -> int | None:
        """The MSB arrived; the 14-bit value if it completes one, else None (held)."""
        self.msb = v
        if self.pending == _LSB:
            self.pending, self.order = 0, _LSB_FIRST
            return v << 7 | self.lsb
        if self.order == _UNKNOWN:
            self.pending = _MSB
            return v << 7 | v
        if self.order == _MSB_FIRST and self.pending != _MSB:
            self.pending = _MSB
            return None
        # LSB-first sender whose LSB did not change, or a second MSB in a row.
        return v << 7 | self.lsb

    def on_lsb(self, v: int) -> int | None:
        """The LSB arrived; the 14-bit value if it completes one, else None (held)."""
        self.lsb = v
        if self.pending == _MSB:
            self.pending, self.order = 0, _MSB_FIRST
            return self.msb << 7 | v
        if self.order != _MSB_FIRST and self.pending != _LSB:
            self.pending = _LSB
            return None
        # MSB-first sender whose MSB did not change, or a second LSB in a row.
        return self.msb << 7 | v


@dataclass(slots=True)
class _Param:
    """(N)RPN selection on one channel."""

    kind: str = ""
    msb: int = 0
    lsb: int = 0


_NRPN_CCS = frozenset({6, 38, 96, 97, 98, 99, 100, 101})


class Assembler:
    """One input port's MIDI events → ``Input`` values.

    ``cc14``: the MSB CC numbers (0..31) that are 14-bit pairs. ``nrpn``: consume CC
    6/38/96-101 as NRPN/RPN. Keeps per-channel state; one per port.
    """

    def __init__(self, cc14: Iterable[int] = (), nrpn: bool = False) -> None:
        self.cc14 = frozenset(cc14)
        self.nrpn = nrpn
        lsbs = {n + 32 for n in self.cc14}
        self._special = self.cc14 | lsbs | (_NRPN_CCS if nrpn else frozenset())
        self._pairs: dict[tuple[int, int], Pair] = {}
        self._data: dict[tuple[int, str, int], Pair] = {}
        self._params: dict[int, _Param] = {}

    def feed(self, ev: MidiEvent) -> tuple[Input, ...]:
        """The logical inputs ``ev`` completes (often one, none while a half is held)."""
        kind = ev.kind
        if kind == "cc":
            if ev.number in self._special:
                return self._special_cc(ev.channel, ev.number, ev.value)
            return (Input("cc", ev.channel, ev.number, ev.value),)
        if kind == "note_on":
            return (Input("note", ev.channel, ev.number, ev.value),)
        if kind == "note_off":  # its velocity is the release speed, not a press
            return (Input("note", ev.channel, ev.number, 0),)
        if kind in ("pitchbend", "aftertouch", "poly_aftertouch", "program"):
            return (Input(kind, ev.channel, ev.number, ev.value),)
        return ()

    def _special_cc(self, ch: int, n: int, v: int) -> tuple[Input, ...]:
        if self.nrpn and n in _NRPN_CCS:
            return self._nrpn_cc(ch, n, v)
        if n in self.cc14:
            value = self._pair(ch, n).on_msb(v)
            return () if value is None else (Input("cc14", ch, n, value),)
        msb = n - 32
        value = self._pair(ch, msb).on_lsb(v)
        return () if value is None else (Input("cc14", ch, msb, value),)

    def _pair(self, ch: int, msb: int) -> Pair:
        pair = self._pairs.get((ch, msb))
        if pair is None:
            pair = self._pairs[(ch, msb)] = Pair()
        return pair

    def _nrpn_cc(self, ch: int, n: int, v: int) -> tuple[Input, ...]:
        param = self._params.setdefault(ch, _Param())
        if n in (99, 98, 101, 100):
            kind = "nrpn" if n in (99, 98) else "rpn"
            if param.kind != kind:
                param.kind, param.msb, param.lsb = kind, 0, 0
            if n in (99, 101):
                param.msb = v
            else:
                param.lsb = v
            if kind == "rpn" and param.msb == 127 and param.lsb == 127:
                param.kind = ""  # RPN null: deselect
            return ()
        if not param.kind:
            return (Input("cc", ch, n, v),)
        number = param.msb << 7 | param.lsb
        if n in (96, 97):
            return (Input(param.kind, ch, number, 0, 1 if n == 96 else -1),)
        key = (ch, param.kind, number)
        pair = self._data.get(key)
        if pair is None:
            pair = self._data[key] = Pair()
        value = pair.on_msb(v) if n == 6 else pair.on_lsb(v)
        return () if value is None else (Input(param.kind, ch, number, value),)
