"""Saving and loading the performance snapshot as JSON. Does file I/O.

``save_snapshot`` is atomic: it writes a temporary file in the same directory, fsyncs it,
``os.replace``s it over the target and fsyncs the directory, so a power cut leaves either
the old file or the new one, never half of one. ``load_snapshot`` never raises for a bad
file: a missing file means a fresh start; a corrupt one is logged, moved aside to
``<name>.corrupt`` (so the next save does not destroy the evidence) and also means a
fresh start. Restoring the dict into a Performance is ``Performance.restore``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def save_snapshot(path: str | os.PathLike[str], snapshot: dict[str, Any]) -> None:
    """Write ``snapshot`` to ``path`` atomically (temp file + fsync + os.replace)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(snapshot, indent=1, sort_keys=True, allow_nan=False).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (not possible on every platform: best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename itself happened
    finally:
        os.close(fd)


def load_snapshot(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved snapshot, or None (no file, or a corrupt one: logged and moved aside)."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("state file %s unreadable (%s); starting fresh", target, exc)
        return None
    try:
        snapshot = json.loads(text)
    except json.JSONDecodeError as exc:
        _set_aside(target, f"not valid JSON ({exc})")
        return None
    if not isinstance(snapshot, dict):
        _set_aside(target, "not a JSON object")
        return None
    return snapshot


def _set_aside(target: Path, why: str) -> None:
    aside = target.with_name(target.name + ".corrupt")
    try:
        os.replace(target, aside)
    except OSError:
        log.warning("state file %s is corrupt: %s; starting fresh", target, why)
        return
    log.warning("state file %s is corrupt: %s; moved to %s, starting fresh", target, why, aside)


# The names the daemon uses (same functions).
save_state = save_snapshot
load_state = load_snapshot
