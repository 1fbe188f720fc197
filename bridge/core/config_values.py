"""The one check of a generation-config value against its ``CONFIG_SPECS`` entry. Pure.

Every reader of a config value calls ``check_config_value``: the mapping files (schema),
live changes (the Performance, hence MIDI, scenes, the status API, OSC), the codec (what
we send and what a client sends ``serve``) and ``render``'s flags. Two policies:

* **strict** (files, the wire, flags): the value must already be right: a bool is a
  bool, an enum is one of its choices (exact), a number is in range, an int is whole.
* **lenient** (live controls): a knob may overshoot, so numbers are clamped into range
  (``Checked.clamped`` says so: callers report it), ints rounded, a number is a bool
  (>= 0.5 is on) and "on"/"off"/"true"/"false" too, enums match case-insensitively or by
  0-based index.

Both accept ``None`` and ``"auto"`` (and ``SCALE_UNSPECIFIED`` for scale) as auto where
the spec allows it. A refusal is ``Checked.problem`` (short: "out of range") plus
``Checked.allowed`` (what is allowed), so each caller words the line its own way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bridge.core.types import SCALE_UNSPECIFIED, ControlSpec

_BOOL_WORDS = {"true": True, "on": True, "false": False, "off": False}


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of a check: the value to use, or why not and what is allowed."""

    value: Any = None
    problem: str | None = None
    allowed: str = ""
    clamped: bool = False  # lenient only: the number was moved into range

    @property
    def ok(self) -> bool:
        return self.problem is None


def allowed_text(spec: ControlSpec) -> str:
    """What ``spec`` allows, as the one-line errors show it."""
    auto = ', "auto"' if spec.auto else ""
    if spec.kind == "bool":
        return "true, false"
    if spec.kind == "enum":
        return ", ".join(spec.choices) + auto
    return f"{_num(spec.lo)}..{_num(spec.hi)}{auto}"


def check_config_value(spec: ControlSpec, value: Any, *, strict: bool = False) -> Checked:
    """``value`` checked for ``spec`` under the strict or lenient policy (module docstring)."""
    if _is_auto(spec, value):
        if spec.auto:
            return Checked(None)
        return _refuse(spec, "has no auto setting")
    if spec.kind == "bool":
        return _bool(spec, value, strict)
    if spec.kind == "enum":
        return _enum(spec, value, strict)
    return _number(spec, value, strict)


def _is_auto(spec: ControlSpec, value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str) and value.strip().lower() == "auto":
        return True
    return spec.name == "scale" and value == SCALE_UNSPECIFIED


def _refuse(spec: ControlSpec, problem: str) -> Checked:
    return Checked(problem=problem, allowed=allowed_text(spec))


def _bool(spec: ControlSpec, value: Any, strict: bool) -> Checked:
    if isinstance(value, bool):
        return Checked(value)
    if not strict:
        number = finite_number(value)
        if number is not None:
            return Checked(number >= 0.5)
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return Checked(_BOOL_WORDS[value.strip().lower()])
    return _refuse(spec, "must be true or false")


def _enum(spec: ControlSpec, value: Any, strict: bool) -> Checked:
    if value in spec.choices:
        return Checked(value)
    if not strict:
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value < len(spec.choices):
                return Checked(spec.choices[value])
        elif isinstance(value, str):
            for choice in spec.choices:
                if choice.lower() == value.strip().lower():
                    return Checked(choice)
    checked = _refuse(spec, "unknown value")
    if not strict:
        return Checked(problem=checked.problem, allowed=checked.allowed + " (or a 0-based index)")
    return checked


def _number(spec: ControlSpec, value: Any, strict: bool) -> Checked:
    number = finite_number(value)
    whole = "whole number" if spec.kind == "int" else "number"
    if number is None:
        return _refuse(spec, f"must be a {whole}")
    if strict and spec.kind == "int" and not number.is_integer():
        return _refuse(spec, "must be a whole number")
    inside = spec.lo <= number <= spec.hi
    if strict and not inside:
        return _refuse(spec, "out of range")
    number = min(spec.hi, max(spec.lo, number))
    if spec.kind == "int":
        return Checked(round(number), clamped=not inside)
    return Checked(number, clamped=not inside)


def finite_number(value: Any) -> float | None:
    """A finite float from an int or float (a bool is not a number here), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
