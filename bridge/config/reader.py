"""Checking plain TOML data and collecting every problem with its file and line. Pure.

A ``Reader`` wraps one file's parsed data and its key lines. Its small typed getters
(``int_``, ``float_``, ``choice``, ...) return the value or None, and record a
``Problem`` rendered as ``FILE:LINE: key.path: message (got X; allowed Y)``; unknown keys
get a did-you-mean (``difflib``). Paths are tuples; array-of-tables indices are 0-based
in the tuple and shown 1-based (``bind[1]`` is the first ``[[bind]]``).

``parse_toml(text, file)`` is the one way TOML text becomes data (mapping files, rig
files, ``check``): the data, or the one ``Problem`` saying why not. It never raises: a
syntax error gets its line and column, and nesting deeper than ``MAX_DEPTH`` (which
makes ``tomllib`` or any recursive check hit Python's recursion limit) is one line too.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Sequence
from typing import Any

from bridge.config.lines import Path, key_lines, line_of
from bridge.errors import Problem

_MISSING: Any = object()


# Arrays and tables, counted from the top: our files need 3 (``[[bind]]`` holding an
# inline table holding an array). Far below Python's recursion limit, so nothing that
# walks the data recursively (the schema, pydantic, ``show``) can run out of stack.
MAX_DEPTH = 16
_DEEP = f"nested too deeply (arrays and tables at most {MAX_DEPTH} levels deep)"
_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def parse_toml(text: str, file: str) -> dict[str, Any] | Problem:
    """TOML text → its data, or the one Problem that says why not (never raises)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return _syntax_problem(file, exc)
    except RecursionError:  # tomllib recurses once per nested array or inline table
        return Problem(file, None, "", _DEEP)
    deep = _too_deep(data)
    if deep is None:
        return data
    # name the key where the nesting starts, not a path as long as the nesting
    named = next((i for i, part in enumerate(deep) if isinstance(part, int)), len(deep))
    key = render_path(deep[: min(named, 4)])
    return Problem(file, line_of(key_lines(text), deep), key, _DEEP)


def _syntax_problem(file: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """Python 3.11 puts line and column only in the message text; later ones also as
    attributes."""
    message = str(exc)
    line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    match = _AT.search(message)
    if match:
        message = message[: match.start()]
        line, col = int(match.group(1)), int(match.group(2))
    message = getattr(exc, "msg", None) or message
    where = f" at column {col}" if col else ""
    return Problem(file, line, "", f"TOML syntax error{where}: {message}")


def _too_deep(data: dict[str, Any]) -> Path | None:
    """The key path of the first value nested deeper than MAX_DEPTH, else None.

    Iterative, so that it cannot itself hit the recursion limit it guards against."""
    stack: list[tuple[Any, Path, int]] = [(data, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path
        if isinstance(value, dict):
            stack.extend((v, (*path, k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i), depth + 1) for i, v in enumerate(value))
    return None


def show(value: Any) -> str:
    """A value as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def render_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + part
    return out


def suggest(word: str, choices: Iterable[str]) -> str:
    """', did you mean "x"?' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f', did you mean "{close[0]}"?' if close else ""


class Reader:
    """Collects problems for one file."""

    def __init__(self, file: str, lines: dict[Path, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def line(self, path: Sequence[str | int]) -> int | None:
        return line_of(self.lines, path)

    def problem(
        self,
        path: Sequence[str | int],
        message: str,
        got: Any = _MISSING,
        allowed: str | None = None,
    ) -> None:
        extra = []
        if got is not _MISSING:
            extra.append(f"got {show(got)}")
        if allowed:
            extra.append(f"allowed {allowed}")
        if extra:
            message += f" ({'; '.join(extra)})"
        self.problems.append(Problem(self.file, self.line(path), render_path(path), message))

    def keys(self, table: dict[str, Any], path: Path, allowed: Sequence[str]) -> None:
        """Report every key of ``table`` that is not ``allowed``, with a did-you-mean."""
        for key in table:
            if key not in allowed:
                self.problem(
                    (*path, key),
                    f"unknown key{suggest(key, allowed)}",
                    allowed=", ".join(allowed),
                )

    def table(self, data: dict[str, Any], key: str, path: Path) -> dict[str, Any] | None:
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.problem((*path, key), "must be a table", value)
            return None
        return value

    def tables(self, data: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
        """An array of tables (``[[key]]``); anything else is reported."""
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem((*path, key), f"must be an array of tables ([[{key}]])", value)
            return []
        return value

    def int_(
        self, data: dict[str, Any], key: str, path: Path, lo: int, hi: int, default: Any = None
    ) -> Any:
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return default
        return self.check_int(value, (*path, key), lo, hi)

    def check_int(self, value: Any, path: Path, lo: int, hi: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, "must be a whole number", value, f"{lo}..{hi}")
            return None
        if not lo <= value <= hi:
            self.problem(path, "out of range", value, f"{lo}..{hi}")
            return None
        return value

    def float_(
        self,
        data: dict[str, Any],
        key: str,
        path: Path,
        lo: float,
        hi: float,
        default: Any = None,
    ) -> Any:
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return default
        return self.check_float(value, (*path, key), lo, hi)

    def check_float(self, value: Any, path: Path, lo: float, hi: float) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(path, "must be a number", value, f"{_num(lo)}..{_num(hi)}")
            return None
        if not lo <= value <= hi:
            self.problem(path, "out of range", value, f"{_num(lo)}..{_num(hi)}")
            return None
        return float(value)

    def bool_(self, data: dict[str, Any], key: str, path: Path, default: bool = False) -> bool:
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.problem((*path, key), "must be true or false", value)
            return default
        return value

    def str_(self, data: dict[str, Any], key: str, path: Path, default: Any = None) -> Any:
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self.problem((*path, key), "must be a string", value)
            return default
        return value

    def choice(
        self, data: dict[str, Any], key: str, path: Path, choices: Sequence[str], default: Any
    ) -> Any:
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return default
        if value not in choices or not isinstance(value, str):
            hint = suggest(value, choices) if isinstance(value, str) else ""
            self.problem((*path, key), f"unknown value{hint}", value, ", ".join(choices))
            return default
        return value

    def pair(
        self, data: dict[str, Any], key: str, path: Path, lo: float, hi: float
    ) -> tuple[float, float] | None:
        """A ``[low, high]`` pair of numbers within lo..hi."""
        value = data.get(key, _MISSING)
        if value is _MISSING:
            return None
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        )
        if not ok:
            self.problem((*path, key), "must be a pair of numbers [low, high]", value)
            return None
        if not all(lo <= v <= hi for v in value):
            self.problem((*path, key), "out of range", value, f"{_num(lo)}..{_num(hi)}")
            return None
        if value[0] == value[1]:
            self.problem((*path, key), "low and high must differ", value)
            return None
        return float(value[0]), float(value[1])


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
