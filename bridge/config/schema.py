"""The mapping file format, checked key by key: one TOML document → ``FileData``. Pure.

This is the schema as code (each section has its allowed keys, ranges and a did-you-mean
for typos). Everything that needs the whole set of files (slot numbers, scene names,
which controller a binding belongs to) is checked later in ``bridge.config.build``.
See docs/mapping.md for the format.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bridge.config import notes
from bridge.config.lines import Path
from bridge.config.osc import read_osc
from bridge.config.reader import Reader, render_path
from bridge.config.space import read_position, read_space
from bridge.core.config_values import check_config_value
from bridge.core.mapping import CURVES, ENCODINGS, MODES, SOURCE_KINDS, TAKEOVERS
from bridge.core.space import SpaceSpec
from bridge.core.types import CONFIG_SPECS, ChangeValue, SceneSpec, SlotSpec

TOP_KEYS = (
    "use",
    "name",
    "description",
    "controller",
    "controls",
    "slots",
    "config",
    "crossfader",
    "scenes",
    "bind",
    "space",
    "osc",
)
CONTROLLER_KEYS = (
    "name",
    "port",
    "regex",
    "index",
    "output",
    "channel",
    "clock",
    "transport",
)
SOURCE_KEYS = SOURCE_KINDS  # a binding names its source by its kind: cc = 7, note = 36
CONTROL_TYPES = ("fader", "knob", "encoder", "button", "pad")
CONTROL_KEYS = (*SOURCE_KEYS, "channel", "encoding", "type", "feedback")
BIND_KEYS = (
    "control",
    "controller",
    *SOURCE_KEYS,
    "channel",
    "type",
    "bank",
    "target",
    "mode",
    "encoding",
    "step",
    "acceleration",
    "takeover",
    "in",
    "range",
    "invert",
    "curve",
    "steps",
    "deadzone",
    "auto",
    "value",
    "off",
    "values",
    "glide",
    "feedback",
)
SLOT_KEYS = ("text", "weight", "range", "texts")
SCENE_KEYS = ("name", "glide", "weights", "texts", "config", "position")
CROSSFADER_KEYS = ("a", "b", "position")
FEEDBACK_KEYS = ("cc", "cc14", "note", "channel", "range", "on", "off")
MAX_SLOTS = 64
MAX_BANKS = 16
UNSET: Any = object()  # "not given": use the controller's default channel
ANY = None


@dataclass
class RawSource:
    """A source as written: kind, number (or -1 = any program), decrement, channel, and
    the top note of a ``notes`` range."""

    kind: str
    number: int = 0
    dec: int | None = None
    channel: Any = UNSET  # 0..15, None (any) or UNSET
    top: int | None = None


@dataclass
class RawControl:
    name: str
    source: RawSource
    path: Path
    encoding: str | None = None
    type: str | None = None
    feedback: Any = None


@dataclass
class RawBind:
    """One ``[[bind]]`` as written, type-checked, not yet resolved against the set."""

    reader: Reader
    path: Path
    data: dict[str, Any]
    source: RawSource | None
    control: str | None
    controller: str | None
    target: str | None
    file_controller: str | None = None
    ok: bool = True  # False when a key had a problem: check the rest, build nothing
    bad: frozenset[str] = frozenset()  # keys already reported: the rest is checked without

    def checked_data(self) -> dict[str, Any]:
        """The keys that passed their own check (a reported key is not judged twice)."""
        return {k: v for k, v in self.data.items() if k not in self.bad}


@dataclass
class RawController:
    name: str
    port: str
    regex: bool
    index: int
    output: str | None
    channel: int | None
    clock: bool
    transport: bool


@dataclass
class FileData:
    """One file's content, checked for types and ranges."""

    file: str
    reader: Reader
    uses: list[tuple[str, Path]] = field(default_factory=list)
    name: str = ""
    controller: RawController | None = None
    controls: dict[str, RawControl] = field(default_factory=dict)
    broken_controls: set[str] = field(default_factory=set)  # reported: bindings stay quiet
    slots: dict[int, SlotSpec] = field(default_factory=dict)
    config: dict[str, ChangeValue] = field(default_factory=dict)
    crossfader: dict[str, Any] = field(default_factory=dict)
    scenes: list[tuple[SceneSpec, Path]] = field(default_factory=list)
    binds: list[RawBind] = field(default_factory=list)
    space: SpaceSpec | None = None  # bridge.config.space
    osc: list[tuple[str, dict[str, Any], Path]] = field(default_factory=list)  # config.osc


