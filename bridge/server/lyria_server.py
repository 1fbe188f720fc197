"""A Lyria RealTime-compatible websocket server around any in-process engine. Network I/O.

The only module besides ``bridge.status`` that imports the websockets *server*. It speaks
the same protocol on the same paths as Google's service, so the ``lyria`` engine, Google's
own google-genai SDK or any other Lyria client can stream from a PromptBridge engine (a
GPU box on the LAN, or a loopback server in tests).

Per connection::

    setup ─▶ engine = factory(); engine.start() ─▶ setupComplete
    reader: clientContent / musicGenerationConfig / playbackControl ─▶ engine.apply
    streamer: while playing with prompts: engine chunk ─▶ serverContent (binary JSON frame)

Pacing and backpressure: like the real service, a session streams at most ``ahead``
chunks (default 2) ahead of real time, pulling the engine as late as possible so a change
is heard in the next chunk; ``ahead=None`` streams as fast as the client reads. Either
way the engine is pulled only after the previous chunk was handed to the socket, whose
send buffer is kept small, so a paused or slow client costs no memory. A malformed client
frame closes the connection with 1007 and a reason; prompts the server refuses (empty
text) are answered with ``filteredPrompt`` and left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bridge.core.playback import PlayState, after
from bridge.core.types import (
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.engines.base import Engine
from bridge.logs import RedactingAdapter, register_secret
from bridge.protocol import codec

log = logging.getLogger("bridge.server")
# websockets logs request headers (a client's key) at DEBUG: give it a logger that redacts.
_WS_LOG = RedactingAdapter(logging.getLogger("websockets.server"), {})

PATHS = frozenset(codec.service_path(v) for v in codec.API_VERSIONS)
SETUP_TIMEOUT = 10.0  # seconds a client may take to send its setup frame
MAX_REASON = 120  # a close reason must fit in 123 bytes
SEND_BUFFER = 128 * 1024  # bytes; the kernel doubles it (a 2 s chunk is ~512 KB as JSON)

EngineFactory = Callable[[], Engine]


class LyriaServer:
    """Serves ``factory()`` engines (one per connection) over the Lyria wire protocol."""

    def __init__(
        self, factory: EngineFactory, *, api_key: str | None = None, ahead: float | None = None
    ) -> None:
        self._factory = factory
        self._api_key = api_key
        # How many chunks ahead of real time a session may stream (None: as fast as the
        # socket takes them). A client that reads slowly would otherwise let the kernel's
        # receive buffer fill with many seconds of audio, and every knob would lag by them.
        self.ahead = ahead
        if api_key:
            register_secret(api_key)  # websockets logs request headers at DEBUG level
        self.connections = 0  # currently open sessions

    async def start(
        self, host: str = "127.0.0.1", port: int = 8765, ssl_context: ssl.SSLContext | None = None
    ) -> Server:
        """Listen; the returned Server is an async context manager (``server.close()``)."""
        return await serve(
            self._handle,
            host,
            port,
            process_request=self._check_request,
            ssl=ssl_context,
            compression=None,  # base64 audio barely compresses; spare the CPU
            server_header="promptbridge",
            logger=_WS_LOG,
        )

    # --- handshake ---------------------------------------------------------------------------
    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse unknown paths (404) and, with an API key configured, wrong keys (403)."""
        parts = urlsplit(request.path)
        if parts.path not in PATHS:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such endpoint\n")
        if self._api_key is not None and not self._key_ok(request.headers, parts.query):
            return connection.respond(HTTPStatus.FORBIDDEN, "API key missing or not valid\n")
        return None

    def _key_ok(self, headers: Headers, query: str) -> bool:
        assert self._api_key is not None
        # Older clients sent ?key=...; accept it, though the header is what we recommend.
        offered = headers.get("x-goog-api-key") or next(iter(parse_qs(query).get("key", [])), "")
        return hmac.compare_digest(offered.encode(), self._api_key.encode())

    # --- one session -------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        try:
            async with asyncio.timeout(SETUP_TIMEOUT):
                first = codec.decode_client(await ws.recv())
        except TimeoutError:
            await ws.close(1007, "no setup frame received")
            return
        except ConnectionClosed:
            return
        if not isinstance(first, codec.Setup):
            await _refuse(ws, "the first frame must be setup")
            return
        _limit_send_buffer(ws)
        engine = self._factory()
        await engine.start()
        self.connections += 1
        try:
            await ws.send(codec.encode_setup_complete())
            await _Session(ws, engine, self.ahead).run()
        except ConnectionClosed:
            pass  # the client left: its engine is closed below, nothing to report
        finally:
            self.connections -= 1
            await engine.close()


