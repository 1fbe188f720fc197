"""The ``[osc]`` table of a mapping file: a surface's own addresses bound to targets. Pure.

::

    [osc]
    "/1/fader1" = "slot.1.weight"                          # 0..1 scaled into 0..2
    "/1/fader9" = { target = "config.bpm", range = [90, 140] }
    "/1/push1" = { target = "playback", value = "toggle" }   # a button

A number target takes the surface's 0..1 scaled into ``range`` (default: the target's own
range); ``value`` makes a button (it sends ``value`` on press, the release is ignored);
any other target takes the surface's value as it comes. ``learn --osc`` writes this table.
Later files win per address. Native addresses (``/slot/1/weight``) need no binding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.config.lines import Path
from bridge.config.reader import Reader
from bridge.config.targets import ALLOWED, target_info
from bridge.core.oscmap import OscBinding
from bridge.core.types import SceneSpec, SlotSpec

if TYPE_CHECKING:
    from bridge.config.schema import FileData

OSC_KEYS = ("target", "range", "value")


def read_osc(r: Reader, data: dict[str, Any]) -> list[tuple[str, dict[str, Any], Path]]:
    """The file's ``[osc]`` entries as (address, {target, range?, value?}, path)."""
    table = r.table(data, "osc", ())
    out: list[tuple[str, dict[str, Any], Path]] = []
    for address, spec in (table or {}).items():
        path: Path = ("osc", address)
        if not address.startswith("/") or "//" in address or address == "/":
            r.problem(path, "an OSC address starts with / (e.g. /1/fader1)", address)
            continue
        entry = {"target": spec} if isinstance(spec, str) else spec
        if not isinstance(entry, dict) or not isinstance(entry.get("target"), str):
            r.problem(path, 'must be a target or a table like { target = "..." }', spec)
            continue
        r.keys(entry, path, OSC_KEYS)
        out.append((address, entry, path))
    return out


def check_osc(
    files: list[FileData],
    slots: dict[int, SlotSpec],
    scenes: list[SceneSpec],
    banks: int,
    space_dims: int,
) -> tuple[OscBinding, ...]:
    """Every file's bindings resolved against the set (later files win per address)."""
    bound: dict[str, OscBinding] = {}
    for fd in files:
        for address, entry, path in fd.osc:
            binding = _binding(fd.reader, address, entry, path, (slots, scenes, banks, space_dims))
            if binding is not None:
                bound[address] = binding
    return tuple(bound.values())


def _binding(
    r: Reader, address: str, entry: dict[str, Any], path: Path, context: tuple[Any, ...]
) -> OscBinding | None:
    target = entry["target"]
    info = target_info(target, *context)
    if isinstance(info, str):
        r.problem((*path, "target"), info, target, ALLOWED if info.startswith("unknown") else None)
        return None
    if "value" in entry:
        value = entry["value"]
        if isinstance(value, list | dict):
            r.problem((*path, "value"), "must be one value", value)
            return None
        return OscBinding(address, target, value=value)
    if info.kind not in ("float", "int"):
        if "range" in entry:
            r.problem((*path, "range"), f"{info.kind} targets have no range", entry["range"])
        return OscBinding(address, target)
    lo, hi = min(info.lo, info.hi), max(info.lo, info.hi)
    pair = r.pair(entry, "range", path, lo, hi) if "range" in entry else (info.lo, info.hi)
    if pair is None:
        return None
    return OscBinding(address, target, pair[0], pair[1], scale=True)
