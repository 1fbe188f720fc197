"""Logging set-up: plain text for terminals and journald, JSON lines for log shippers.

Every record passes through ``redact()`` so an API key can never reach a log line, even
inside an exception text or a peer's close reason quoting our request.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import ClassVar

_SECRETS: set[str] = set()
# Google API keys look like "AIza" + 35 chars; also catch key=... in URLs.
_KEY_PATTERN = re.compile(r"AIza[0-9A-Za-z_\-]{20,}|(?<=key=)[^&\s'\"]+")


def register_secret(secret: str) -> None:
    """Remember a secret so that every later log line has it replaced by ``***``."""
    if secret:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """Replace every known secret and anything shaped like an API key with ``***``."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return _KEY_PATTERN.sub("***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": round(record.created, 3),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def under_journald() -> bool:
    """True when stderr is connected to the journal (journald adds its own timestamps)."""
    return bool(os.environ.get("JOURNAL_STREAM"))


def configure(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif under_journald():
        # journald stores time and priority itself: "<6>" prefixes map to levels.
        handler.setFormatter(_JournaldFormatter())
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        formatter.converter = time.localtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class _JournaldFormatter(logging.Formatter):
    _PRIORITY: ClassVar[dict[str, int]] = {
        "DEBUG": 7,
        "INFO": 6,
        "WARNING": 4,
        "ERROR": 3,
        "CRITICAL": 2,
    }

    def format(self, record: logging.LogRecord) -> str:
        prio = self._PRIORITY.get(record.levelname, 6)
        return f"<{prio}>{record.name}: {record.getMessage()}"


class RedactingAdapter(logging.LoggerAdapter):
    """A logger for third-party code (websockets logs request headers at DEBUG level):
    every message is formatted and redacted before any handler sees it."""

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, redact(text), **kwargs)