class _Session:
    """The state of one connection: what the client asked for, and its two tasks."""

    def __init__(self, ws: ServerConnection, engine: Engine, ahead: float | None = None) -> None:
        self.ws = ws
        self.engine = engine
        self.ahead = ahead
        self.prompts: tuple[WeightedPrompt, ...] = ()
        self.config = GenerationConfig()
        self.play = PlayState.STOPPED
        self.can_stream = asyncio.Event()  # playing and at least one prompt

    async def run(self) -> None:
        streamer = asyncio.create_task(self._stream())
        try:
            await self._read()
        finally:
            streamer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await streamer

    async def _read(self) -> None:
        async for frame in self.ws:
            event = codec.decode_client(frame)
            if isinstance(event, codec.ProtocolErrorEvent):
                await _refuse(self.ws, event.message)
                return
            if isinstance(event, codec.Setup):
                await _refuse(self.ws, "setup may only be sent once")
                return
            if isinstance(event, SetPrompts):
                await self._set_prompts(event)
            elif isinstance(event, SetConfig):
                self.config = event.config
                await self.engine.apply(event)
            else:
                await self._control(event)
            self._update_gate()

    async def _set_prompts(self, update: SetPrompts) -> None:
        """Refuse empty texts (filteredPrompt); drop zero weights; keep the last set if none
        is left (the API needs at least one prompt)."""
        kept = []
        for prompt in update.prompts:
            if not prompt.text.strip():
                await self.ws.send(codec.encode_filtered(prompt.text, "empty prompt text"))
            elif prompt.weight != 0:
                kept.append(prompt)
        if kept:
            self.prompts = tuple(kept)
            await self.engine.apply(SetPrompts(self.prompts))

    async def _control(self, control: Control) -> None:
        self.play = after(self.play, Playback(control.action))
        await self.engine.apply(control)

    def _update_gate(self) -> None:
        if self.play is PlayState.PLAYING and self.prompts:
            self.can_stream.set()
        else:
            self.can_stream.clear()

    async def _stream(self) -> None:
        """Stream; an engine failure ends the session with 1011 (the client reconnects)."""
        try:
            await self._stream_chunks()
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("serve: the engine failed")
            await self.ws.close(1011, f"engine failed: {type(exc).__name__}"[:MAX_REASON])

    async def _stream_chunks(self) -> None:
        """Send chunks while playing, at most ``ahead`` chunks ahead of real time (like the
        real service, which generates about as fast as it plays)."""
        loop = asyncio.get_running_loop()
        chunks = self.engine.chunks()
        played_until = loop.time()  # when the client will have played all we sent
        size = 0.0  # seconds per chunk, learnt from the first one
        while True:
            await self.can_stream.wait()
            played_until = max(played_until, loop.time())
            early = played_until - loop.time() - (self.ahead or 0.0) * size
            if self.ahead is not None and early > 0:
                # Pull the engine as late as possible: a change sent meanwhile is heard
                # in the very next chunk.
                await asyncio.sleep(early)
                continue
            chunk = await anext(chunks, None)
            if chunk is None:
                await self.ws.close(1011, "engine stopped")
                return
            if not self.can_stream.is_set():
                continue  # paused while the engine was generating: drop the stale chunk
            meta = codec.source_metadata(self.prompts, self.config)
            await self.ws.send(codec.encode_audio(chunk, meta))
            size = chunk.seconds
            played_until += chunk.seconds


async def _refuse(ws: ServerConnection, reason: str) -> None:
    """Close with 1007 (invalid payload) and a reason that fits a close frame."""
    log.info("serve: closing a session with 1007: %s", reason)
    await ws.close(1007, reason[:MAX_REASON])


def _limit_send_buffer(ws: ServerConnection) -> None:
    """Keep the kernel from queueing many seconds of audio for a client that stopped
    reading: with a small send buffer the engine is pulled about one chunk ahead."""
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


def ssl_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context from a PEM certificate chain and its private key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def start_server(
    factory: EngineFactory,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    api_key: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    ahead: float | None = None,
) -> tuple[LyriaServer, Server]:
    """Start serving; returns the LyriaServer and the listening websockets Server."""
    lyria = LyriaServer(factory, api_key=api_key, ahead=ahead)
    return lyria, await lyria.start(host, port, ssl_context)


def bound_port(server: Server) -> int:
    """The TCP port a server listens on (useful with port 0)."""
    sockets: Any = server.sockets
    return int(sockets[0].getsockname()[1])
