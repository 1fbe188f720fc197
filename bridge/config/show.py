"""The merged mapping set as text, for ``promptbridge check --show``. Pure.

A performer who writes a performance on top of a shipped profile (``use = "..."``) sees
what the merge produced: controllers, prompt slots, scenes, crossfader decks, the
starting config (fields that differ from the defaults) and every binding grouped by
control, each with the file and line it came from, so what the profile added is visible.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from bridge.core.mapping import Binding, MappingSet
from bridge.core.types import GenerationConfig, SceneSpec


def describe(mapping: MappingSet) -> list[str]:
    """The lines ``check --show`` prints for one merged set."""
    files = ", ".join(Path(f).name for f in mapping.files)
    lines = [f"set: {mapping.name or '(unnamed)'}  (files, in merge order: {files})"]
    lines += _controllers(mapping)
    lines += _slots(mapping)
    lines += _scenes(mapping.performance.scenes)
    lines += _decks(mapping)
    lines += _config(mapping.performance.config)
    lines += _bindings(mapping.bindings)
    return lines


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _controllers(mapping: MappingSet) -> list[str]:
    out = [f"controllers ({len(mapping.controllers)}):"]
    for c in mapping.controllers:
        match = f"regex {c.port!r}" if c.regex else f"port {c.port!r}"
        output = f", LEDs to {c.output!r}" if c.output else ""
        out.append(f"  {c.name}: {match}{output}  [{Path(c.file).name}]")
    return out


def _slots(mapping: MappingSet) -> list[str]:
    slots = mapping.performance.slots
    out = [f"slots ({len(slots)}):"]
    for n, s in enumerate(slots, start=1):
        alts = f"  (+{len(s.texts) - 1} alternative texts)" if len(s.texts) > 1 else ""
        out.append(
            f"  {n:>2}  weight {_num(s.weight)} in {_num(s.lo)}..{_num(s.hi)}  {s.text!r}{alts}"
        )
    return out


def _scenes(scenes: tuple[SceneSpec, ...]) -> list[str]:
    out = [f"scenes ({len(scenes)}):"]
    for n, scene in enumerate(scenes, start=1):
        parts = [f"glide {_num(scene.glide)} s"]
        if scene.weights:
            parts.append("weights " + " ".join(f"{k}={_num(v)}" for k, v in scene.weights.items()))
        if scene.texts:
            parts.append("texts " + ", ".join(f"{k}={v!r}" for k, v in scene.texts.items()))
        if scene.config:
            parts.append("config " + " ".join(f"{k}={_value(v)}" for k, v in scene.config.items()))
        out.append(f"  {n:>2}  {scene.name}: " + "; ".join(parts))
    return out


def _decks(mapping: MappingSet) -> list[str]:
    p = mapping.performance
    if not p.deck_a and not p.deck_b:
        return ["crossfader decks: none"]
    a = ", ".join(map(str, p.deck_a)) or "none"
    b = ", ".join(map(str, p.deck_b)) or "none"
    return [f"crossfader decks: A = slots {a}; B = slots {b}; position {_num(p.crossfader)}"]


def _value(v: object) -> str:
    return "auto" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _config(config: GenerationConfig) -> list[str]:
    default = asdict(GenerationConfig())
    changed = {k: v for k, v in asdict(config).items() if v != default[k]}
    if not changed:
        return ["config: defaults"]
    return ["config: " + " ".join(f"{k}={_value(v)}" for k, v in changed.items())]


def _bindings(bindings: tuple[Binding, ...]) -> list[str]:
    by_control: dict[str, list[Binding]] = defaultdict(list)
    for b in bindings:
        by_control[b.label].append(b)
    out = [f"bindings ({len(bindings)}, by control):"]
    for label, group in by_control.items():
        source = group[0].source.describe()
        out.append(f"  {label}" if label.endswith(source) else f"  {label} ({source})")
        for b in group:
            out.append(f"      {_binding(b)}")
    return out


def _binding(b: Binding) -> str:
    parts = [f"-> {b.target}", b.mode]
    if b.target_kind in ("float", "int") and b.mode == "absolute":
        parts.append(f"{_num(b.transform.out_lo)}..{_num(b.transform.out_hi)}")
        parts.append(b.takeover)
    if b.mode in ("trigger", "toggle", "momentary") and b.value is not None:
        parts.append(f"value {_value(b.value)}")
    if b.encoding:
        parts.append(b.encoding)
    if b.bank is not None:
        parts.append(f"bank {b.bank}")
    if b.feedback is not None:
        parts.append("feedback")
    where = f"{Path(b.file).name}:{b.line}" if b.line else Path(b.file).name
    return " ".join(parts) + f"  [{where}]"
