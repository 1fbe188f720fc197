"""The rig file: the daemon's own settings (engine, URL, key source, output, buffers, ...).

Reads a TOML file with the stdlib ``tomllib``, validates it with pydantic, and merges
command-line flags over it (flags win). Every problem is reported as
``FILE:LINE: key: message (got X; allowed Y)``. Does file I/O only in ``load_rig``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.errors import ConfigError, Problem

DEFAULT_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"
)


class RigSettings(BaseModel):
    """Every daemon setting; each also has a ``promptbridge run`` flag of the same name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["auto", "synth", "lyria"] = "auto"
    url: str = DEFAULT_URL
    model: str = "models/lyria-realtime-exp"
    api_key_env: str | None = None
    api_key_file: str | None = None
    mappings: tuple[str, ...] = ()
    midi_api: Literal["auto", "alsa", "jack"] = "auto"
    midi_in: tuple[str, ...] = ()
    virtual_port: bool = True
    output: str = "default"
    channels: tuple[int, ...] = ()
    latency: Literal["low", "balanced", "safe"] = "balanced"
    gain: float = Field(default=1.0, ge=0.0, le=2.0)
    record: str | None = None
    autoplay: bool = False
    chunk_seconds: float = Field(default=2.0, ge=0.1, le=4.0)
    rotate_after: float = Field(default=500.0, gt=0)
    crossfade: float = Field(default=3.0, ge=0)
    state_file: str | None = None
    status: str | None = None
    status_token: str | None = None
    quantize: Literal["bar", "beat", "off"] = "bar"
    clock_out: str | None = None
    link: Literal["off", "follow", "lead"] = "off"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"


FIELDS = tuple(RigSettings.model_fields)


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _allowed(field: str) -> list[str]:
    """The choices of a Literal field, for error messages."""
    annotation = RigSettings.model_fields[field].annotation
    return [str(a) for a in get_args(annotation)]


def _problem(path: str, text: str, err: dict[str, Any]) -> Problem:
    key = ".".join(str(p) for p in err["loc"]) or "(file)"
    top = str(err["loc"][0]) if err["loc"] else ""
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(top, FIELDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        message = f"unknown key (allowed: {', '.join(FIELDS)}){hint}"
    elif err["type"] == "literal_error":
        allowed = _allowed(top)
        close = difflib.get_close_matches(str(got), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        message = f"invalid value (got {got!r}; allowed: {', '.join(allowed)}){hint}"
    else:
        message = f"{err['msg'][0].lower()}{err['msg'][1:]} (got {got!r})"
    return Problem(path, _line_of(text, top), key, message)


_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def toml_problem(path: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """A TOML syntax error as a Problem with line and column (3.11 puts them in the text)."""
    text = str(exc)
    match = _AT.search(text)
    if not match:
        return Problem(path, None, "", f"TOML syntax error: {text}")
    line, col = int(match.group(1)), int(match.group(2))
    return Problem(path, line, "", f"TOML syntax error: {text[: match.start()]} (column {col})")


def parse_rig(text: str, path: str = "<rig>") -> RigSettings:
    """Parse rig TOML text; raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_problem(path, exc)) from None
    try:
        return RigSettings.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(path, text, dict(e)) for e in exc.errors()]
        raise ConfigError(problems) from None


def load_rig(path: str | Path) -> RigSettings:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            Problem(str(p), None, "", f"cannot read rig file: {exc.strerror}")
        ) from None
    except UnicodeDecodeError as exc:  # e.g. overwritten with binary junk
        raise ConfigError(
            Problem(str(p), None, "", f"rig file is not UTF-8 text (byte {exc.start})")
        ) from None
    return parse_rig(text, str(p))


def merge(settings: RigSettings, overrides: dict[str, Any]) -> RigSettings:
    """Apply command-line flags (``None`` = not given) over the rig file's settings."""
    given = {k: v for k, v in overrides.items() if v is not None and k in FIELDS}
    try:
        return RigSettings.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        problems = [
            Problem("command line", None, "--" + str(e["loc"][0]).replace("_", "-"), e["msg"])
            for e in exc.errors()
        ]
        raise ConfigError(problems) from None
