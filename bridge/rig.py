"""The rig file: the daemon's own settings (engine, URL, key source, output, buffers, ...).

Reads a TOML file (``bridge.config.reader.parse_toml``), validates it with pydantic, and merges
command-line flags over it (flags win). Every problem is reported as
``FILE:LINE: key: message (got X; allowed Y)``.

Two layers of checks: ``parse_rig`` checks each field on its own (types, ranges,
choices, typos); ``rig_problems`` checks what only the merged settings can tell (a status
address off loopback needs a token, a key file must be private, a recording needs a
folder and a ``.wav`` name), so ``check`` and
``run`` refuse the same things with the same line. ``looks_like_rig`` tells a rig file
from a mapping by its keys, typos included. File I/O only in ``read_rig_text``,
``check_rig_file`` (the mappings a rig names) and the key-file check.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.config.reader import parse_toml
from bridge.errors import ConfigError, Problem

DEFAULT_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"
)


class RigSettings(BaseModel):
    """Every daemon setting; each also has a ``promptbridge run`` flag of the same name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["auto", "synth", "lyria", "magenta"] = "auto"
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
    stretch_limit: float | None = Field(default=None, ge=0.0, le=0.1)  # None: the preset's
    conceal: bool = True
    conceal_max: float = Field(default=20.0, gt=0.0, le=3600.0)
    record: str | None = None
    autoplay: bool = False
    chunk_seconds: float = Field(default=0.025, ge=0.02, le=4.0)
    # Where hard changes land on the heard grid (bpm, scale, scenes, play/stop: the core's
    # launch quantization; unset = bar) and the synth's mutes (unset = its next beat).
    quantize: Literal["bar", "beat", "off"] | None = None
    rotate_after: float = Field(default=500.0, gt=0)
    rotate: bool = True  # false: never rotate sessions (a server of your own has no cap)
    crossfade: float = Field(default=3.0, ge=0)
    state_file: str | None = None
    status: str | None = None
    status_token: str | None = None
    osc: str | None = None  # "HOST:PORT": OSC in/out (bridge.io.osc)
    osc_allow: tuple[str, ...] = ()  # hosts/networks allowed off loopback
    osc_clients: tuple[str, ...] = ()  # "HOST:PORT" surfaces always sent feedback
    clock_out: str | None = None  # MIDI clock to outputs matching this (bridge.io.clock_out)
    link: Literal["off", "follow", "lead"] = "off"  # Ableton Link ([link] extra, GPL)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    # the magenta engine (bridge.commands.magenta_flags); None = the engine's default
    magenta_size: Literal["mrt2_small", "mrt2_base"] | None = None
    magenta_backend: Literal["auto", "mlx", "jax"] | None = None
    magenta_checkpoint: str | None = None
    magenta_home: str | None = None
    magenta_frames: int | None = Field(default=None, ge=1, le=250)
    magenta_look_ahead: int | None = Field(default=None, ge=1, le=8)


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


def parse_rig(text: str, path: str = "<rig>") -> RigSettings:
    """Parse rig TOML text; raise ConfigError listing every problem."""
    data = parse_toml(text, path)
    if isinstance(data, Problem):
        raise ConfigError(data)
    try:
        return RigSettings.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(path, text, dict(e)) for e in exc.errors()]
        raise ConfigError(problems) from None


def read_rig_text(path: str | Path) -> str:
    """The rig file's text; ConfigError when it cannot be read as UTF-8."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            Problem(str(p), None, "", f"cannot read rig file: {exc.strerror}")
        ) from None
    except UnicodeDecodeError as exc:  # e.g. overwritten with binary junk
        raise ConfigError(
            Problem(str(p), None, "", f"rig file is not UTF-8 text (byte {exc.start})")
        ) from None


def load_rig(path: str | Path) -> RigSettings:
    """Parse a rig file field by field (``rig_problems`` checks the merged whole)."""
    return parse_rig(read_rig_text(path), str(path))


def check_rig_file(path: str | Path) -> list[Problem]:
    """Everything ``run --rig FILE`` would refuse about this file (with no flags given):
    its fields, the whole, and the mappings it names, merged as ``run`` loads them."""
    try:
        text = read_rig_text(path)
        settings = parse_rig(text, str(path))
    except ConfigError as exc:
        return exc.problems
    problems = rig_problems(settings, str(path), text)
    if settings.mappings:
        from bridge.config import load_mapping

        try:
            load_mapping(mapping_refs(settings, Path(path)))
        except ConfigError as exc:
            line = _line_of(text, "mappings")
            for p in exc.problems:
                # A name that resolves to no file is the rig's problem: point at its line.
                if p.line is None and p.file in settings.mappings:
                    p = Problem(str(path), line, "mappings", f"{p.file!r}: {p.message}")
                problems.append(p)
    return problems


def mapping_refs(settings: RigSettings, rig_path: Path | None) -> list[Path | str]:
    """The rig's ``mappings`` as ``load_mapping`` takes them: a ``.toml`` path relative to
    the rig file's folder (else the working directory), or a bare shipped-profile name."""
    base = rig_path.parent if rig_path else Path.cwd()
    return [_mapping_ref(m, base) for m in settings.mappings]


