"""A Performance as JSON-able data, and back. Pure, no I/O.

``take(perf)`` is what the status API shows and the state file keeps; ``restore(perf,
data)`` accepts any dict (an old or hand-edited state file) and takes what it can use,
through the Performance's own ``apply`` so every value is checked by the same rules as a
live change (the space position before the slots: a slot moved after the position's last
move keeps its own weight). It returns one reason per part it skipped. Recording is not restored (a
restart must not start writing files on its own); glides are not restored (they land).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.core.playback import parse_state
from bridge.core.types import CONFIG_SPECS, Change, SceneSpec

if TYPE_CHECKING:
    from bridge.core.performance import Performance

SNAPSHOT_VERSION = 1
WEIGHT_DIGITS = 4  # wire weights are rounded so float noise never makes a new frame


def take(perf: Performance) -> dict[str, Any]:
    """A JSON-able picture of the whole state."""
    return {
        "version": SNAPSHOT_VERSION,
        "slots": [
            {
                "slot": n,
                "text": s.text,
                "weight": round(s.weight, 6),
                "effective": round(perf.effective_weight(n), WEIGHT_DIGITS),
                "lo": s.lo,
                "hi": s.hi,
                "filtered": s.text.strip() in perf.filtered,
            }
            for n, s in enumerate(perf.slots, start=1)
        ],
        "config": {name: getattr(perf.config, name) for name in CONFIG_SPECS},
        "playback": perf.state,
        "scene": perf.scene,
        "scenes": [s.name for s in perf.scenes],
        "stored_scenes": [_scene_dict(s) for s in perf.scenes if s.name in perf.stored_scenes],
        "crossfader": round(perf.crossfader, 6),
        "master_volume": perf.master_volume,
        "recording": perf.recording,
        "bank": perf.bank,
        "gliding": sorted(perf.glides),
        "filtered": sorted(perf.filtered),
        "space": _space(perf),
    }


def _space(perf: Performance) -> dict[str, Any] | None:
    """The prompt space: where each placed slot is and where the performer is."""
    if perf.space is None:
        return None
    return {
        "axes": list(perf.space.axes),
        "position": [round(v, 6) for v in perf.position],
        "radius": perf.space.radius,
        "points": {str(n): list(p) for n, p in perf.space.points.items()},
    }


def restore(perf: Performance, data: dict[str, Any]) -> list[str]:
    """Take back what ``data`` holds into ``perf``; one reason per part skipped."""
    if not isinstance(data, dict):
        return ["snapshot is not an object"]
    problems: list[str] = []
    for scene in _list(data.get("stored_scenes")):
        _restore_scene(perf, scene, problems)
    space = data.get("space")
    if perf.space is not None and isinstance(space, dict):
        for axis, value in zip(perf.space.axes, _list(space.get("position")), strict=False):
            _apply(perf, f"space.{axis}", value, problems)
    for item in _list(data.get("slots")):
        _restore_slot(perf, item, problems)
    config = data.get("config")
    for name, value in (config if isinstance(config, dict) else {}).items():
        _apply(perf, f"config.{name}", value, problems)
    state = parse_state(data.get("playback"))
    if state is not None:
        perf.state = state
    for key in ("crossfader", "master_volume", "bank"):
        if key in data:
            _apply(perf, key, data[key], problems)
    scene = data.get("scene")
    if isinstance(scene, str) and perf.find_scene(scene) is not None:
        perf.scene = scene
    for text in _list(data.get("filtered")):
        if isinstance(text, str) and text.strip():
            perf.mark_filtered(text)
    return problems


def _apply(perf: Performance, target: str, value: Any, problems: list[str]) -> None:
    reason = perf.apply(Change(target, value, source="state"), 0.0)
    if reason is not None:
        problems.append(f"{target}: {reason}")


def _restore_slot(perf: Performance, item: Any, problems: list[str]) -> None:
    if not isinstance(item, dict):
        problems.append("slot entry is not an object")
        return
    number = item.get("slot")
    if not isinstance(number, int) or not 1 <= number <= len(perf.slots):
        problems.append(f"slot {number!r} does not exist")
        return
    for field in ("text", "weight"):
        if field in item:
            _apply(perf, f"slot.{number}.{field}", item[field], problems)


def _restore_scene(perf: Performance, item: Any, problems: list[str]) -> None:
    try:
        scene = SceneSpec(
            name=str(item["name"]),
            weights={int(k): float(v) for k, v in item.get("weights", {}).items()},
            texts={int(k): str(v) for k, v in item.get("texts", {}).items()},
            glide=float(item.get("glide", 0.0)),
            position=_position(item.get("position")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        problems.append("a stored scene is malformed")
        return
    perf.stored(scene)


def _position(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    return tuple(float(v) for v in value)  # a bad one: ValueError/TypeError, caught above


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _scene_dict(scene: SceneSpec) -> dict[str, Any]:
    return {
        "name": scene.name,
        "weights": {str(k): v for k, v in scene.weights.items()},
        "texts": {str(k): v for k, v in scene.texts.items()},
        "glide": scene.glide,
        "position": list(scene.position) if scene.position is not None else None,
    }
