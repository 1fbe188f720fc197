"""The compiled mapping: plain frozen dataclasses the mapper runs on. No I/O.

``bridge.config`` reads TOML profiles and performances and compiles them into a
``MappingSet``; the mapper (``bridge.core.mapper``) and the MIDI adapter only ever see
these values. Nothing here parses text.

* ``ControllerSpec``: one physical (or virtual) controller: how to find its ports, its
  default channel, whether it follows MIDI clock and transport.
* ``Source``: which incoming message a binding listens to (after 14-bit/NRPN assembly).
* ``Transform``: input range → curve → output range, with invert, steps and deadzone.
* ``Feedback``: what to send back to the controller so an LED, ring or motor fader shows
  the target's value.
* ``Binding``: source + mode + transform + takeover + target (+ bank, feedback).
* ``MappingSet``: controllers, bindings, the performance, OSC address bindings and the
  files it came from.

Port matching (``match_ports``) is here too because it is pure: the MIDI adapter hands
it the list of port names it sees.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from bridge.core.oscmap import OscBinding
from bridge.core.types import ChangeValue, PerformanceSpec

SourceKind = Literal[
    "cc",
    "cc14",
    "nrpn",
    "rpn",
    "note",
    "pitchbend",
    "aftertouch",
    "poly_aftertouch",
    "program",
    "notes",
]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
# Largest raw value per source kind (the low end is always 0).
RAW_MAX: dict[str, int] = {
    "cc": 127,
    "cc14": 16383,
    "nrpn": 16383,
    "rpn": 16383,
    "note": 127,
    "pitchbend": 16383,
    "aftertouch": 127,
    "poly_aftertouch": 127,
    "program": 127,
    "notes": 127,
}
# Keys and pads played into the model (engines with note conditioning: Supports.notes).
# A binding targets "notes" (a keyboard: held keys and onsets) or "drums" (pad hits);
# the mapper turns its notes into these Changes, whose value is the MIDI note number.
NOTE_TARGETS: dict[str, tuple[str, ...]] = {
    "notes": ("notes.on", "notes.off"),
    "drums": ("drums.hit",),
}
NOTE_CHANGES = frozenset(c for changes in NOTE_TARGETS.values() for c in changes)

Mode = Literal["absolute", "relative", "toggle", "momentary", "trigger", "step", "cycle"]
MODES: tuple[str, ...] = (
    "absolute",
    "relative",
    "toggle",
    "momentary",
    "trigger",
    "step",
    "cycle",
)
BUTTON_MODES = frozenset({"toggle", "momentary", "trigger", "step", "cycle"})
ENCODINGS: tuple[str, ...] = (
    "twos-complement",
    "binary-offset",
    "sign-bit",
    "sign-bit-inverted",
    "inc-dec",
)
Takeover = Literal["immediate", "pickup", "scale"]
TAKEOVERS: tuple[str, ...] = ("immediate", "pickup", "scale")
CURVES: tuple[str, ...] = ("linear", "log", "exp", "s-curve")
# What a target holds: continuous numbers, whole numbers, on/off, one of a list, or an
# action (a trigger with no state of its own, like "tap").
TargetKind = Literal["float", "int", "bool", "enum", "action"]

ANY_PORT = "*"
# Ports that are never a controller (ALSA's loopback client).
HIDDEN_PORTS = re.compile(r"midi through", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ControllerSpec:
    """One controller: port match, feedback output, default channel, clock and transport.

    ``port`` is a case-insensitive substring (or a regex when ``regex``), ``"*"`` = any
    port; ``index`` (0-based) picks among several matching ports (two identical devices).
    ``channel`` is 0..15 or None (any). ``clock``: MIDI clock sets bpm; ``transport``:
    Start → reset + play, Continue → play, Stop → stop.
    """

    name: str
    port: str = ANY_PORT
    regex: bool = False
    index: int = 0
    output: str | None = None
    channel: int | None = 0
    clock: bool = False
    transport: bool = False
    file: str = ""

    def matches(self, port_name: str) -> bool:
        """Does ``port_name`` match this controller's input pattern (ignoring index)?"""
        return _matches(self.port, self.regex, port_name)

    def matches_output(self, port_name: str) -> bool:
        """Does ``port_name`` match this controller's output (feedback) pattern?"""
        return self.output is not None and _matches(self.output, self.regex, port_name)


def _matches(pattern: str, regex: bool, port_name: str) -> bool:
    if HIDDEN_PORTS.search(port_name):
        return False
    if pattern == ANY_PORT:
        return True
    if regex:
        return re.search(pattern, port_name, re.IGNORECASE) is not None
    return pattern.lower() in port_name.lower()


