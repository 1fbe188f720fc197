"""The one exception tree of PromptBridge. No I/O.

::

    BridgeError
    ├── ConfigError            a mapping, performance or rig file is wrong (carries every problem)
    ├── DeviceError            a MIDI port or audio device is missing or failed
    ├── ProtocolError
    │   ├── RemoteProtocolError    the peer broke the Lyria protocol
    │   └── LocalProtocolError     we misused it (also an AssertionError: it is a bug)
    ├── SessionClosed          the model session ended (close code and redacted reason)
    │   └── SessionRejected    closed in a way retrying cannot fix (1007: key or payload)
    └── SecretError            an API key is missing or its file is unsafe

Third-party exceptions are translated at the adapter boundary; the CLI prints one line
per error and exits non-zero (a traceback only with ``--debug``).
"""

from __future__ import annotations

from dataclasses import dataclass


class BridgeError(Exception):
    """Base of every error PromptBridge raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in a file: rendered as ``FILE:LINE: key.path: message``."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        text = f"{self.key}: {self.message}" if self.key else self.message
        return f"{where}: {text}" if where else text  # ConfigError("...") has no file


class ConfigError(BridgeError):
    """A configuration file is invalid. ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(file="", line=None, key="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = problems
        super().__init__("\n".join(str(p) for p in problems))


class DeviceError(BridgeError):
    """A MIDI port or audio device is missing, ambiguous, or failed."""


class ProtocolError(BridgeError):
    """The Lyria wire protocol was broken."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class LocalProtocolError(ProtocolError, AssertionError):
    """We tried to do something the protocol does not allow (a bug on our side)."""


class SessionClosed(BridgeError):
    """The model session was closed. ``reason`` is already redacted."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        if code is None and reason:  # refused before a websocket existed: the reason says it
            super().__init__(reason)
        else:
            super().__init__(f"session closed (code {code}){': ' + reason if reason else ''}")


class SessionRejected(SessionClosed):
    """Closed in a way that retrying cannot fix (1007: API key rejected or bad payload)."""


class SecretError(BridgeError):
    """An API key is missing, or its key file is readable by others."""