def parse_data(data: dict[str, Any], reader: Reader) -> FileData:
    """Check one parsed TOML document; problems go to ``reader``."""
    r = reader
    r.keys(data, (), TOP_KEYS)
    fd = FileData(file=r.file, reader=r)
    fd.uses = _uses(r, data)
    fd.name = r.str_(data, "name", (), "") or ""
    r.str_(data, "description", ())
    ctrl = r.table(data, "controller", ())
    if ctrl is not None:
        fd.controller = _controller(r, ctrl)
    controls = r.table(data, "controls", ())
    for name, spec in (controls or {}).items():
        control = _control(r, name, spec)
        if control is not None:
            fd.controls[name] = control
        else:
            fd.broken_controls.add(name)
    for i, slot in enumerate(r.tables(data, "slots", ())):
        parsed = _slot(r, slot, ("slots", i))
        if parsed is not None:
            fd.slots[i + 1] = parsed
    config = r.table(data, "config", ())
    if config is not None:
        fd.config = read_config(r, config, ("config",))
    xf = r.table(data, "crossfader", ())
    if xf is not None:
        fd.crossfader = _crossfader(r, xf)
    for i, scene in enumerate(r.tables(data, "scenes", ())):
        parsed_scene = _scene(r, scene, ("scenes", i))
        if parsed_scene is not None:
            fd.scenes.append((parsed_scene, ("scenes", i)))
    fd.space = read_space(r, data)
    fd.osc = read_osc(r, data)
    file_ctrl = fd.controller.name if fd.controller else None
    for i, bind in enumerate(r.tables(data, "bind", ())):
        fd.binds.append(_bind(r, bind, ("bind", i), file_ctrl))
    return fd


def _uses(r: Reader, data: dict[str, Any]) -> list[tuple[str, Path]]:
    value = data.get("use")
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        r.problem(("use",), "must be a profile name or path, or a list of them", value)
        return []
    return [(v, ("use",)) for v in items]


def read_channel(r: Reader, data: dict[str, Any], path: Path) -> Any:
    """``channel = 1..16`` or ``"any"`` → 0..15 or None; UNSET when absent."""
    if "channel" not in data:
        return UNSET
    value = data["channel"]
    if value == "any":
        return ANY
    n = r.check_int(value, (*path, "channel"), 1, 16) if value != "any" else None
    if n is None:
        if isinstance(value, str):
            r.problems.pop()
            r.problem((*path, "channel"), 'must be 1..16 or "any"', value, '1..16, "any"')
        return UNSET
    return n - 1


def _controller(r: Reader, data: dict[str, Any]) -> RawController | None:
    path: Path = ("controller",)
    r.keys(data, path, CONTROLLER_KEYS)
    name = r.str_(data, "name", path)
    if not name:
        r.problem(path, 'a controller needs a name (name = "...")')
        return None
    port = r.str_(data, "port", path, name) or name
    regex = r.bool_(data, "regex", path)
    if regex:
        _check_regex(r, port, (*path, "port"))
    output = data.get("output")
    if output is True:
        output = port
    elif output is False:
        output = None
    elif output is not None and not isinstance(output, str):
        r.problem((*path, "output"), "must be a port name, or true for the input's name", output)
        output = None
    channel = read_channel(r, data, path)
    return RawController(
        name=name,
        port=port,
        regex=regex,
        index=(r.int_(data, "index", path, 1, 16, 1) or 1) - 1,
        output=output,
        channel=0 if channel is UNSET else channel,
        clock=r.bool_(data, "clock", path),
        transport=r.bool_(data, "transport", path),
    )


def _check_regex(r: Reader, pattern: str, path: Path) -> None:
    import re

    try:
        re.compile(pattern)
    except re.error as exc:
        r.problem(path, f"bad regular expression: {exc}", pattern)


