"""The target grammar: the one parser of target names. Pure, no I/O.

A target names what a Change sets (the list and units are in ``bridge.core.types``)::

    slot.N.weight | slot.N.text        N: a 1-based slot number, digits only, no leading 0
    config.<field>                     a CONFIG_SPECS field
    playback | scene.recall | ...      one of SIMPLE_TARGETS
    space.x | space.y | space.z        the position in the prompt space (bridge.core.space)

``parse_target(text)`` returns a ``Target`` or a one-line reason saying what is allowed.
The mapping compiler, the performance, the status API, OSC and ``learn`` all call it;
whether slot N (or a space with that axis) exists is for the caller to say (it depends on
the set). Results are cached: the set of targets in use is small and fixed, and every
MIDI message reads and writes one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from bridge.core.space import AXES
from bridge.core.types import CONFIG_SPECS, SIMPLE_TARGETS, TARGETS_HELP

SLOT_FIELDS = ("weight", "text")
ALLOWED = ", ".join(TARGETS_HELP)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target. ``name``: the slot field, the config field, the space axis, or the
    simple target."""

    kind: Literal["slot", "config", "space", "simple"]
    name: str
    number: int = 0  # the slot number (1-based) for kind "slot"

    def __str__(self) -> str:
        if self.kind == "slot":
            return f"slot.{self.number}.{self.name}"
        if self.kind in ("config", "space"):
            return f"{self.kind}.{self.name}"
        return self.name


@functools.lru_cache(maxsize=4096)
def parse_target(text: str) -> Target | str:
    """``text`` as a Target, or why it is not one (a reason naming what is allowed)."""
    if text in SIMPLE_TARGETS:
        return Target("simple", text)
    head, _, rest = text.partition(".")
    if head == "slot":
        number, _, field = rest.partition(".")
        if not (number.isascii() and number.isdecimal()) or number.startswith("0"):
            return f"{text!r}: slot number must be a whole number >= 1"
        if field not in SLOT_FIELDS:
            return f"{text!r}: unknown slot field (allowed: {', '.join(SLOT_FIELDS)})"
        return Target("slot", field, int(number))
    if head == "config":
        if rest not in CONFIG_SPECS:
            return f"{text!r}: unknown config field (allowed: {', '.join(CONFIG_SPECS)})"
        return Target("config", rest)
    if head == "space":
        if rest not in AXES:
            return f"{text!r}: unknown space axis (allowed: {', '.join(AXES)})"
        return Target("space", rest)
    return f"unknown target {text!r} (allowed: {ALLOWED})"


def slot_target(number: int, field: str = "weight") -> str:
    """The name of slot ``number``'s ``field`` target (the inverse of parse_target)."""
    return f"slot.{number}.{field}"