def match_ports(spec: ControllerSpec, names: Sequence[str], output: bool = False) -> str | None:
    """The port of ``names`` this controller should open, or None.

    Exact (case-insensitive) matches come first, then substring/regex matches, each in
    the order given; ``spec.index`` picks among them (two identical controllers).
    """
    pattern = spec.output if output else spec.port
    if pattern is None:
        return None
    found = [n for n in names if _matches(pattern, spec.regex, n)]
    exact = [n for n in found if n.lower() == pattern.lower()]
    ordered = exact + [n for n in found if n not in exact]
    return ordered[spec.index] if spec.index < len(ordered) else None


@dataclass(frozen=True, slots=True)
class Source:
    """One logical input: ``kind`` on ``channel`` (0..15, None = any) with ``number``.

    ``number`` is the CC (MSB CC for cc14), note, (N)RPN parameter, or program (-1 = any
    program: the program number becomes the value). ``dec`` is the decrement CC/note of
    an inc/dec pair (``number`` then increments). A ``notes`` source is a keyboard
    range: every note from ``number`` to ``top`` (inclusive).
    """

    kind: SourceKind
    number: int = 0
    channel: int | None = 0
    dec: int | None = None
    top: int | None = None

    def numbers(self) -> range:
        """The note numbers a ``notes`` source takes (just ``number`` for other kinds)."""
        top = self.top if self.kind == "notes" and self.top is not None else self.number
        return range(self.number, top + 1)

    @property
    def raw_max(self) -> int:
        return RAW_MAX[self.kind]

    def describe(self) -> str:
        ch = "any" if self.channel is None else str(self.channel + 1)
        num = "" if self.kind in ("pitchbend", "aftertouch") else f" {self.number}"
        if self.kind == "program" and self.number < 0:
            num = " any"
        dec = f"/{self.dec}" if self.dec is not None else ""
        if self.kind == "notes":
            num = f" {self.number}-{self.top}"
        return f"{self.kind}{num}{dec} ch {ch}"


@dataclass(frozen=True, slots=True)
class Transform:
    """Raw input → target units.

    Order: clamp to ``in_lo..in_hi`` and normalise to 0..1 → ``invert`` → ``deadzone``
    (values within it of 0 and 1, and of 0.5 when ``centre``, snap there) → ``curve``
    (or piecewise-linear ``points``) → ``steps`` (quantise to that many evenly spaced
    values, 0 = off) → scale to ``out_lo..out_hi``.
    """

    in_lo: float = 0.0
    in_hi: float = 127.0
    out_lo: float = 0.0
    out_hi: float = 1.0
    invert: bool = False
    curve: str = "linear"
    points: tuple[tuple[float, float], ...] = ()
    steps: int = 0
    deadzone: float = 0.0
    centre: bool = False


@dataclass(frozen=True, slots=True)
class Feedback:
    """What to send back so the controller shows a target's value.

    ``kind`` "cc" | "cc14" | "note" on ``channel`` (0..15) and ``number``. Continuous
    targets send a value scaled into ``lo..hi``; on/off states send ``on``/``off``.
    """

    kind: Literal["cc", "cc14", "note"]
    channel: int
    number: int
    lo: int = 0
    hi: int = 127
    on: int = 127
    off: int = 0


@dataclass(frozen=True, slots=True)
class Binding:
    """One control driving one target.

    ``mode``: absolute | relative | toggle | momentary | trigger | step | cycle.
    ``encoding`` names the relative-encoder rule. ``step`` is a relative tick's size as a
    fraction of the output range; ``acceleration`` grows it for fast turns. ``value`` is
    what a trigger sends (and a toggle's "on"), ``off`` a toggle's/momentary's "off".
    ``values`` is the list step/cycle move through (and that an absolute control picks
    from by zone). ``auto`` ("low"/"high") makes that end of the control mean "auto"
    (None). ``bank`` None = active in every bank.
    """

    controller: str
    source: Source
    target: str
    target_kind: TargetKind
    mode: Mode = "absolute"
    transform: Transform = Transform()
    encoding: str | None = None
    step: float = 0.01
    acceleration: float = 1.0
    takeover: Takeover = "immediate"
    value: ChangeValue = None
    off: ChangeValue = None
    values: tuple[ChangeValue, ...] = ()
    glide: float | None = None
    bank: int | None = None
    auto: Literal["low", "high"] | None = None
    feedback: Feedback | None = None
    label: str = ""
    file: str = ""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class MappingSet:
    """Everything loaded from a set of profile/performance files, compiled."""

    controllers: tuple[ControllerSpec, ...] = ()
    bindings: tuple[Binding, ...] = ()
    performance: PerformanceSpec = field(default_factory=PerformanceSpec)
    files: tuple[Path, ...] = ()
    banks: int = 1
    name: str = ""
    notes: tuple[str, ...] = field(default=())
    osc: tuple[OscBinding, ...] = ()  # a surface's own addresses ([osc], bridge.config.osc)

    def controller(self, name: str) -> ControllerSpec | None:
        for spec in self.controllers:
            if spec.name == name:
                return spec
        return None
