"""Merging checked files into one ``MappingSet``: controllers, bindings, the performance.

Pure: takes ``FileData`` (from ``bridge.config.schema``), in load order (profiles a file
``use``s come before it), and returns the compiled set and every problem found.

Merge rules (later files win): controllers and their named controls by controller name;
prompt slots and scenes by number; config fields and crossfader keys one by one;
bindings by source: a later file's binding replaces earlier bindings that the same
message could reach (same controller, message and overlapping channel and bank), while
two such bindings in one file are an error.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path as FsPath
from typing import Any

from bridge.config.binding import SetParts
from bridge.config.binding import binding as compile_binding
from bridge.config.osc import check_osc
from bridge.config.schema import (
    FileData,
    RawBind,
)
from bridge.config.space import check_space
from bridge.core.mapping import (
    Binding,
    ControllerSpec,
    MappingSet,
)
from bridge.core.types import (
    ChangeValue,
    GenerationConfig,
    PerformanceSpec,
    SceneSpec,
    SlotSpec,
)
from bridge.errors import Problem


def build(files: list[FileData], paths: tuple[FsPath, ...]) -> tuple[MappingSet, list[Problem]]:
    """Merge ``files`` (in load order) into a MappingSet; also return every problem."""
    s, config, crossfader, name = _merge(files)
    space = check_space(files, s.slots)
    s.space_dims = space.dims if space else 0
    osc = check_osc(files, s.slots, s.scenes, s.banks, s.space_dims)
    bindings = _choose(files, s)
    problems = [p for fd in files for p in fd.reader.problems]
    performance = replace(_performance(s, config, crossfader, files), space=space)
    controllers = _controllers(s)
    mapping = MappingSet(controllers, bindings, performance, paths, s.banks, name, osc=osc)
    return mapping, problems


def _merge(
    files: list[FileData],
) -> tuple[SetParts, dict[str, ChangeValue], dict[str, Any], str]:
    """Controllers, controls, slots, scenes, config and crossfader, later files winning."""
    s = SetParts({}, {}, {}, {}, [], 1)
    config: dict[str, ChangeValue] = {}
    crossfader: dict[str, Any] = {}
    scenes: dict[int, SceneSpec] = {}
    name = ""
    for fd in files:
        name = fd.name or name
        if fd.controller is not None:
            s.controllers[fd.controller.name] = fd.controller
            s.controller_files[fd.controller.name] = fd.file
            s.controls[fd.controller.name] = dict(fd.controls)
            s.broken |= {(fd.controller.name, name) for name in fd.broken_controls}
        elif fd.controls:
            first = next(iter(fd.controls.values()))
            fd.reader.problem(first.path[:1], "named controls need a [controller] in the same file")
        s.slots.update(fd.slots)
        config.update(fd.config)
        crossfader.update(fd.crossfader)
        for number, (scene, _) in enumerate(fd.scenes, start=1):
            scenes[number] = scene
    s.scenes = [scenes[n] for n in sorted(scenes)]
    s.banks = _banks(files)
    _check_scene_slots(files, s.slots)
    return s, config, crossfader, name


def _choose(files: list[FileData], s: SetParts) -> tuple[Binding, ...]:
    """Every file's bindings; a clash inside one file is a problem, a later file's binding
    replaces earlier ones on the same source (bank overlap)."""
    chosen: list[Binding] = []
    for fd in files:
        added: list[tuple[Binding, RawBind]] = []
        for rb in fd.binds:
            binding = compile_binding(rb, s)
            if binding is None:
                continue
            clash = next((e for e in added if _overlap(e[0], binding)), None)
            if clash is not None:
                bank = binding.bank or clash[0].bank
                rb.reader.problem(
                    rb.path,
                    f"same source as {_where(clash[1])} in "
                    + ("every bank" if bank is None else f"bank {bank}"),
                    binding.source.describe(),
                )
                continue
            added.append((binding, rb))
        mine = [b for b, _ in added]
        chosen = [b for b in chosen if not any(_overlap(b, n) for n in mine)] + mine
    return tuple(chosen)


def _controllers(s: SetParts) -> tuple[ControllerSpec, ...]:
    return tuple(
        ControllerSpec(
            name=c.name,
            port=c.port,
            regex=c.regex,
            index=c.index,
            output=c.output,
            channel=c.channel,
            clock=c.clock,
            transport=c.transport,
            file=s.controller_files[c.name],
        )
        for c in s.controllers.values()
    )


def _where(rb: RawBind) -> str:
    line = rb.reader.line(rb.path)
    return f"bind[{int(rb.path[1]) + 1}]" + (f" (line {line})" if line else "")


def _messages(b: Binding) -> set[tuple[str, int]]:
    """The physical messages a binding listens to (a 14-bit pair also takes its LSB CC)."""
    src = b.source
    kind = "cc" if src.kind == "cc14" else src.kind
    numbers = set(src.numbers())
    if src.kind == "notes":
        kind = "note"  # a keyboard range clashes with a note binding inside it
    if src.dec is not None:
        numbers.add(src.dec)
    if src.kind == "cc14":
        numbers.add(src.number + 32)
    return {(kind, n) for n in numbers}


def _overlap(a: Binding, b: Binding) -> bool:
    """Could one message reach both? Same controller and message, channels and banks
    overlapping (None = every channel / every bank)."""
    if a.controller != b.controller:
        return False
    ca, cb = a.source.channel, b.source.channel
    if ca is not None and cb is not None and ca != cb:
        return False
    if a.bank is not None and b.bank is not None and a.bank != b.bank:
        return False
    return not _messages(a).isdisjoint(_messages(b))


def _banks(files: list[FileData]) -> int:
    banks = 1
    for fd in files:
        for rb in fd.binds:
            for key in ("bank", "value"):
                v = rb.data.get(key)
                if (
                    isinstance(v, int)
                    and not isinstance(v, bool)
                    and (key == "bank" or rb.target == "bank")
                ):
                    banks = max(banks, min(v, 16))
            values = rb.data.get("values")
            if rb.target == "bank" and isinstance(values, list):
                banks = max([banks, *(v for v in values if isinstance(v, int) and v <= 16)])
    return banks


def _check_scene_slots(files: list[FileData], slots: dict[int, SlotSpec]) -> None:
    """Scenes name slots of the merged set, and weigh them within each slot's range
    (recall would clamp a weight outside it without a word)."""
    for fd in files:
        for scene, path in fd.scenes:
            for part, numbers in (("weights", scene.weights), ("texts", scene.texts)):
                for n in numbers:
                    if n not in slots:
                        have = f"1..{max(slots)}" if slots else "none"
                        fd.reader.problem(
                            (*path, part, str(n)), f"no prompt slot {n} (slots: {have})"
                        )
            for n, weight in scene.weights.items():
                spec = slots.get(n)
                if spec is not None and not spec.lo <= weight <= spec.hi:
                    fd.reader.problem(
                        (*path, "weights", str(n)),
                        f"outside slot {n}'s range",
                        weight,
                        f"{_num(spec.lo)}..{_num(spec.hi)}",
                    )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _performance(
    s: SetParts, config: dict[str, ChangeValue], xf: dict[str, Any], files: list[FileData]
) -> PerformanceSpec:
    count = max(s.slots) if s.slots else 0
    slots = tuple(s.slots[n] for n in range(1, count + 1) if n in s.slots)
    decks: dict[str, tuple[int, ...]] = {}
    for deck in ("a", "b"):
        numbers = xf.get(deck, ())
        bad = [n for n in numbers if n > count]
        if bad:
            fd = next((f for f in reversed(files) if deck in f.crossfader), files[-1])
            fd.reader.problem(("crossfader", deck), "no such prompt slot", bad, f"1..{count}")
        decks[deck] = tuple(n for n in numbers if n <= count)
    return PerformanceSpec(
        slots=slots,
        scenes=tuple(s.scenes),
        deck_a=decks["a"],
        deck_b=decks["b"],
        config=GenerationConfig(**config),  # type: ignore[arg-type]
        crossfader=float(xf.get("position", 0.5)),
    )


# --- one binding ---------------------------------------------------------------------
