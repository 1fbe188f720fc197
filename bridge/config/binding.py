"""One ``[[bind]]`` compiled into a ``Binding``: source, mode, transform, takeover,
feedback. Pure: problems go to the file's Reader (every one of them, in one pass: a bad
part of a binding does not hide the others), never an exception.

``binding(rb, parts)`` resolves the source (a raw message or a named control of the
controller), checks the target against what the set defines, picks the mode a control
type implies, and compiles the transform and feedback. Keys and pads played into a
model's note conditioning (``notes``/``drums`` targets) compile to event bindings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.config import notes
from bridge.config.lines import Path
from bridge.config.reader import Reader, show, suggest
from bridge.config.schema import (
    FEEDBACK_KEYS,
    UNSET,
    RawBind,
    RawControl,
    RawController,
    RawSource,
    curve_points,
    read_channel,
)
from bridge.config.targets import ALLOWED, TargetInfo, target_info
from bridge.core.mapping import (
    NOTE_TARGETS,
    RAW_MAX,
    Binding,
    Feedback,
    Source,
    Transform,
)
from bridge.core.types import (
    ChangeValue,
    SceneSpec,
    SlotSpec,
)

# Sources that are absolute positions: pickup by default on continuous targets.
POSITION_KINDS = frozenset({"cc", "cc14", "nrpn", "rpn"})


@dataclass
class SetParts:
    controllers: dict[str, RawController]
    controller_files: dict[str, str]
    controls: dict[str, dict[str, RawControl]]
    slots: dict[int, SlotSpec]
    scenes: list[SceneSpec]
    banks: int
    broken: set[tuple[str, str]] = field(default_factory=set)  # (controller, control) reported
    space_dims: int = 0  # axes of the set's prompt space (0: none)


def binding(rb: RawBind, s: SetParts) -> Binding | None:
    """Compile one binding. Every check runs, even after one failed, so ``check`` shows
    all of a binding's problems in one pass; any problem means no binding."""
    r, path = rb.reader, rb.path
    info: TargetInfo | str | None = None
    if rb.target is not None:
        info = target_info(rb.target, s.slots, s.scenes, s.banks, s.space_dims)
        if isinstance(info, str):
            allowed = ALLOWED if info.startswith("unknown") else None
            r.problem((*path, "target"), info, rb.target, allowed)
    resolved = _resolve_source(rb, s)
    if resolved is None or not isinstance(info, TargetInfo) or rb.target is None:
        return None
    before = len(r.problems)
    binding = _compile(rb, rb.checked_data(), info, rb.target, resolved)
    return binding if rb.ok and len(r.problems) == before else None


def _compile(
    rb: RawBind,
    data: dict[str, Any],
    info: TargetInfo,
    target: str,
    resolved: tuple[RawController, RawSource, RawControl | None],
) -> Binding | None:
    """The binding from checked parts; problems go to the reader, none stops the others."""
    r, path = rb.reader, rb.path
    ctrl, raw, control = resolved
    channel = raw.channel
    if channel is UNSET:
        channel = ctrl.channel
    source = Source(raw.kind, raw.number, channel, raw.dec, raw.top)  # type: ignore[arg-type]
    why = notes.mismatch(target, raw)
    if why is not None:
        r.problem((*path, "target"), *why)
        return None
    if target in NOTE_TARGETS:
        return notes.binding(rb, ctrl.name, source, control)
    encoding = data.get("encoding") or (control.encoding if control else None)
    if raw.dec is not None:
        encoding = "inc-dec"
    ctype = data.get("type") or (control.type if control else None)
    button = ctype in ("button", "pad") or (ctype is None and raw.kind in ("note", "program"))
    mode = data.get("mode") or _default_mode(info, encoding, button, raw)
    _check_mode(r, path, mode, encoding, raw, info)
    values = _values(r, path, data, info, mode, target)
    value, off = _on_off(r, path, data, info, mode, target, raw, values or ())
    auto = _auto(rb, data, info, mode, target)
    transform = _transform(r, path, data, info, raw, mode)
    takeover = data.get("takeover") or _default_takeover(mode, raw, info)
    feedback = _feedback(r, path, data, control, source, ctrl)
    label = f"{ctrl.name} {control.name}" if control else f"{ctrl.name} {source.describe()}"
    return Binding(
        controller=ctrl.name,
        source=source,
        target=target,
        target_kind=info.kind,
        mode=mode,  # type: ignore[arg-type]
        transform=transform or Transform(),
        encoding=encoding,
        step=float(data.get("step", 0.01)),
        acceleration=float(data.get("acceleration", 1.0 if _turns(encoding) else 0.0)),
        takeover=takeover,  # type: ignore[arg-type]
        value=None if value is UNSET else value,
        off=None if off is UNSET else off,
        values=values or (),
        glide=float(data["glide"]) if "glide" in data else None,
        bank=data.get("bank"),
        auto=auto,
        feedback=feedback if feedback is not UNSET else None,
        label=label,
        file=r.file,
        line=r.line(path),
    )


