"""Helpers for the mapper tests: a mapping from TOML text and a plain-dict target state."""

from __future__ import annotations

from dataclasses import fields

from bridge.config import loads
from bridge.core.mapper import Mapper
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


class State:
    """Target values in a dict, set verbatim by Changes (the mapper's ``current``)."""

    def __init__(self, mapper: Mapper) -> None:
        perf = mapper.mapping.performance
        self.values: dict[str, ChangeValue] = {
            "playback": "stop",
            "scene.recall": None,
            "crossfader": perf.crossfader,
            "master_volume": 1.0,
            "record": False,
        }
        for n, slot in enumerate(perf.slots, start=1):
            self.values[f"slot.{n}.weight"] = slot.weight
            self.values[f"slot.{n}.text"] = slot.text
        for f in fields(perf.config):
            self.values[f"config.{f.name}"] = getattr(perf.config, f.name)

    def get(self, target: str) -> ChangeValue:
        return self.values.get(target)

    def apply(self, changes: list[Change]) -> None:
        for c in changes:
            self.values[c.target] = c.value


class Rig:
    """A mapper, its state and a clock: ``send`` feeds events and applies the changes."""

    def __init__(self, binds: str, head: str = HEAD) -> None:
        self.mapper = Mapper(loads(head + binds))
        self.state = State(self.mapper)
        self.now = 0.0

    def send(self, *events: MidiEvent, dt: float = 0.01, port: str = "C") -> list[Change]:
        out: list[Change] = []
        for ev in events:
            self.now += dt
            ev = MidiEvent(ev.kind, ev.channel, ev.number, ev.value, port, self.now)
            changes = self.mapper.handle(ev, self.now, self.state.get)
            self.state.apply(changes)
            out.extend(changes)
        return out

    def __getitem__(self, target: str) -> ChangeValue:
        return self.state.get(target)


def cc(n: int, v: int, ch: int = 0) -> MidiEvent:
    return MidiEvent("cc", ch, n, v)


def note(n: int, v: int = 100, ch: int = 0) -> MidiEvent:
    return MidiEvent("note_on" if v else "note_off", ch, n, v)
