"""Where the API key comes from: the environment or a private key file. Reads files.

Order: an explicit key file, then ``GEMINI_API_KEY``, then ``GOOGLE_API_KEY``. A key file
that its group or others can read is refused (a key on a shared Pi must not be world
readable). Every key found is registered with ``bridge.logs.register_secret`` so that no
log line, error or status output can ever show it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from bridge.errors import SecretError
from bridge.logs import register_secret

ENV_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


def load_api_key(
    key_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str | None:
    """The API key, or None when none is configured. Raises SecretError on an unsafe file."""
    key = read_key_file(key_file) if key_file else _from_env(os.environ if env is None else env)
    if key:
        register_secret(key)
    return key


def require_api_key(
    key_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Like ``load_api_key`` but a missing key is an error that says how to provide one."""
    key = load_api_key(key_file, env)
    if not key:
        raise SecretError(
            "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) or give a key file (mode 600)"
        )
    return key


def read_key_file(path: str | os.PathLike[str]) -> str:
    """The key in ``path`` (surrounding whitespace stripped); refuses a readable-by-others file."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretError(f"key file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"key file {path} is readable by others (mode {stat.S_IMODE(mode):03o}); "
            f"run: chmod 600 {path}"
        )
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"key file {path}: cannot read it ({type(exc).__name__})") from None
    if not key or any(c.isspace() for c in key):
        raise SecretError(f"key file {path} must hold exactly one key on one line")
    return key


def _from_env(env: Mapping[str, str]) -> str | None:
    for name in ENV_VARS:
        value = env.get(name, "").strip()
        if value:
            return value
    return None
