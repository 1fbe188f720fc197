"""MIDI learn: tell what kind of control sent a short burst of messages. Pure, no I/O.

``classify(events)`` looks at the first messages one control sent while the user moved
it and answers with a ``Detected`` source:

* notes → a pad/button (``note``); CC values only 0/127 → a button (``cc``);
* CC n (0..31) together with CC n+32 → a 14-bit pair (``cc14``, MSB n);
* CC 99/98 + 6 (NRPN) → ``nrpn`` with the parameter number;
* CC values that *repeat* inside one of the relative bands → a relative encoder, the
  encoding told by the band. The user is asked to turn encoders slowly **left**
  (decrement), like Ableton's learn: left is 127 (twos-complement), 63 (binary-offset),
  65 (sign-bit) or 1 (sign-bit-inverted); turned right, 1 and 65 would be ambiguous;
* otherwise values that walk → an absolute 7-bit knob/fader;
* pitch bend / aftertouch / program change → those sources.

``Collector`` gathers one control's burst: the first event that is not clock/sense
(and not from a control learned before) picks the channel; it is done once the control
has been quiet for ``quiet`` seconds (time passed in as ``now``). ``detect_line(event)``
renders one event as a ``[controls]`` line to paste (``learn --detect``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from bridge.core.types import MidiEvent

# (band of values seen when turning LEFT, encoding name): checked in this order
RELATIVE_BANDS: tuple[tuple[range, str], ...] = (
    (range(97, 128), "twos-complement"),  # -1 = 127
    (range(40, 64), "binary-offset"),  # -1 = 63
    (range(65, 89), "sign-bit"),  # -1 = 65 (bit 6 set = negative)
    (range(1, 25), "sign-bit-inverted"),  # -1 = 1 (bit 6 clear = negative)
)
_IGNORED = frozenset({"clock", "start", "continue", "stop", "sysex"})
_NRPN_CCS = frozenset({99, 98, 6, 38, 96, 97})


@dataclass(frozen=True, slots=True)
class Detected:
    """What a control is: its source (as in a profile's ``[controls]``) and its type."""

    kind: str  # "cc" | "cc14" | "nrpn" | "note" | "pitchbend" | "aftertouch" | "program"
    number: int
    channel: int  # 0..15
    type: str  # "knob" | "fader" | "encoder" | "button" | "pad"
    encoding: str | None = None
    note: str = ""  # a human explanation for the profile comment

    def fields(self) -> dict[str, object]:
        """The control's keys for a profile (channel 1-based)."""
        source: object = True if self.kind in ("pitchbend", "aftertouch") else self.number
        out: dict[str, object] = {self.kind: source, "channel": self.channel + 1}
        out["type"] = self.type
        if self.encoding:
            out["encoding"] = self.encoding
        return out

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.kind, self.number, self.channel)


def classify(events: Sequence[MidiEvent]) -> Detected | None:
    """The control that sent ``events`` (one control's burst), or None if nothing usable."""
    events = [e for e in events if e.kind not in _IGNORED]
    if not events:
        return None
    first = events[0]
    if first.kind in ("note_on", "note_off", "poly_aftertouch"):
        return Detected("note", first.number, first.channel, "pad", note="note (pad/button)")
    if first.kind in ("pitchbend", "aftertouch"):
        return Detected(first.kind, 0, first.channel, "fader", note=first.kind)
    if first.kind == "program":
        return Detected("program", first.number, first.channel, "button", note="program change")
    return _classify_cc([e for e in events if e.kind == "cc" and e.channel == first.channel])