def _auto(rb: RawBind, data: dict[str, Any], info: TargetInfo, mode: str, target: str) -> Any:
    """The binding's ``auto`` position, checked: only for targets with an auto setting, and
    only on absolute controls."""
    auto = data.get("auto")
    if auto and not info.auto:
        rb.reader.problem((*rb.path, "auto"), f"{target} has no auto position", auto)
    elif auto and mode != "absolute":
        message = f"auto positions need absolute mode, not {mode}"
        rb.reader.problem((*rb.path, "auto"), message, auto)
    return auto


def _default_takeover(mode: str, raw: RawSource, info: TargetInfo) -> str:
    """Pickup for a position control on a continuous target (no jump), else immediate."""
    continuous = info.kind in ("float", "int")
    if mode == "absolute" and raw.kind in POSITION_KINDS and continuous:
        return "pickup"
    return "immediate"


def _turns(encoding: str | None) -> bool:
    """Encoders accelerate by default; inc/dec buttons do not."""
    return encoding is not None and encoding != "inc-dec"


def _resolve_source(
    rb: RawBind, s: SetParts
) -> tuple[RawController, RawSource, RawControl | None] | None:
    r, path = rb.reader, rb.path
    if rb.controller is not None and rb.controller not in s.controllers:
        r.problem(
            (*path, "controller"),
            f"unknown controller{suggest(rb.controller, s.controllers)}",
            rb.controller,
            ", ".join(s.controllers) or "none loaded",
        )
        return None
    if rb.control:
        return _resolve_control(rb, s)
    if rb.source is None:
        return None
    name = rb.controller or rb.file_controller
    if name is None:
        if len(s.controllers) != 1:
            why = "no [controller] loaded" if not s.controllers else "several controllers loaded"
            r.problem(path, f'which controller? {why}: add controller = "..." or use a profile')
            return None
        name = next(iter(s.controllers))
    return s.controllers[name], rb.source, None


def _resolve_control(
    rb: RawBind, s: SetParts
) -> tuple[RawController, RawSource, RawControl | None] | None:
    r, path, name = rb.reader, rb.path, rb.control or ""
    order = [rb.controller] if rb.controller else list(s.controls)
    if rb.file_controller in order:
        order.remove(rb.file_controller)
        order.insert(0, rb.file_controller)
    found = [c for c in order if c is not None and name in s.controls.get(c, {})]
    if not found and any((c, name) in s.broken for c in order if c):
        return None  # the control's own problem is reported; "unknown" would mislead
    if not found:
        known = {n for c in order if c for n in s.controls.get(c, {})}
        r.problem(
            (*path, "control"),
            f"unknown control{suggest(name, known)}",
            name,
            ", ".join(sorted(known)) or "none defined",
        )
        return None
    if len(found) > 1 and rb.file_controller not in found and not rb.controller:
        r.problem((*path, "control"), "several controllers have this control: add controller")
        return None
    ctrl = s.controllers[found[0]]
    control = s.controls[found[0]][name]
    src = RawSource(
        control.source.kind,
        control.source.number,
        control.source.dec,
        control.source.channel,
        control.source.top,
    )
    override = read_channel(r, rb.checked_data(), path)
    if override is not UNSET:
        src.channel = override
    return ctrl, src, control


