"""Helpers for the mapper tests: a mapping from TOML text driving the real Instrument."""

from __future__ import annotations

from bridge.config import loads
from bridge.core.instrument import Instrument
from bridge.core.types import Change, ChangeValue, MidiEvent

HEAD = """
[controller]
name = "C"
port = "test"
output = "test out"
channel = 1

[[slots]]
text = "a"
[[slots]]
text = "b"
texts = ["b", "b2", "b3"]
[[slots]]
text = "c"

[[scenes]]
name = "one"
glide = 3.0
weights = { 1 = 1.0 }

[[scenes]]
name = "two"
weights = { 2 = 1.0 }
"""


class Rig:
    """The daemon's own Instrument and a clock: ``send`` feeds events, returns the Changes.

    The Changes go into the real Performance (clamped, validated, glided), so what the
    mapper reads back through ``current`` is what a running daemon would hold."""

    def __init__(self, binds: str, head: str = HEAD) -> None:
        self.instrument = Instrument(loads(head + binds))
        self.mapper = self.instrument.mapper
        self.now = 0.0

    def send(self, *events: MidiEvent, dt: float = 0.01, port: str = "C") -> list[Change]:
        out: list[Change] = []
        for ev in events:
            self.now += dt
            ev = MidiEvent(ev.kind, ev.channel, ev.number, ev.value, port, self.now)
            out.extend(self.instrument.midi(ev, self.now))
        return out

    def __getitem__(self, target: str) -> ChangeValue:
        return self.instrument.current(target)

    def set(self, target: str, value: ChangeValue) -> None:
        """Move a target from elsewhere (a scene, the status API, another knob)."""
        outcome = self.instrument.apply(Change(target, value, source="test"), self.now)
        assert outcome.refused is None and outcome.note is None, outcome


def cc(n: int, v: int, ch: int = 0) -> MidiEvent:
    return MidiEvent("cc", ch, n, v)


def note(n: int, v: int = 100, ch: int = 0) -> MidiEvent:
    return MidiEvent("note_on" if v else "note_off", ch, n, v)
