"""The ``[space]`` of a performance file, and scene positions, checked key by key. Pure.

::

    [space]
    radius = 0.35            # blend width (0.01..2), see bridge.core.space
    peak = 1.0               # the nearest slot's weight (0.01..10)
    position = [0.5, 0.5]    # where the performer starts
    [space.points]           # slot number = [x, y] or [x, y, z], each 0..1
    1 = [0.15, 0.2]
    2 = [0.85, 0.2]

Every coordinate list of one set has the same length (2 or 3): the first point decides.
A later file's ``[space]`` replaces an earlier one whole (a geometry is not merged point
by point). Whether the slots exist, and scene positions fit the space, is checked over
the whole set by ``check_space`` (``bridge.config.build`` calls it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bridge.config.lines import Path
from bridge.config.reader import Reader
from bridge.core.space import DEFAULT_PEAK, DEFAULT_RADIUS, SpaceSpec
from bridge.core.types import SlotSpec

if TYPE_CHECKING:
    from bridge.config.schema import FileData

SPACE_KEYS = ("radius", "peak", "position", "points")
MAX_SLOTS = 64  # as bridge.config.schema.MAX_SLOTS


def read_position(
    r: Reader, value: Any, path: Path, dims: int | None = None
) -> tuple[float, ...] | None:
    """``[x, y]`` or ``[x, y, z]`` with every coordinate in 0..1 (``dims`` if given)."""
    sizes = f"{dims}" if dims else "2 or 3"
    ok = isinstance(value, list) and (len(value) == dims if dims else len(value) in (2, 3))
    if not ok:
        r.problem(
            path,
            f"must be a list of {sizes} coordinates [x, y{', z' if dims != 2 else ''}]",
            value,
            "0..1 each",
        )
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        r.problem(path, "coordinates must be numbers", value, "0..1 each")
        return None
    if not all(0 <= v <= 1 for v in value):
        r.problem(path, "coordinates out of range", value, "0..1 each")
        return None
    return tuple(float(v) for v in value)


def read_space(r: Reader, data: dict[str, Any]) -> SpaceSpec | None:
    """The file's ``[space]`` (None when it has none, or it is unusable)."""
    table = r.table(data, "space", ())
    if table is None:
        return None
    path: Path = ("space",)
    r.keys(table, path, SPACE_KEYS)
    points = _points(r, table, path)
    if not points:
        if "points" not in table:
            r.problem(path, "a space needs points: [space.points] 1 = [x, y], ...")
        return None
    dims = len(next(iter(points.values())))
    position = (0.5,) * dims
    if "position" in table:
        position = read_position(r, table["position"], (*path, "position"), dims) or position
    return SpaceSpec(
        points=points,
        dims=dims,
        radius=r.float_(table, "radius", path, 0.01, 2.0, DEFAULT_RADIUS) or DEFAULT_RADIUS,
        peak=r.float_(table, "peak", path, 0.01, 10.0, DEFAULT_PEAK) or DEFAULT_PEAK,
        position=position,
    )


def _points(r: Reader, table: dict[str, Any], path: Path) -> dict[int, tuple[float, ...]]:
    points: dict[int, tuple[float, ...]] = {}
    dims: int | None = None
    for key, value in (r.table(table, "points", path) or {}).items():
        where = (*path, "points", key)
        if not key.isdigit() or not 1 <= int(key) <= MAX_SLOTS:
            r.problem(where, "keys are slot numbers", key, f"1..{MAX_SLOTS}")
            continue
        point = read_position(r, value, where, dims)
        if point is not None:
            dims = dims or len(point)
            points[int(key)] = point
    return points


def check_space(files: list[FileData], slots: dict[int, SlotSpec]) -> SpaceSpec | None:
    """The set's space (the last file's), with its slots and every scene position checked."""
    owner = next((fd for fd in reversed(files) if fd.space is not None), None)
    space = owner.space if owner is not None else None
    if owner is not None and space is not None:
        missing = [n for n in space.points if n not in slots]
        for n in missing:
            have = f"1..{max(slots)}" if slots else "none"
            owner.reader.problem(("space", "points", str(n)), f"no prompt slot {n} (slots: {have})")
        space = replace(space, points={n: p for n, p in space.points.items() if n in slots})
    for fd in files:
        for scene, path in fd.scenes:
            if scene.position is None:
                continue
            where = (*path, "position")
            if space is None:
                fd.reader.problem(where, "a scene position needs a [space] in the set")
            elif len(scene.position) != space.dims:
                fd.reader.problem(where, f"the space is {space.dims}D", list(scene.position))
    return space if space is not None and space.points else None