def read_source(r: Reader, data: dict[str, Any], path: Path) -> RawSource | None:
    """The one source key of a control or binding, with its number checked."""
    given = [k for k in SOURCE_KEYS if k in data]
    if len(given) > 1:
        r.problem((*path, given[1]), "give only one source", given, ", ".join(SOURCE_KEYS))
        return None
    if not given:
        return None
    kind = given[0]
    value = data[kind]
    key = (*path, kind)
    src = RawSource(kind)
    src.channel = read_channel(r, data, path)
    if kind in ("pitchbend", "aftertouch"):
        if value is not True:
            r.problem(key, "must be true", value)
            return None
        return src
    if kind == "program" and value == "any":
        src.number = -1
        return src
    if kind == "notes":
        found = notes.read_range(r, value, key)
        if found is None:
            return None
        src.number, src.top = found
        return src
    if kind in ("cc", "note") and isinstance(value, list):
        # An inc/dec pair: [up, down].
        if len(value) != 2:
            r.problem(key, "an inc/dec pair is two numbers [up, down]", value)
            return None
        up = r.check_int(value[0], key, 0, 127)
        down = r.check_int(value[1], key, 0, 127)
        if up is None or down is None:
            return None
        src.number, src.dec = up, down
        return src
    hi = {"cc14": 31, "nrpn": 16383, "rpn": 16383}.get(kind, 127)
    if kind == "cc14" and isinstance(value, int) and not isinstance(value, bool) and value > 31:
        r.problem(key, "14-bit MSB must be 0..31 (its LSB is MSB + 32)", value, "0..31")
        return None
    n = r.check_int(value, key, 0, hi)
    if n is None:
        return None
    src.number = n
    return src


def _control(r: Reader, name: str, data: Any) -> RawControl | None:
    path: Path = ("controls", name)
    if not isinstance(data, dict):
        r.problem(path, "must be a table like { cc = 7 }", data)
        return None
    r.keys(data, path, CONTROL_KEYS)
    src = read_source(r, data, path)
    if src is None:
        if not any(k in data for k in SOURCE_KEYS):
            r.problem(path, "needs a source", allowed=", ".join(SOURCE_KEYS))
        return None
    return RawControl(
        name=name,
        source=src,
        path=path,
        encoding=r.choice(data, "encoding", path, ENCODINGS, None),
        type=r.choice(data, "type", path, CONTROL_TYPES, None),
        feedback=data.get("feedback"),
    )


def _slot(r: Reader, data: dict[str, Any], path: Path) -> SlotSpec | None:
    r.keys(data, path, SLOT_KEYS)
    text = r.str_(data, "text", path)
    if not text:
        r.problem(path, 'a slot needs a prompt text (text = "...")')
    lo, hi = r.pair(data, "range", path, 0.0, 10.0) or (0.0, 2.0)
    if lo > hi:
        r.problem((*path, "range"), "low must be below high", [lo, hi])
        lo, hi = hi, lo
    weight = r.float_(data, "weight", path, lo, hi, 0.0)
    texts = data.get("texts", [])
    if not isinstance(texts, list) or not all(isinstance(t, str) and t for t in texts):
        r.problem((*path, "texts"), "must be a list of prompt texts", texts)
        texts = []
    if not text:  # its other keys were still checked above: every problem in one pass
        return None
    if texts and text not in texts:
        texts = [text, *texts]
    return SlotSpec(text=text, weight=weight or 0.0, lo=lo, hi=hi, texts=tuple(texts))


def read_config(r: Reader, data: dict[str, Any], path: Path) -> dict[str, ChangeValue]:
    """Generation config fields (snake_case, per CONFIG_SPECS); "auto" → None."""
    r.keys(data, path, tuple(CONFIG_SPECS))
    out: dict[str, ChangeValue] = {}
    for key, value in data.items():
        spec = CONFIG_SPECS.get(key)
        if spec is None:
            continue
        parsed = config_value(r, key, value, (*path, key))
        if parsed is not UNSET:
            out[key] = parsed
    return out


def config_value(r: Reader, key: str, value: Any, path: Path) -> Any:
    """One config field's value checked (strictly) against its spec; UNSET when bad."""
    spec = CONFIG_SPECS[key]
    checked = check_config_value(spec, value, strict=True)
    if checked.ok:
        return checked.value
    message = checked.problem or ""
    if spec.kind == "enum" and isinstance(value, str) and message == "unknown value":
        message += suggest(value, spec.choices)
    if spec.kind == "bool":
        r.problem(path, message, value)
    elif message == "has no auto setting":
        r.problem(path, f"{key} {message}", value)
    else:
        r.problem(path, message, value, checked.allowed)
    return UNSET


def suggest(word: str, choices: Any) -> str:
    from bridge.config.reader import suggest as _suggest

    return _suggest(word, choices)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _crossfader(r: Reader, data: dict[str, Any]) -> dict[str, Any]:
    path: Path = ("crossfader",)
    r.keys(data, path, CROSSFADER_KEYS)
    out: dict[str, Any] = {}
    for deck in ("a", "b"):
        value = data.get(deck, [])
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SLOTS for v in value
        ):
            r.problem((*path, deck), "must be a list of slot numbers", value, f"1..{MAX_SLOTS}")
            continue
        out[deck] = tuple(value)
    position = r.float_(data, "position", path, 0.0, 1.0)
    if position is not None:
        out["position"] = position
    return out