def _classify_cc(ccs: list[MidiEvent]) -> Detected | None:
    if not ccs:
        return None
    channel = ccs[0].channel
    numbers = Counter(e.number for e in ccs)
    if {99, 98} <= numbers.keys() and numbers.keys() & {6, 38, 96, 97}:
        return _nrpn(ccs, channel)
    msb = min(numbers)
    if msb < 32 and msb + 32 in numbers:
        return Detected(
            "cc14", msb, channel, "fader", note=f"14-bit pair: CC {msb} + CC {msb + 32}"
        )
    number = numbers.most_common(1)[0][0]
    values = [e.value for e in ccs if e.number == number]
    if set(values) <= {0, 127}:
        return Detected("cc", number, channel, "button", note="button (CC 127 on / 0 off)")
    encoding = relative_encoding(values)
    if encoding is not None:
        return Detected(
            "cc", number, channel, "encoder", encoding, note=f"relative encoder ({encoding})"
        )
    return Detected("cc", number, channel, "knob", note="absolute 7-bit")


def _nrpn(ccs: list[MidiEvent], channel: int) -> Detected:
    msb = next(e.value for e in ccs if e.number == 99)
    lsb = next(e.value for e in ccs if e.number == 98)
    return Detected("nrpn", msb * 128 + lsb, channel, "knob", note="NRPN")


def relative_encoding(values: Sequence[int]) -> str | None:
    """The encoding if ``values`` look like a relative encoder turned left, else None.

    Relative encoders repeat a few step values (63, 63, 62, 63); absolute controls walk
    (64, 63, 62, 61). So: most consecutive values repeat, and all fall in one band.
    """
    if len(values) < 3:
        return None
    repeats = sum(1 for a, b in pairwise(values) if a == b)
    if repeats < (len(values) - 1) / 2 or len(set(values)) > 4:
        return None
    for band, name in RELATIVE_BANDS:
        if all(v in band for v in values):
            return name
    return None


@dataclass
class Collector:
    """Gathers the burst of the first control moved (ignoring ``skip``ped sources)."""

    quiet: float = 0.6
    skip: frozenset[tuple[str, int, int]] = frozenset()
    events: list[MidiEvent] = field(default_factory=list)
    last: float | None = None
    _channel: int | None = None

    def add(self, event: MidiEvent, now: float) -> None:
        if event.kind in _IGNORED:
            return
        if self._channel is not None and event.channel != self._channel:
            return  # another control on another channel: not the one being learned
        if not self.events:
            shared = event.kind == "cc" and event.number in _NRPN_CCS  # every NRPN uses them
            if raw_key(event) in self.skip and not shared:
                return  # a control learned already, still moving
            self._channel = event.channel
        self.events.append(event)
        self.last = now

    def done(self, now: float) -> bool:
        return self.last is not None and now - self.last >= self.quiet

    def result(self) -> Detected | None:
        return classify(self.events)

    def keys(self) -> frozenset[tuple[str, int, int]]:
        """Every raw source in the burst (to skip while learning the next controls)."""
        return frozenset(raw_key(e) for e in self.events)


def raw_key(event: MidiEvent) -> tuple[str, int, int]:
    """(kind, number, channel) with note on/off folded together."""
    kind = "note" if event.kind in ("note_on", "note_off") else event.kind
    return (kind, event.number, event.channel)


def detect_line(event: MidiEvent) -> str | None:
    """One incoming event as a ``[controls]`` line to paste (``learn --detect``)."""
    ch = event.channel + 1
    if event.kind == "cc":
        name, src, what = f"cc{event.number}", f"cc = {event.number}", f"value {event.value}"
    elif event.kind in ("note_on", "note_off"):
        name, src = f"note{event.number}", f"note = {event.number}"
        what = f"{event.kind} velocity {event.value}"
    elif event.kind in ("pitchbend", "aftertouch"):
        name, src, what = event.kind, f"{event.kind} = true", f"value {event.value}"
    elif event.kind == "poly_aftertouch":
        name, src = f"pressure{event.number}", f"poly_aftertouch = {event.number}"
        what = f"pressure {event.value}"
    elif event.kind == "program":
        name, src, what = f"program{event.number}", f"program = {event.number}", "program"
    else:
        return None
    return f"{name} = {{ {src}, channel = {ch} }}  # {what}"