def _default_mode(info: TargetInfo, encoding: str | None, button: bool, raw: RawSource) -> str:
    if encoding:
        return "relative" if info.kind in ("float", "int", "enum") else "cycle"
    if info.kind == "action":
        return "trigger"
    if button or (raw.kind == "program" and raw.number >= 0):
        return {"bool": "toggle", "enum": "cycle", "float": "toggle", "int": "trigger"}[info.kind]
    return "absolute"


def _check_mode(
    r: Reader, path: Path, mode: str, encoding: str | None, raw: RawSource, info: TargetInfo
) -> bool:
    if encoding and raw.kind not in ("cc", "note") and raw.kind not in ("nrpn", "rpn"):
        r.problem((*path, "encoding"), f"relative encodings need a cc source, not {raw.kind}")
        return False
    if encoding == "inc-dec" and raw.dec is None:
        r.problem((*path, "encoding"), "inc-dec needs a pair: cc = [up, down]", encoding)
        return False
    if encoding and encoding != "inc-dec" and raw.kind != "cc":
        r.problem((*path, "encoding"), f"{encoding} decodes 7-bit CC values only", raw.kind)
        return False
    if mode == "relative":
        if not encoding and raw.kind not in ("nrpn", "rpn"):
            r.problem(
                (*path, "mode"),
                "relative mode needs an encoding",
                mode,
                "twos-complement, binary-offset, sign-bit, sign-bit-inverted, inc-dec",
            )
            return False
        if info.kind in ("action", "bool"):
            r.problem((*path, "mode"), "relative mode needs a number or a list target", mode)
            return False
    if mode == "absolute" and encoding:
        r.problem((*path, "mode"), "a relative encoder cannot be absolute", mode)
        return False
    return True


def coerce(info: TargetInfo, value: Any) -> Any:
    """A TOML value as a target value, or UNSET when the target cannot take it."""
    if value == "auto" and info.auto:
        return None
    if info.kind == "bool":
        return value if isinstance(value, bool) else UNSET
    if info.kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return UNSET
        if info.kind == "int" and not float(value).is_integer():
            return UNSET
        if not min(info.lo, info.hi) <= value <= max(info.lo, info.hi):
            return UNSET
        return int(value) if info.kind == "int" else float(value)
    if isinstance(value, bool):
        return value if True in info.values and value in info.values else UNSET
    return value if value in info.values else UNSET


def _allowed(info: TargetInfo) -> str:
    if info.kind in ("float", "int"):
        lo, hi = (show(int(x)) if float(x).is_integer() else show(x) for x in (info.lo, info.hi))
        return f"{lo}..{hi}" + (', "auto"' if info.auto else "")
    return ", ".join('"auto"' if v is None else show(v) for v in info.values)


def _values(
    r: Reader, path: Path, data: dict[str, Any], info: TargetInfo, mode: str, target: str
) -> tuple[ChangeValue, ...] | None:
    raw = data.get("values")
    if raw is None:
        if mode in ("step", "cycle") and not info.values:
            r.problem((*path, "values"), f"{mode} mode on {target} needs a list of values")
            return None
        return info.values
    if not isinstance(raw, list) or len(raw) < 2:
        r.problem((*path, "values"), "must be a list of two or more values", raw)
    out = []
    for i, v in enumerate(raw if isinstance(raw, list) else []):
        c = coerce(info, v)
        if c is UNSET:  # every bad item, not just the first
            words = [x for x in info.values if isinstance(x, str)]
            hint = suggest(v, words) if isinstance(v, str) else ""
            message = f"item {i + 1} does not fit {target}{hint}"
            r.problem((*path, "values"), message, v, _allowed(info))
        out.append(c)
    if not isinstance(raw, list) or len(raw) < 2 or UNSET in out:
        return None
    return tuple(out)


