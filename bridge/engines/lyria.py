"""The ``lyria`` engine: a websocket client of Lyria RealTime or any compatible server. I/O.

The only module that imports the websockets *client*. It is a pump: every decision (setup,
replay, rotation, hand-over, reconnect, stagger, close codes) is made by the sans-I/O
``bridge.protocol.session.SessionMachine``; this module feeds it events and performs the
actions it returns (``bridge.protocol.events``). The wire format is ``bridge.protocol.codec``,
the crossfade arithmetic ``bridge.protocol.rotation``.

Theory of operation (tasks on the one asyncio loop)::

    apply(update) ─▶ machine ─▶ Send(n, frame) ─▶ session n's outbox ─▶ writer task ─▶ ws
    ws ─▶ reader task ─▶ codec ─▶ machine ─▶ Deliver ─▶ session audio (bounded) ─▶ mixer ─▶ out
    clock task: sleeps until the machine's WakeAt, then feeds it a Tick
    connect tasks: one per Connect action; each ends in Connected or ConnectFailed

* ``apply`` never awaits the network: the machine records the state (replayed after every
  (re)connect) and the frame goes to each live session's outbox; its single writer task
  drains it in order.
* Every session's audio goes through a bounded queue and the mixer through another, so a
  slow consumer stops the reader, which stops reading the socket: backpressure, no
  unbounded audio in memory.
* The mixer plays the session the machine routed it to (``Switch``) and performs the
  equal-power ``Crossfade`` a rotation asks for; audio a session queued before it ended
  unplanned still plays out before the next one's. ``chunks()`` never shows the seam.
* The API key goes only into the ``x-goog-api-key`` header. Close reasons and exception
  texts are redacted here, at the boundary, before the machine (and a log line or
  ``status()``) sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bridge.aio import settled
from bridge.core.types import AudioChunk, Update
from bridge.errors import BridgeError, ConfigError
from bridge.logs import RedactingAdapter, redact, register_secret
from bridge.protocol import codec, events, rotation
from bridge.protocol.events import Settings
from bridge.protocol.session import SessionMachine

log = logging.getLogger("bridge.engines.lyria")
# websockets logs request headers (the key) at DEBUG: give it a logger that redacts.
_WS_LOG = RedactingAdapter(logging.getLogger("websockets.client"), {})

DEFAULT_URL = f"wss://generativelanguage.googleapis.com{codec.SERVICE_PATH}"
# Google's chunks are ~2 s (~512 KB as base64 JSON); websockets' default limit is 1 MiB.
MAX_FRAME = 16 * 2**20
# Every chunk queued here is heard that much later after a knob moves, so the queues are
# short: the player's jitter buffer is where audio waits, sized by --latency.
SESSION_QUEUE = 2  # chunks buffered per session before the reader stops reading the socket
OUT_QUEUE = 1  # chunks the mixer holds ahead of the consumer
WS_QUEUE = 2  # frames websockets itself keeps before it stops reading the socket
CLOSE_TIMEOUT = 2.0  # seconds a closing handshake may take before the socket is aborted
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _Conn:
    """The I/O half of one session: its socket, outbox and writer, reader, audio queue."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.ws: ClientConnection | None = None
        self.outbox: deque[tuple[str, str]] = deque()  # (kind, frame)
        self.wake_writer = asyncio.Event()
        self.audio: asyncio.Queue[AudioChunk] = asyncio.Queue(SESSION_QUEUE)
        self.ended = asyncio.Event()
        self.closing = False
        self.connecting: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[None]] = []  # writer and reader, once connected

    def send(self, kind: str, frame: str) -> None:
        """Queue a frame; a newer prompts/config frame replaces one still waiting at the end."""
        if kind in ("prompts", "config") and self.outbox and self.outbox[-1][0] == kind:
            self.outbox[-1] = (kind, frame)
        else:
            self.outbox.append((kind, frame))
        self.wake_writer.set()

    def drop_audio(self) -> None:
        while not self.audio.empty():
            self.audio.get_nowait()


