"""Read a Standard MIDI File into timed events (adapter: imports mido, reads a file).

Used by ``promptbridge demo`` to perform a scripted set of knob moves. Messages become
``MidiEvent``s tagged with ``port`` through ``bridge.core.midi.parse``, as live input does;
text/marker meta events become narration strings the demo prints when it reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import mido

from bridge.core.midi import parse
from bridge.core.types import MidiEvent


@dataclass(frozen=True, slots=True)
class Timed:
    """One scripted item: ``at`` seconds from the start; an event or a narration line."""

    at: float
    event: MidiEvent | None = None
    text: str = ""


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
        event = parse(msg.bytes(), port)  # the one MIDI parser, as for live input
        if event is not None:
            items.append(Timed(at, event=event))
    return items


def demo_script_path() -> Path:
    """The demo performance shipped inside the package."""
    return Path(str(resources.files("bridge.data").joinpath("demo.mid")))