def _on_off(
    r: Reader,
    path: Path,
    data: dict[str, Any],
    info: TargetInfo,
    mode: str,
    target: str,
    raw: RawSource,
    values: tuple[ChangeValue, ...],
) -> tuple[Any, Any]:
    value: Any = None
    off: Any = None
    for key in ("value", "off"):
        if key in data:
            c = coerce(info, data[key])
            if c is UNSET:
                r.problem((*path, key), f"does not fit {target}", data[key], _allowed(info))
                return UNSET, UNSET
            if key == "value":
                value = c
            else:
                off = c
    if mode == "trigger" and "value" not in data:
        if target == "tap_tempo":
            value = True
        elif target in ("scene.recall", "scene.store") and raw.kind == "program":
            value = None  # the program number picks the scene
        else:
            r.problem(path, f"a trigger on {target} needs a value", allowed=_allowed(info))
            return UNSET, UNSET
    if mode in ("toggle", "momentary"):
        if info.kind == "action" and ("value" not in data or "off" not in data):
            r.problem(path, f"{mode} on {target} needs value and off", allowed=_allowed(info))
            return UNSET, UNSET
        if "value" not in data:
            value = values[-1] if values else info.hi
        if "off" not in data:
            off = values[0] if values else info.lo
        if info.kind == "int":
            value, off = int(value), int(off)
    return value, off


def _transform(
    r: Reader, path: Path, data: dict[str, Any], info: TargetInfo, raw: RawSource, mode: str
) -> Transform | None:
    raw_max = RAW_MAX[raw.kind]
    before = len(r.problems)
    inp = r.pair(data, "in", path, 0, raw_max) or (0.0, float(raw_max))
    if info.kind in ("float", "int"):
        lo, hi = min(info.lo, info.hi), max(info.lo, info.hi)
        out = r.pair(data, "range", path, lo, hi) or (info.lo, info.hi)
    else:
        if "range" in data:
            r.problem((*path, "range"), f"{info.kind} targets have no range", data["range"])
            return None
        out = (0.0, 1.0)
    if len(r.problems) > before:
        return None
    return Transform(
        in_lo=inp[0],
        in_hi=inp[1],
        out_lo=out[0],
        out_hi=out[1],
        invert=bool(data.get("invert", False)),
        curve=data["curve"] if isinstance(data.get("curve"), str) else "linear",
        points=curve_points(data.get("curve")),
        steps=int(data.get("steps", 0)),
        deadzone=float(data.get("deadzone", 0.0)),
        centre=raw.kind == "pitchbend",
    )


def _feedback(
    r: Reader,
    path: Path,
    data: dict[str, Any],
    control: RawControl | None,
    source: Source,
    ctrl: RawController,
) -> Any:
    spec = data.get("feedback", control.feedback if control else None)
    where = (*path, "feedback") if "feedback" in data else (control.path if control else path)
    if spec is None or spec is False:
        return None
    if ctrl.output is None:
        message = f"feedback needs an output port: set output in the [controller] of {ctrl.name}"
        r.problem(where, message)
        return UNSET
    channel = source.channel if source.channel is not None else 0
    if spec is True:
        if source.kind not in ("cc", "cc14", "note") or source.dec is not None:
            r.problem(
                where, f"say where to send it: feedback = {{ cc = N }} (source is {source.kind})"
            )
            return UNSET
        return Feedback(source.kind, channel, source.number, hi=RAW_MAX[source.kind])
    if not isinstance(spec, dict):
        r.problem(where, "must be true, false or a table like { cc = 9, range = [1, 13] }", spec)
        return UNSET
    r.keys(spec, where, FEEDBACK_KEYS)
    kinds = [k for k in ("cc", "cc14", "note") if k in spec]
    kind = kinds[0] if kinds else (source.kind if source.kind in ("cc", "cc14", "note") else "")
    if not kind or len(kinds) > 1:
        r.problem(where, "needs exactly one of cc, cc14, note", spec)
        return UNSET
    number = r.int_(spec, kind, where, 0, 31 if kind == "cc14" else 127, source.number)
    ch = read_channel(r, spec, where)
    top = RAW_MAX[kind]
    lo, hi = r.pair(spec, "range", where, 0, top) or (0, top)
    on = r.int_(spec, "on", where, 0, 127, 127)
    off = r.int_(spec, "off", where, 0, 127, 0)
    if number is None or on is None or off is None:
        return UNSET
    return Feedback(
        kind,  # type: ignore[arg-type]
        channel if ch is UNSET or ch is None else ch,
        number,
        int(lo),
        int(hi),
        on,
        off,
    )