class LyriaEngine:
    """The Engine protocol over the Lyria RealTime websocket API (see the module docstring)."""

    name = "lyria"

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        model: str = codec.DEFAULT_MODEL,
        api_key: str | None = None,
        rng: random.Random | None = None,
        **options: Any,
    ) -> None:
        self.url = check_url(url)
        if not model or not model.strip():
            raise ConfigError("engine model must not be empty (default: models/lyria-realtime-exp)")
        self.model = codec.normalize_model(model)
        self._key = api_key
        if api_key:
            register_secret(api_key)
        settings = Settings(model=self.model, url_path=urlsplit(self.url).path, **options)
        self.settings = settings
        self._machine = SessionMachine(settings, rng or random.Random())
        self._decoder = codec.ServerDecoder()  # one per engine: unknown keys logged once
        self._conns: dict[int, _Conn] = {}
        self._route: int | None = None  # the session the mixer plays
        self._playing_from: int | None = None  # ... or one that ended and still has audio
        self._fade: events.Crossfade | None = None
        self._wake_mixer = asyncio.Event()
        self._out: asyncio.Queue[AudioChunk | None] = asyncio.Queue(OUT_QUEUE)
        self._deadline: float | None = None
        self._wake_clock = asyncio.Event()
        self._settled = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._failure: BridgeError | None = None
        self._news: Callable[[], None] = lambda: None
        self._perform: dict[type, Callable[[Any], None]] = {
            events.Connect: self._do_connect,
            events.Send: self._do_send,
            events.Crossfade: self._do_crossfade,
            events.Switch: self._do_switch,
            events.Close: self._do_close,
            events.WakeAt: self._do_wake_at,
            events.Log: lambda a: log.log(_LEVELS[a.level], "lyria: %s", a.message),
            events.Fail: self._do_fail,
        }

    # --- Engine protocol -----------------------------------------------------------------
    async def start(self) -> None:
        """Open the first session; a rejected key raises, a transient failure keeps retrying
        in the background (or raises SessionClosed when ``retries`` is 0)."""
        self._spawn(self._mix(), "lyria-mixer")
        self._spawn(self._clock(), "lyria-clock")
        self._feed(events.Begin())
        await self._settled.wait()
        if self._failure is not None:
            raise self._failure

    async def apply(self, update: Update) -> None:
        """Remember ``update`` as the latest state and queue it to every live session."""
        self._feed(events.Apply(update))

    async def chunks(self) -> AsyncIterator[AudioChunk]:
        """The continuous, crossfaded stream. Raises the failure if the engine gave up."""
        while True:
            chunk = await self._out.get()
            if chunk is None:
                if self._failure is not None and not self._closing:
                    raise self._failure
                return
            yield chunk

    async def close(self) -> None:
        """Close every session with 1000 and end ``chunks()``."""
        self._closing = True
        self._feed(events.Shutdown())
        closers = [t for t in self._tasks if t.get_name().startswith("lyria-close")]
        for task in self._tasks - set(closers):
            task.cancel()
        await settled(list(self._tasks))
        sockets = [task for conn in self._conns.values() for task in conn.tasks]
        for task in sockets:
            task.cancel()
        await settled(sockets)
        self._end_stream()

    def status(self) -> dict[str, Any]:
        """Connection state and counters; the URL without query, close reasons redacted."""
        parts = urlsplit(self.url)
        return {
            "engine": self.name,
            **self._machine.status(),
            "url": redact(f"{parts.scheme}://{parts.netloc}{parts.path}"),
            "model": self.model,
        }

    def on_news(self, callback: Callable[[], None]) -> None:
        """``callback`` runs when the model filters a prompt (status() lists it)."""
        self._news = callback

    # --- the pump --------------------------------------------------------------------------
    def _feed(self, event: events.Event) -> list[events.Deliver]:
        """Hand ``event`` to the machine and perform its actions; Deliver actions are
        returned to the reader that fed the frame (they may have to wait for the mixer)."""
        now = asyncio.get_running_loop().time()
        delivers = []
        filtered = len(self._machine.wire.filtered)
        for action in self._machine.handle(event, now):
            if isinstance(action, events.Deliver):
                delivers.append(action)
            else:
                self._perform[type(action)](action)
        if self._machine.settled:
            self._settled.set()
        if len(self._machine.wire.filtered) != filtered:
            self._news()
        return delivers

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _do_connect(self, action: events.Connect) -> None:
        conn = self._conns[action.session] = _Conn(action.session)
        conn.connecting = self._spawn(self._connect(conn), f"lyria-connect-{conn.number}")

    def _do_send(self, action: events.Send) -> None:
        conn = self._conns.get(action.session)
        if conn is not None:  # always: the machine sends only to open sessions
            conn.send(action.kind, action.frame)

    def _do_switch(self, action: events.Switch) -> None:
        self._route, self._fade = action.session, None
        self._wake_mixer.set()

    def _do_crossfade(self, action: events.Crossfade) -> None:
        self._fade = action
        self._wake_mixer.set()

    def _do_close(self, action: events.Close) -> None:
        conn = self._conns.get(action.session)
        if conn is None or conn.closing:
            return
        conn.closing = True
        conn.drop_audio()
        self._spawn(self._close(conn, action.code), f"lyria-close-{conn.number}")

    def _do_wake_at(self, action: events.WakeAt) -> None:
        self._deadline = action.time
        self._wake_clock.set()

    def _do_fail(self, action: events.Fail) -> None:
        self._failure = action.error
        self._route, self._fade = None, None
        self._end_stream()

    def _end_stream(self) -> None:
        """Make ``chunks()`` end: drop what is queued (nobody will play it) and mark the end."""
        while not self._out.empty():
            self._out.get_nowait()
        self._out.put_nowait(None)

    async def _clock(self) -> None:
        """Feed the machine a Tick at every WakeAt time."""
        loop = asyncio.get_running_loop()
        while True:
            self._wake_clock.clear()
            deadline = self._deadline
            delay = None if deadline is None else max(0.0, deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake_clock.wait()
            if self._deadline is not None and loop.time() >= self._deadline:
                self._feed(events.Tick())

    # --- one session's I/O -----------------------------------------------------------------
    async def _connect(self, conn: _Conn) -> None:
        headers = {"x-goog-api-key": self._key} if self._key else {}
        try:
            ws = await connect(
                self.url,
                additional_headers=headers,
                max_size=MAX_FRAME,
                max_queue=WS_QUEUE,
                open_timeout=self.settings.setup_timeout,
                user_agent_header="promptbridge",
                logger=_WS_LOG,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            self._conns.pop(conn.number, None)
            self._feed(events.ConnectFailed(conn.number, f"server answered HTTP {status}", status))
            return
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            self._conns.pop(conn.number, None)
            message = redact(f"cannot connect: {exc or type(exc).__name__}")
            self._feed(events.ConnectFailed(conn.number, message))
            return
        conn.ws = ws
        conn.tasks = [
            asyncio.create_task(self._write(conn), name=f"lyria-writer-{conn.number}"),
            asyncio.create_task(self._read(conn), name=f"lyria-reader-{conn.number}"),
        ]
        if conn.closing:  # closed (engine shut down) while connecting
            self._spawn(self._close(conn, 1000), f"lyria-close-{conn.number}")
            return
        self._feed(events.Connected(conn.number))

    async def _write(self, conn: _Conn) -> None:
        """The one writer of this socket: sends queued frames in order."""
        assert conn.ws is not None
        try:
            while True:
                await conn.wake_writer.wait()
                conn.wake_writer.clear()
                while conn.outbox:
                    _, frame = conn.outbox.popleft()
                    await conn.ws.send(frame)
        except ConnectionClosed:
            pass  # the reader reports why

    async def _read(self, conn: _Conn) -> None:
        """Decode frames for the machine; audio it delivers goes to the bounded queue (a
        full queue pauses the socket)."""
        assert conn.ws is not None
        try:
            async for frame in conn.ws:
                for event in self._decoder.receive(frame):
                    for deliver in self._feed(events.Received(conn.number, event)):
                        await self._queue_audio(conn, deliver.chunks)
        except ConnectionClosed:
            pass  # the close code and reason are read from the socket right after
        finally:
            for task in conn.tasks[:1]:  # its writer: nothing more goes out on a closed socket
                task.cancel()
            code, reason = _close_info(conn.ws)
            self._feed(events.Closed(conn.number, code, reason))
            conn.ended.set()
            if conn.number not in (self._route, self._playing_from):
                self._conns.pop(conn.number, None)
            self._wake_mixer.set()

    async def _queue_audio(self, conn: _Conn, chunks: tuple[AudioChunk, ...]) -> None:
        for chunk in chunks:
            if conn.closing:
                return
            if conn.audio.full():
                await conn.audio.put(chunk)
                self._feed(events.Delivered(conn.number))  # the wait was ours, not a stall
            else:
                conn.audio.put_nowait(chunk)

    async def _close(self, conn: _Conn, code: int) -> None:
        """Close with ``code``; the reader keeps reading (dropping audio) so the peer's close
        frame gets through, then reports Closed."""
        if conn.ws is None:  # still connecting (the engine shuts down): stop trying
            if conn.connecting is not None:
                conn.connecting.cancel()
            return
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code), timeout=CLOSE_TIMEOUT)
        finally:
            conn.ws.transport.abort()  # no-op after a clean close; frees a stuck socket
            for task in conn.tasks:
                task.cancel()
            if self._playing_from != conn.number and self._route != conn.number:
                self._conns.pop(conn.number, None)

    # --- mixer -------------------------------------------------------------------------------
    async def _mix(self) -> None:
        """Move audio from the routed session to ``out``; crossfade when asked to."""
        while True:
            self._wake_mixer.clear()
            if self._fade is not None:
                await self._crossfade(self._fade)
                continue
            conn = self._source()
            if conn is None:
                await self._wake_mixer.wait()
                continue
            chunk = await self._take(conn, wake=True)
            if chunk is not None:
                await self._out.put(chunk)
            elif conn.ended.is_set() and conn.audio.empty() and self._source() is conn:
                await self._wake_mixer.wait()

    def _source(self) -> _Conn | None:
        """The routed session, after what an ended predecessor still has queued."""
        previous = self._conns.get(self._playing_from) if self._playing_from else None
        if previous is not None and previous.number != self._route and previous.ended.is_set():
            if not previous.closing and not previous.audio.empty():
                return previous
            self._conns.pop(previous.number, None)
        self._playing_from = self._route
        return self._conns.get(self._route) if self._route is not None else None

    async def _take(
        self, conn: _Conn, wake: bool = False, timeout: float | None = None
    ) -> AudioChunk | None:
        """The session's next chunk; None when it ended, timed out, or (wake) routing changed."""
        if not conn.audio.empty():
            return conn.audio.get_nowait()
        if conn.ended.is_set():
            return None
        getter = asyncio.ensure_future(conn.audio.get())
        waiters: set[asyncio.Future[Any]] = {getter, asyncio.ensure_future(conn.ended.wait())}
        if wake:
            waiters.add(asyncio.ensure_future(self._wake_mixer.wait()))
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for future in waiters:
                future.cancel()  # no-op for the finished ones; a cancelled get loses nothing
        return getter.result() if getter in done else None

    async def _crossfade(self, order: events.Crossfade) -> None:
        """Equal-power crossfade from ``order.old`` to ``order.new``; reports HandedOver.
        A Switch meanwhile (the new session died) abandons it."""
        old, new = self._conns.get(order.old), self._conns.get(order.new)
        first = await self._take(new) if new is not None else None
        if first is None or new is None:
            if self._fade is order:
                self._fade = None  # the new session ended: the machine re-routes on Closed
            return
        if self._fade is not order:
            return
        fade = rotation.Crossfade(max(1, int(order.seconds * first.rate)))
        new_buf, meta = first.samples, first.meta
        old_buf = np.zeros((0, new_buf.shape[1]), np.float32)
        while not fade.done and self._fade is order:
            if new_buf.shape[0] == 0:
                nxt = await self._take(new)
                if nxt is None:
                    break
                new_buf, meta = nxt.samples, nxt.meta
            if old is not None and old_buf.shape[0] == 0:
                # A stalled old stream must not hold up the new one: wait briefly only.
                got = await self._take(old, timeout=1.0)
                if got is None or got.samples.shape[1:] != new_buf.shape[1:]:
                    old = None
                else:
                    old_buf = got.samples
            n = min(new_buf.shape[0], fade.remaining)
            if old is not None:
                n = min(n, old_buf.shape[0])
            piece_old = old_buf[:n] if old is not None else np.zeros_like(new_buf[:n])
            mixed = fade.mix(piece_old, new_buf[:n])
            await self._out.put(AudioChunk(mixed, first.rate, dict(meta)))
            old_buf, new_buf = old_buf[n:], new_buf[n:]
        if self._fade is not order:
            return
        if new_buf.shape[0]:
            await self._out.put(AudioChunk(new_buf, first.rate, dict(meta)))
        self._route, self._playing_from, self._fade = order.new, order.new, None
        self._feed(events.HandedOver(order.new))


def create(**options: Any) -> LyriaEngine:
    """Build the engine (see ``LyriaEngine`` and ``bridge.protocol.session.Settings``)."""
    return LyriaEngine(**options)


def check_url(url: str) -> str:
    """A ws:// or wss:// URL without a key; with no path, the service's standard one."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"engine url must be ws://HOST[:PORT]/PATH or wss://..., got {url!r}")
    if "key=" in parts.query:
        raise ConfigError("engine url must not carry the API key; use GEMINI_API_KEY or a key file")
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=codec.SERVICE_PATH))
    return url


def _close_info(ws: ClientConnection) -> tuple[int | None, str]:
    """The peer's close code and redacted reason; 1006 when the TCP connection just dropped."""
    rcvd = ws.protocol.close_rcvd
    if rcvd is not None:
        return rcvd.code, redact(rcvd.reason)
    return 1006, ""