def _scene(r: Reader, data: dict[str, Any], path: Path) -> SceneSpec | None:
    r.keys(data, path, SCENE_KEYS)
    name = r.str_(data, "name", path)
    if not name:
        r.problem(path, 'a scene needs a name (name = "...")')
        return None
    glide = r.float_(data, "glide", path, 0.0, 600.0, 0.0)
    weights: dict[int, float] = {}
    for key, value in (r.table(data, "weights", path) or {}).items():
        slot = _slot_number(r, key, (*path, "weights", key))
        weight = r.check_float(value, (*path, "weights", key), 0.0, 10.0)
        if slot is not None and weight is not None:
            weights[slot] = weight
    texts: dict[int, str] = {}
    for key, value in (r.table(data, "texts", path) or {}).items():
        slot = _slot_number(r, key, (*path, "texts", key))
        if not isinstance(value, str) or not value:
            r.problem((*path, "texts", key), "must be a prompt text", value)
        elif slot is not None:
            texts[slot] = value
    config = r.table(data, "config", path)
    cfg = read_config(r, config, (*path, "config")) if config is not None else {}
    position = None
    if "position" in data:
        position = read_position(r, data["position"], (*path, "position"))
    return SceneSpec(
        name=name, weights=weights, texts=texts, config=cfg, glide=glide or 0.0, position=position
    )


def _slot_number(r: Reader, key: str, path: Path) -> int | None:
    if not key.isdigit() or not 1 <= int(key) <= MAX_SLOTS:
        r.problem(path, "keys are slot numbers", key, f"1..{MAX_SLOTS}")
        return None
    return int(key)


def _bind(r: Reader, data: dict[str, Any], path: Path, file_ctrl: str | None) -> RawBind:
    before = len(r.problems)
    r.keys(data, path, BIND_KEYS)
    control = r.str_(data, "control", path)
    src = read_source(r, data, path)
    if control and src is not None:
        r.problem((*path, "control"), "give a control or a source, not both", control)
    if not control and src is None and not any(k in data for k in SOURCE_KEYS):
        r.problem(path, "needs a control or a source", allowed=", ".join(("control", *SOURCE_KEYS)))
    target = r.str_(data, "target", path)
    if target is None and "target" not in data:
        r.problem(path, 'needs a target (target = "...")')
    r.choice(data, "mode", path, MODES, None)
    r.choice(data, "encoding", path, ENCODINGS, None)
    r.choice(data, "takeover", path, TAKEOVERS, None)
    r.choice(data, "type", path, CONTROL_TYPES, None)
    r.choice(data, "auto", path, ("low", "high"), None)
    r.int_(data, "bank", path, 1, MAX_BANKS)
    r.float_(data, "step", path, 0.0001, 1.0)
    r.float_(data, "acceleration", path, 0.0, 10.0)
    r.float_(data, "deadzone", path, 0.0, 0.25)
    r.float_(data, "glide", path, 0.0, 600.0)
    r.int_(data, "steps", path, 2, 16384)
    r.bool_(data, "invert", path)
    _curve(r, data, path)
    prefix = render_path(path) + "."
    bad = {
        p.key[len(prefix) :].split(".")[0].split("[")[0]
        for p in r.problems[before:]
        if p.key.startswith(prefix)
    }
    return RawBind(
        reader=r,
        path=path,
        data=data,
        source=src,
        control=control,
        controller=r.str_(data, "controller", path),
        target=target,
        file_controller=file_ctrl,
        ok=len(r.problems) == before,
        bad=frozenset(bad),
    )


def _curve(r: Reader, data: dict[str, Any], path: Path) -> None:
    value = data.get("curve")
    if value is None or isinstance(value, str):
        r.choice(data, "curve", path, CURVES, None)
        return
    points = value if isinstance(value, list) else None
    ok = points is not None and len(points) >= 2
    for p in points or []:
        ok = ok and isinstance(p, list) and len(p) == 2
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
        ok = ok and all(0 <= v <= 1 for v in p)
    if not ok:
        r.problem(
            (*path, "curve"),
            "breakpoints must be two or more [x, y] pairs within 0..1",
            value,
            ", ".join(CURVES) + ", [[x, y], ...]",
        )
        return
    xs = [p[0] for p in value]
    if any(b <= a for a, b in itertools.pairwise(xs)):
        r.problem((*path, "curve"), "breakpoint x values must increase", value)


def curve_points(value: Any) -> tuple[tuple[float, float], ...]:
    if isinstance(value, list):
        return tuple((float(x), float(y)) for x, y in value)
    return ()