def _mapping_ref(name: str, base: Path) -> Path | str:
    path = Path(name).expanduser()
    if path.suffix == ".toml" and not path.is_absolute() and (base / path).exists():
        return base / path
    return path if path.exists() else name  # a bare name: a shipped profile


def rig_problems(
    settings: RigSettings, path: str = "command line", text: str = ""
) -> list[Problem]:
    """What the fields allow one by one but the daemon refuses as a whole.

    ``path``/``text`` locate the key in the rig file; with no text the problem names the
    flag instead (the value came from the command line or could have).
    """
    problems: list[Problem] = []

    def add(field: str, message: str) -> None:
        line = _line_of(text, field) if text else None
        key = field if text else "--" + field.replace("_", "-")
        problems.append(Problem(path, line, key, message))

    if settings.status is not None:
        why = status_problem(settings.status, settings.status_token)
        if why:
            add("status", why)
    if settings.osc is not None:
        from bridge.io.osc import rig_problems as osc_problems  # pulls in python-osc

        for field, why in osc_problems(settings.osc, settings.osc_allow, settings.osc_clients):
            add(field, why)
    if settings.record:
        why = record_problem(settings.record)
        if why:
            add("record", why)
    if settings.api_key_file:
        from bridge.errors import SecretError
        from bridge.secrets import read_key_file

        try:
            read_key_file(Path(settings.api_key_file).expanduser())
        except SecretError as exc:
            add("api_key_file", str(exc))
    return problems


def record_problem(record: str) -> str | None:
    """Why ``record`` cannot be recorded to, or None: the recorder writes WAV (a ``.mp3``
    name would hold WAV bytes) into a folder that must exist (it is not created)."""
    path = Path(record).expanduser()
    if path.suffix.lower() not in ("", ".wav"):
        return f"recordings are WAV files (got {record!r}; allowed a name ending .wav)"
    if not path.parent.is_dir():
        return f"no folder {str(path.parent)!r} to record into (got {record!r})"
    return None


def status_problem(address: str, token: str | None) -> str | None:
    """Why the status server cannot serve ``address`` (with this token), or None."""
    # The address grammar and the loopback test live with the server; imported lazily
    # because the server module pulls in websockets.
    from bridge.status.server import is_loopback, parse_address

    try:
        host, _port = parse_address(address)
    except ValueError as exc:
        return f"{exc} (got {address!r})"
    if not is_loopback(host) and not token:
        return (
            f"binding to {host} needs a token (got {address!r} and no status_token; "
            "set status_token or --status-token, or use 127.0.0.1:PORT)"
        )
    return None


def looks_like_rig(keys: list[str], mapping_keys: tuple[str, ...]) -> bool:
    """Is a TOML document with these top-level keys a rig file rather than a mapping?

    Each key votes for the kind whose keys it is (or, misspelt, is closest to); a rig
    file needs more rig votes than mapping votes, so one typo cannot flip a file.
    """
    rig = mapping = 0
    for key in keys:
        if key in FIELDS:
            rig += 1
        elif key in mapping_keys:
            mapping += 1
        else:
            close = difflib.get_close_matches(key, [*FIELDS, *mapping_keys], n=1)
            rig += bool(close) and close[0] in FIELDS
            mapping += bool(close) and close[0] in mapping_keys
    return rig > mapping


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
