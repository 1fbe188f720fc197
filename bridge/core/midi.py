"""MIDI bytes → events, and events → logical inputs (14-bit CC, NRPN/RPN). Pure, no I/O.

* ``parse(raw, port, time)`` turns one raw MIDI message (bytes from rtmidi) into a
  ``MidiEvent`` or None for what we do not use or cannot read (never raises).
  ``encode(event)`` is its inverse, for feedback output.
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
from typing import Any

from bridge.core.types import MidiEvent

_CHANNEL_KINDS: dict[int, Any] = {
    0x80: "note_off",
    0x90: "note_on",
    0xA0: "poly_aftertouch",
    0xB0: "cc",
    0xC0: "program",
    0xD0: "aftertouch",
    0xE0: "pitchbend",
}
_LENGTH = {0x80: 3, 0x90: 3, 0xA0: 3, 0xB0: 3, 0xC0: 2, 0xD0: 2, 0xE0: 3}
_SYSTEM = {0xF8: "clock", 0xFA: "start", 0xFB: "continue", 0xFC: "stop"}
_SYSTEM_BYTES = {v: k for k, v in _SYSTEM.items()}
_STATUS = {v: k for k, v in _CHANNEL_KINDS.items()}


def parse(raw: bytes | Sequence[int], port: str = "", time: float = 0.0) -> MidiEvent | None:
    """One raw MIDI message → MidiEvent, or None (unused, truncated or malformed)."""
    if not raw:
        return None
    status = raw[0]
    if status in _SYSTEM:
        return MidiEvent(_SYSTEM[status], -1, port=port, time=time)  # type: ignore[arg-type]
    if status == 0xF0:
        if raw[-1] != 0xF7:
            return None
        return MidiEvent("sysex", -1, port=port, time=time, data=bytes(raw))
    high = status & 0xF0
    if high not in _CHANNEL_KINDS or len(raw) < _LENGTH[high]:
        return None
    data = raw[1 : _LENGTH[high]]
    if any(b > 0x7F for b in data):
        return None
    channel = status & 0x0F
    kind = _CHANNEL_KINDS[high]
    if kind == "pitchbend":
        return MidiEvent(kind, channel, 0, data[0] | data[1] << 7, port, time)
    if kind in ("program", "aftertouch"):
        number = data[0] if kind == "program" else 0
        value = 0 if kind == "program" else data[0]
        return MidiEvent(kind, channel, number, value, port, time)
    if kind == "note_on" and data[1] == 0:
        kind = "note_off"
    return MidiEvent(kind, channel, data[0], data[1], port, time)


def encode(event: MidiEvent) -> bytes:
    """MidiEvent → raw bytes (channel messages, clock/transport and sysex)."""
    if event.kind == "sysex":
        return event.data
    if event.kind in _SYSTEM_BYTES:
        return bytes([_SYSTEM_BYTES[event.kind]])
    status = _STATUS[event.kind] | (event.channel & 0x0F)
    if event.kind == "pitchbend":
        return bytes([status, event.value & 0x7F, (event.value >> 7) & 0x7F])
    if event.kind == "program":
        return bytes([status, event.number & 0x7F])
    if event.kind == "aftertouch":
        return bytes([status, event.value & 0x7F])
    return bytes([status, event.number & 0x7F, event.value & 0x7F])


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
