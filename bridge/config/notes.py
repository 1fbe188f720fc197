"""Keys and pads in mapping files: the ``notes`` source and the ``notes``/``drums``
bindings. Pure; called by ``schema`` (one file's keys) and ``build`` (compiling).

* ``notes = [low, high]`` (inclusive) or ``notes = "all"``: a keyboard range on the
  binding's channel. Only a ``notes``/``drums`` target takes it; those targets take a
  range or a single ``note`` (one pad), nothing else.
* Keys are events, not values: a notes binding has no mode, range, curve, takeover,
  values or feedback, and says so when given one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.config.lines import Path
from bridge.config.reader import Reader
from bridge.core.mapping import NOTE_TARGETS, Binding, Source

if TYPE_CHECKING:
    from bridge.config.schema import RawBind, RawControl, RawSource

# What a notes/drums binding has no use for (everything but source, channel, bank, target).
NOT_FOR_NOTES = frozenset(
    {"mode", "encoding", "step", "acceleration", "takeover", "in", "range", "invert"}
    | {"curve", "steps", "deadzone", "auto", "value", "off", "values", "glide", "feedback"}
)


def read_range(r: Reader, value: Any, key: Path) -> tuple[int, int] | None:
    """``[low, high]`` or ``"all"`` → (low, high); None (and a problem) when bad."""
    if value == "all":
        return 0, 127
    if not isinstance(value, list) or len(value) != 2:
        r.problem(key, 'a keyboard range is [low, high] or "all"', value, "0..127")
        return None
    low = r.check_int(value[0], key, 0, 127)
    high = r.check_int(value[1], key, 0, 127)
    if low is None or high is None:
        return None
    if low > high:
        r.problem(key, "low note must not be above high note", value)
        return None
    return low, high


def mismatch(target: str, raw: RawSource) -> tuple[str, Any] | None:
    """Why this source cannot drive this target (keys vs values), or None when it can."""
    keys = target in NOTE_TARGETS
    if raw.kind == "notes" and not keys:
        return 'a notes range plays "notes" or "drums"', target
    if keys and raw.kind not in ("notes", "note"):
        return f"{target} takes keys or pads (a notes range or a note)", raw.kind
    return None


def binding(
    rb: RawBind, controller: str, source: Source, control: RawControl | None
) -> Binding | None:
    """The compiled keys/pads binding (None, with a problem, when it has extra keys)."""
    extra = sorted(set(rb.data) & NOT_FOR_NOTES)
    if extra:
        rb.reader.problem((*rb.path, extra[0]), f"{rb.target} bindings take no {extra[0]}")
        return None
    label = f"{controller} {control.name}" if control else f"{controller} {source.describe()}"
    return Binding(
        controller=controller,
        source=source,
        target=rb.target or "",
        target_kind="action",
        mode="trigger",
        bank=rb.data.get("bank"),
        label=label,
        file=rb.reader.file,
        line=rb.reader.line(rb.path),
    )
