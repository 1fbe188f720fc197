"""The status and control server: a web page and a websocket on one port. Network I/O.

One ``websockets`` asyncio server; its ``process_request`` hook answers plain HTTP::

    GET /               the page (bridge/status/page.html: no external assets, works offline)
    GET /snapshot.json  the current snapshot, once
    GET /ws             the websocket: snapshots out, control messages in

Websocket messages are JSON text frames:

* server → client: ``{"type": "hello", "targets": [...], "version": "..."}`` once, then
  ``{"type": "snapshot", "data": {...}}`` whenever the state changed (``notify()``), at
  most every ``push_interval`` (0.1 s: ~10 Hz; the first change after quiet goes at
  once), plus every ``heartbeat`` seconds when the snapshot differs (buffer fill and
  CPU move without a notify); ``{"type": "error", "message": "..."}`` for a bad message.
* client → server: ``{"type": "change", "target": "slot.3.weight", "value": 1.2,
  "glide": null}`` for any mapping target (bridge.core.types), handed to ``control`` as a
  ``Change`` with ``source="status"``; ``{"type": "snapshot", "id": 1}`` asks for one
  now: the answer carries the same ``id`` and reflects every change sent before it.

Security: the server binds to 127.0.0.1 unless told otherwise; any other address needs a
token (``start()`` refuses without one). With a token set every request must carry it,
as ``Authorization: Bearer TOKEN``, the ``pb_token`` cookie, or ``?token=TOKEN`` (the page
then moves it into an HttpOnly cookie and redirects to a clean URL). Browsers let any web
page open a websocket to 127.0.0.1, so a websocket whose ``Origin`` is not this server is
refused, and without a token the ``Host`` must be a loopback name (DNS rebinding). Every
text sent passes ``redact()``: an API key can never leave through this port, and the token
is registered as a secret so it never reaches a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import hmac
import ipaddress
import json
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import PurePath
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING

from bridge import __version__
from bridge.aio import cancelled
from bridge.core.instrument import Outcome
from bridge.core.targets import parse_target
from bridge.core.types import CONFIG_SPECS, TARGETS_HELP, Change
from bridge.errors import BridgeError, ConfigError
from bridge.logs import RedactingAdapter, redact, register_secret

log = logging.getLogger("bridge.status")
_WS_LOG = RedactingAdapter(logging.getLogger("websockets.server"), {})

DEFAULT_PORT = 8780
COOKIE = "pb_token"
MAX_MESSAGE = 64 * 1024  # control messages are tiny; refuse anything big
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")

# The config table the page builds its controls from.
CONFIG_TABLE = {
    name: {"kind": s.kind, "lo": s.lo, "hi": s.hi, "choices": list(s.choices), "auto": s.auto}
    for name, s in CONFIG_SPECS.items()
}

Snapshot = Callable[[], dict[str, Any]]
Control = Callable[[Change], Outcome]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` → (host, port); a ValueError says what is wrong."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = "", text.strip()
    host = host.strip("[]") or default_host
    if not (port_text.isascii() and port_text.isdecimal()) or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"status address {text!r}: port must be a number in 0..65535")
    return host, int(port_text)


def check_target(target: object) -> str | None:
    """None if ``target`` names a mapping target (the one grammar), else why not."""
    if not isinstance(target, str):
        return "target must be a string"
    parsed = parse_target(target)
    return parsed if isinstance(parsed, str) else None


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """``{"type": "snapshot", "id": ...}``: answer with the current snapshot, same id."""

    id: int | str | None = None


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A control message the server cannot use, and why."""

    reason: str


def parse_control(text: str | bytes) -> Change | SnapshotRequest | BadMessage:
    """A client message → a Change, a SnapshotRequest, or a BadMessage saying why."""
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return BadMessage("message is not JSON")
    if not isinstance(message, dict):
        return BadMessage("message must be a JSON object")
    kind = message.get("type", "change")
    if kind == "snapshot":
        ident = message.get("id")
        return SnapshotRequest(ident if isinstance(ident, int | str) else None)
    if kind != "change":
        return BadMessage(f"unknown message type {kind!r} (allowed: change, snapshot)")
    reason = check_target(message.get("target"))
    if reason is not None:
        return BadMessage(reason)
    value, glide = message.get("value"), message.get("glide")
    if isinstance(value, list | dict):
        return BadMessage("value must be a number, string, boolean or null")
    if glide is not None and (isinstance(glide, bool) or not isinstance(glide, int | float)):
        return BadMessage("glide must be a number of seconds or null")
    if glide is not None and not 0 <= glide <= 600:
        return BadMessage("glide must be in 0..600 seconds")
    return Change(str(message["target"]), value, glide=glide, source="status")


