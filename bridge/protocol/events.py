"""What goes into and comes out of the Lyria session machine (``bridge.protocol.session``).

Its ``Settings``; events (the engine → the machine) and actions (the machine → the
engine), frozen dataclasses naming sessions by number. No I/O.

Events::

    Begin                       engine.start(): open the first session
    Apply(update)               the performer changed prompts, config or playback
    Connected(n)                session n's websocket is open
    ConnectFailed(n, message, http_status)   it could not be opened (HTTP status if any)
    Received(n, event)          a frame of session n, decoded by ``codec.ServerDecoder``
    Delivered(n)                the mixer's queue took session n's audio after a wait
    Closed(n, code, reason)     session n's socket closed (reason already redacted)
    HandedOver(n)               the mixer finished crossfading to session n
    Tick                        a timer asked for by ``WakeAt`` expired
    Shutdown                    engine.close()

Actions::

    Connect(n)                  open a websocket for session n
    Send(n, kind, frame)        send a text frame (kind: setup, prompts, config, control)
    Deliver(n, chunks)          queue session n's audio for the mixer
    Crossfade(old, new, s)      the mixer fades from old's audio to new's over s seconds
    Switch(n)                   the mixer plays session n from now on (no fade)
    Close(n, code)              close session n (its audio is dropped from now on)
    WakeAt(t)                   feed a Tick at time t (None: no timer pending)
    Log(level, message)         one log line (info, warning, error)
    Fail(error)                 give up: end the stream with ``error``
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.core.types import AudioChunk, Update
from bridge.errors import BridgeError
from bridge.protocol.codec import DEFAULT_MODEL, SERVICE_PATH, ServerEvent


@dataclass(frozen=True)
class Settings:
    """The knobs of the session rules (``bridge.protocol.session``), in seconds."""

    model: str = DEFAULT_MODEL
    url_path: str = SERVICE_PATH  # only for the HTTP 404 message
    rotate_after: float = 500.0
    crossfade: float = 3.0
    watchdog: float = 12.0
    setup_timeout: float = 10.0
    stagger: float = 10.0
    preroll_timeout: float = 15.0
    retries: int | None = None
    backoff_cap: float = 5.0
    quota_backoff: float = 120.0
    healthy_after: float = 5.0


# --- events ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Begin:
    """Open the first session."""


@dataclass(frozen=True, slots=True)
class Apply:
    update: Update


@dataclass(frozen=True, slots=True)
class Connected:
    session: int


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    session: int
    message: str  # redacted
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Received:
    session: int
    event: ServerEvent


@dataclass(frozen=True, slots=True)
class Delivered:
    session: int


@dataclass(frozen=True, slots=True)
class Closed:
    session: int
    code: int | None  # 1006 when the TCP connection dropped without a close frame
    reason: str = ""  # redacted


@dataclass(frozen=True, slots=True)
class HandedOver:
    session: int


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer expired."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Close everything."""


Event = (
    Begin
    | Apply
    | Connected
    | ConnectFailed
    | Received
    | Delivered
    | Closed
    | HandedOver
    | Tick
    | Shutdown
)


# --- actions -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Connect:
    session: int


@dataclass(frozen=True, slots=True)
class Send:
    session: int
    kind: str
    frame: str


@dataclass(frozen=True, slots=True)
class Deliver:
    session: int
    chunks: tuple[AudioChunk, ...]


@dataclass(frozen=True, slots=True)
class Crossfade:
    old: int
    new: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Switch:
    session: int


@dataclass(frozen=True, slots=True)
class Close:
    session: int
    code: int = 1000


@dataclass(frozen=True, slots=True)
class WakeAt:
    time: float | None


@dataclass(frozen=True, slots=True)
class Log:
    level: str  # "info", "warning", "error"
    message: str


@dataclass(frozen=True, slots=True)
class Fail:
    error: BridgeError


Action = Connect | Send | Deliver | Crossfade | Switch | Close | WakeAt | Log | Fail
