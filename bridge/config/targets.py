"""What each target accepts: kind, range and list of values. Pure.

``target_info(target, slots, scenes, banks, space_dims)`` returns a ``TargetInfo`` or an error
message with a did-you-mean. Target names are those of ``bridge.core.types``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config.reader import suggest
from bridge.core.mapping import NOTE_TARGETS, TargetKind
from bridge.core.space import AXES
from bridge.core.targets import parse_target
from bridge.core.types import (
    CONFIG_SPECS,
    PLAYBACK_ACTIONS,
    RECORD_ACTIONS,
    TARGETS_HELP,
    ChangeValue,
    SceneSpec,
    SlotSpec,
)


@dataclass(frozen=True)
class TargetInfo:
    """``values``: the list step/cycle move through (and zones of an absolute control)."""

    kind: TargetKind
    lo: float = 0.0
    hi: float = 1.0
    values: tuple[ChangeValue, ...] = ()
    auto: bool = False


def target_info(
    target: str,
    slots: dict[int, SlotSpec],
    scenes: list[SceneSpec],
    banks: int,
    space_dims: int = 0,
) -> TargetInfo | str:
    """The target's TargetInfo, or a one-line error message."""
    if target in NOTE_TARGETS:  # keys and pads into the model: bindings only, no value
        return TargetInfo("action")
    parsed = parse_target(target)
    if isinstance(parsed, str):
        return _unknown(target)
    if parsed.kind == "slot":
        spec = slots.get(parsed.number)
        if spec is None:
            have = f"1..{max(slots)}" if slots else "none defined"
            return f"no prompt slot {parsed.number} (slots: {have})"
        if parsed.name == "weight":
            return TargetInfo("float", spec.lo, spec.hi)
        return TargetInfo("enum", values=spec.texts or (spec.text,))
    if parsed.kind == "config":
        cs = CONFIG_SPECS[parsed.name]
        if cs.kind == "bool":
            return TargetInfo("bool", 0, 1, (False, True))
        if cs.kind == "enum":
            values = ((None,) if cs.auto else ()) + cs.choices
            return TargetInfo("enum", values=values, auto=cs.auto)
        return TargetInfo(cs.kind, cs.lo, cs.hi, auto=cs.auto)
    if parsed.kind == "space":
        if AXES.index(parsed.name) >= space_dims:
            have = f"a {space_dims}D space" if space_dims else "no [space]"
            return f"{target} needs a prompt space with that axis (this set has {have})"
        return TargetInfo("float", 0.0, 1.0)
    if target == "playback":
        return TargetInfo("action", values=PLAYBACK_ACTIONS)
    if target == "record":
        return TargetInfo("action", values=RECORD_ACTIONS)
    if target in ("scene.recall", "scene.store"):
        names = tuple(s.name for s in scenes)
        return TargetInfo(
            "action", 1, max(1, len(scenes)), tuple(range(1, len(scenes) + 1)) + names
        )
    if target in ("crossfader", "master_volume"):
        return TargetInfo("float", 0.0, 1.0)
    if target == "bank":
        return TargetInfo("int", 1, banks, tuple(range(1, banks + 1)))
    if target == "tap_tempo":
        return TargetInfo("action", values=(True,))
    return _unknown(target)


def _unknown(target: str) -> str:
    return f"unknown target{suggest(target, _NAMES)}"


# A binding may also play keys and pads into the model (not a status API target).
_BINDING_TARGETS = (*TARGETS_HELP, *NOTE_TARGETS)
_NAMES = (*(t for t in _BINDING_TARGETS if "N" not in t), "slot.1.weight", "slot.1.text")
ALLOWED = ", ".join(_BINDING_TARGETS)