def to_json(snapshot: dict[str, Any]) -> str:
    """JSON text of a snapshot; dataclasses, enums, paths and sets are converted."""
    return json.dumps(snapshot, default=_plain, separators=(",", ":"), allow_nan=False)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def page_html() -> str:
    """The page shipped with the package."""
    return resources.files("bridge.status").joinpath("page.html").read_text(encoding="utf-8")


class _Connection(ServerConnection):
    """A ServerConnection that can be found before its request arrives (see close())."""

    live: ClassVar[weakref.WeakSet[_Connection]] = weakref.WeakSet()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        _Connection.live.add(self)


class _Client:
    """One websocket: the last version it was sent and a wake-up for new snapshots."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.sent = 0
        self.wake = asyncio.Event()


class StatusServer:
    """Serves the page and the status/control websocket. See the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str | None,
        snapshot: Snapshot,
        control: Control,
        *,
        push_interval: float = 0.1,
        heartbeat: float = 1.0,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.token = token or None
        self.snapshot = snapshot
        self.control = control
        self.push_interval = push_interval
        self.heartbeat = heartbeat
        self.controls_received = 0
        self._server: Server | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._clients: set[_Client] = set()
        self._text = ""
        self._version = 0
        self._failing = False
        if self.token:
            register_secret(self.token)

    # --- life cycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Listen. Refuses (ConfigError) a non-loopback address without a token."""
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"status server: binding to {self.host} needs a token "
                "(set status_token or --status-token); without one it only binds to 127.0.0.1"
            )
        try:
            self._server = await serve(
                self._handle,
                self.host,
                self.requested_port,
                process_request=self._process_request,
                max_size=MAX_MESSAGE,
                server_header=f"promptbridge/{__version__}",
                logger=_WS_LOG,
                create_connection=_Connection,
            )
        except OSError as exc:
            where = f"{self.host}:{self.requested_port}"
            raise BridgeError(f"status server: cannot listen on {where}: {exc.strerror}") from None
        self._pusher = asyncio.create_task(self._push_loop(), name="status-push")
        log.info("status page on %s", self.url)

    async def close(self) -> None:
        """Stop listening and close every websocket (code 1001: going away)."""
        await cancelled(self._pusher)
        self._pusher = None
        if self._server is not None:
            self._server.close()
            # Browsers open spare sockets that never send a request; they would hold
            # wait_closed() until the opening-handshake timeout. Drop them now.
            for connection in list(_Connection.live):
                if connection.server is self._server and connection.protocol.state is CONNECTING:
                    connection.transport.abort()
            await self._server.wait_closed()
            self._server = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._server is None:
            return self.requested_port
        sockname = next(iter(self._server.sockets)).getsockname()
        return int(sockname[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def clients(self) -> int:
        return len(self._clients)

    def notify(self) -> None:
        """Something changed: push a snapshot soon (at most every ``push_interval``)."""
        self._changed.set()

    # --- pushing ---------------------------------------------------------------------
    async def _push_loop(self) -> None:
        """Build one snapshot per change burst (or heartbeat) and wake every client."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.heartbeat)
            self._changed.clear()
            if self._clients:
                self._refresh()
            await asyncio.sleep(self.push_interval)  # the rate limit: ~10 Hz at most

    def _refresh(self) -> bool:
        """Take a new snapshot; wake the clients if it differs from the last one."""
        data = self._snapshot_json()
        if data is None:
            return False
        text = f'{{"type":"snapshot","data":{data}}}'
        if text == self._text:
            return False
        self._text, self._version = text, self._version + 1
        for client in self._clients:
            client.wake.set()
        return True

    def _snapshot_json(self) -> str | None:
        """The redacted snapshot as JSON, or None if the provider failed (logged once
        per failure streak: a broken provider must neither kill nor flood the log)."""
        try:
            text = redact(to_json(self.snapshot()))
        except Exception:
            if not self._failing:
                log.exception("status snapshot failed (logged once until it works again)")
            self._failing = True
            return None
        self._failing = False
        return text

    async def _sender(self, client: _Client) -> None:
        """Send the latest snapshot whenever there is a newer one (slow clients skip)."""
        while True:
            await client.wake.wait()
            client.wake.clear()
            if client.sent < self._version:
                client.sent = self._version
                await client.ws.send(self._text)

    # --- websocket -------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client(ws)
        hello = {
            "type": "hello",
            "version": __version__,
            "targets": list(TARGETS_HELP),
            "config_specs": CONFIG_TABLE,
        }
        await ws.send(json.dumps(hello))
        self._clients.add(client)
        if not self._refresh():
            client.wake.set()  # nothing new: still send the current one to this client
        sender = asyncio.create_task(self._sender(client))
        try:
            async for message in ws:
                await self._on_message(client, message)
        except ConnectionClosed:
            pass  # the page or client went away: the finally below forgets it
        finally:
            self._clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def _on_message(self, client: _Client, message: str | bytes) -> None:
        parsed = parse_control(message)
        if isinstance(parsed, SnapshotRequest):
            # answered here, in order: it reflects every change sent before it
            data = self._snapshot_json()
            ident = json.dumps(parsed.id)
            await client.ws.send(f'{{"type":"snapshot","id":{ident},"data":{data or "null"}}}')
            return
        if isinstance(parsed, BadMessage):
            await client.ws.send(json.dumps({"type": "error", "message": parsed.reason}))
            return
        self.controls_received += 1
        try:
            outcome = self.control(parsed)
        except Exception:  # the daemon's bug must not close the performer's page
            log.exception("status control %s failed", parsed.target)
            outcome = Outcome(refused="failed (see the daemon's log)")
        if outcome.refused is not None:
            reply = {"type": "error", "message": redact(f"{parsed.target}: {outcome.refused}")}
            await client.ws.send(json.dumps(reply))
        elif outcome.note is not None:  # applied, but not as asked: say so
            await client.ws.send(json.dumps({"type": "notice", "message": redact(outcome.note)}))
        self.notify()

    # --- HTTP ------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        refusal = self._refuse(request)
        if refusal is not None:
            return connection.respond(HTTPStatus.FORBIDDEN, refusal + "\n")
        query_token = parse_qs(url.query).get("token", [""])[0]
        if not self._authorized(request, query_token):
            return connection.respond(
                HTTPStatus.UNAUTHORIZED, "token required: open /?token=YOUR_TOKEN\n"
            )
        if url.path == "/ws":
            return None  # go on with the websocket handshake
        if url.path in ("/", "/index.html"):
            if query_token:  # move the token out of the address bar into a cookie
                return _redirect(connection, "/", _cookie(query_token))
            return _respond(connection, HTTPStatus.OK, page_html(), "text/html; charset=utf-8")
        if url.path == "/snapshot.json":
            body = self._snapshot_json()
            if body is None:
                return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, "snapshot failed\n")
            return _respond(connection, HTTPStatus.OK, body, "application/json")
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    def _refuse(self, request: Request) -> str | None:
        """Why a request must be refused before any token check (origin, host), or None."""
        host = request.headers.get("Host", "")
        origin = request.headers.get("Origin")
        if origin is not None and origin != "null" and urlsplit(origin).netloc != host:
            return "cross-origin request refused"
        if not self.token and not _host_is_loopback(host):
            return "without a token this server only answers to localhost / 127.0.0.1"
        return None

    def _authorized(self, request: Request, query_token: str) -> bool:
        if self.token is None:
            return True
        offered = [query_token]
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        cookie = SimpleCookie()
        with contextlib.suppress(Exception):
            cookie.load(request.headers.get("Cookie", ""))
        if COOKIE in cookie:
            offered.append(unquote(cookie[COOKIE].value))
        expected = self.token.encode()
        return any(t and hmac.compare_digest(t.encode(), expected) for t in offered)


def _host_is_loopback(host_header: str) -> bool:
    host = host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header
    if host.startswith("["):
        host = host[1 : host.find("]")]
    return is_loopback(host) if host else False


def _respond(connection: ServerConnection, status: HTTPStatus, body: str, kind: str) -> Response:
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = kind
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if kind.startswith("text/html"):
        # everything is inline and local: forbid every other source
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self' ws: wss:; img-src data:; frame-ancestors 'none'"
        )
    return response


def _redirect(connection: ServerConnection, location: str, cookie: str) -> Response:
    response = connection.respond(HTTPStatus.SEE_OTHER, "")
    response.headers["Location"] = location
    response.headers["Set-Cookie"] = cookie
    response.headers["Cache-Control"] = "no-store"
    return response


def _cookie(token: str) -> str:
    return f"{COOKIE}={quote(token, safe='')}; Path=/; HttpOnly; SameSite=Strict"
