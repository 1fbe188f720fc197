"""Line numbers for TOML key paths (tomllib gives values, not positions). Pure, no I/O.

``key_lines(text)`` scans the text once and maps key paths to the line that defines them:
table headers (``[a.b]``), array-of-tables headers (``[[bind]]`` → ``("bind", 0)``,
``("bind", 1)``, ...), ``key = value`` lines (dotted keys too), and the keys of an
inline table or of each ``{...}`` element in a multi-line array. Multi-line strings are
skipped. ``line_of(lines, path)`` falls back to the nearest enclosing path that has a
line, so every problem gets one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_INLINE_KEY = re.compile(r"""[{,]\s*([A-Za-z0-9_\-]+|"[^"]*")\s*=""")


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'""", key)
    return [p.strip("\"'") for p in parts]


def key_lines(text: str) -> dict[Path, int]:
    """Map every key path found in ``text`` to its 1-based line number."""
    lines: dict[Path, int] = {}
    counts: dict[Path, int] = {}
    table: Path = ()
    in_string: str | None = None
    array: Path | None = None  # the key of a multi-line array being read
    element = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if in_string in line:
                in_string = None
            continue
        stripped = line.split("#", 1)[0] if '"' not in line and "'" not in line else line
        if array is not None:
            if stripped.lstrip().startswith("{"):
                lines.setdefault((*array, element), number)
                for key in _INLINE_KEY.findall(stripped):
                    lines.setdefault((*array, element, key.strip('"')), number)
                element += 1
            closes = stripped.rstrip().endswith("]")
            if closes and (
                not stripped.lstrip().startswith("{") or stripped.count("[") < stripped.count("]")
            ):
                array = None
            continue
        header = _HEADER.match(stripped)
        if header and not _KEY.match(stripped):
            path: Path = tuple(_split_key(header.group(2)))
            if header.group(1) == "[[":
                index = counts.get(path, 0)
                counts[path] = index + 1
                table = (*path, index)
                lines.setdefault(path, number)
            else:
                table = path
            lines.setdefault(table, number)
            continue
        match = _KEY.match(stripped)
        if not match:
            continue
        path = (*table, *_split_key(match.group(1)))
        lines.setdefault(path, number)
        rest = stripped[match.end() :].strip()
        for key in _INLINE_KEY.findall(rest):
            lines.setdefault((*path, key.strip('"')), number)
        for quote in ('"""', "'''"):
            if rest.startswith(quote) and rest.count(quote) == 1:
                in_string = quote
        if rest.startswith("[") and rest.count("[") > rest.count("]"):
            array, element = path, 0
            if rest[1:].lstrip().startswith("{"):
                lines.setdefault((*path, 0), number)
                element = 1
    return lines


def line_of(lines: dict[Path, int], path: Sequence[str | int]) -> int | None:
    """The line of ``path``, or of its nearest enclosing path that has one."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None
