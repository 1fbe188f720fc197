"""Read a Standard MIDI File into timed events (adapter: imports mido, reads a file).

Used by ``promptbridge demo`` to perform a scripted set of knob moves. Channel messages
become ``MidiEvent``s tagged with ``port``; text/marker meta events become narration
strings the demo prints when it reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import mido

from bridge.core.types import MidiEvent


@dataclass(frozen=True, slots=True)
class Timed:
    """One scripted item: ``at`` seconds from the start; an event or a narration line."""

    at: float
    event: MidiEvent | None = None
    text: str = ""


def _event(msg: mido.Message, port: str) -> MidiEvent | None:
    kind = msg.type
    if kind == "control_change":
        return MidiEvent("cc", msg.channel, msg.control, msg.value, port)
    if kind == "note_on" and msg.velocity > 0:
        return MidiEvent("note_on", msg.channel, msg.note, msg.velocity, port)
    if kind in ("note_on", "note_off"):
        return MidiEvent("note_off", msg.channel, msg.note, msg.velocity, port)
    if kind == "pitchwheel":
        return MidiEvent("pitchbend", msg.channel, 0, msg.pitch + 8192, port)
    if kind == "program_change":
        return MidiEvent("program", msg.channel, msg.program, 0, port)
    if kind == "aftertouch":
        return MidiEvent("aftertouch", msg.channel, 0, msg.value, port)
    if kind == "polytouch":
        return MidiEvent("poly_aftertouch", msg.channel, msg.note, msg.value, port)
    return None


def read_script(path: str | Path, port: str = "demo") -> list[Timed]:
    """All events of a MIDI file with their absolute times in seconds (tempo applied)."""
    items: list[Timed] = []
    at = 0.0
    for msg in mido.MidiFile(str(path)):  # iterating a MidiFile yields delta seconds
        at += msg.time
        if msg.is_meta:
            if msg.type in ("text", "marker") and msg.text != "end":
                items.append(Timed(at, text=msg.text))
            continue
        event = _event(msg, port)
        if event is not None:
            items.append(Timed(at, event=event))
    return items


def demo_script_path() -> Path:
    """The demo performance shipped inside the package."""
    return Path(str(resources.files("bridge.data").joinpath("demo.mid")))
