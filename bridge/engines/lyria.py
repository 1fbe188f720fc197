"""The ``lyria`` engine: a websocket client of Lyria RealTime or any compatible server. I/O.

The only module that imports the websockets *client*. The wire format lives in
``bridge.protocol.codec``, the retry policy in ``bridge.protocol.backoff`` and the
rotation/crossfade arithmetic in ``bridge.protocol.rotation``; this module is the glue.

Theory of operation (tasks on the one asyncio loop)::

    apply(update) ─▶ remember latest state ─▶ each live session's outbox ─▶ writer task ─▶ ws
    ws ─▶ reader task ─▶ codec ─▶ session.audio (bounded queue) ─▶ mixer task ─▶ out (bounded)
    supervisor task: connect · setup · replay state · watch · rotate · reconnect with backoff

* ``apply`` never awaits the network: it records the update as the latest state (replayed
  after every (re)connect: prompts, config, PLAY if playing) and appends the frame to each
  live session's outbox; a session's single writer task drains it in order.
* Every session's audio goes through a bounded queue and the mixer through another, so a
  slow consumer stops the reader, which stops reading the socket: backpressure, no
  unbounded audio in memory.
* Google ends a session at about 600 s. The supervisor opens the next session at
  ``rotate_after`` seconds (or when the watchdog sees no audio for ``watchdog`` seconds),
  lets it pre-roll, and the mixer crossfades (equal power) from the old stream to the new
  one; then the old session is closed with 1000. ``chunks()`` never shows the seam.
* Unplanned closes are classified (1007/HTTP 401/403: stop; 1011 quota: minutes;
  otherwise: reconnect with jittered exponential backoff, forever by default).
* The API key goes only into the ``x-goog-api-key`` header. Close reasons and exception
  texts are redacted before they reach a log line or ``status()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bridge.core.types import (
    AudioChunk,
    Control,
    Playback,
    SetConfig,
    SetPrompts,
    Update,
    WeightedPrompt,
)
from bridge.errors import BridgeError, ConfigError, SessionClosed, SessionRejected
from bridge.logs import RedactingAdapter, redact, register_secret
from bridge.protocol import backoff, codec, rotation

log = logging.getLogger("bridge.engines.lyria")
# websockets logs request headers (the key) at DEBUG: give it a logger that redacts.
_WS_LOG = RedactingAdapter(logging.getLogger("websockets.client"), {})

DEFAULT_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"
)
# Google's chunks are ~2 s (~512 KB as base64 JSON); websockets' default limit is 1 MiB.
MAX_FRAME = 16 * 2**20
# Every chunk queued here is heard that much later after a knob moves, so the queues are
# short: the player's jitter buffer is where audio waits, sized by --latency.
SESSION_QUEUE = 2  # chunks buffered per session before the reader stops reading the socket
OUT_QUEUE = 1  # chunks the mixer holds ahead of the consumer
WS_QUEUE = 2  # frames websockets itself keeps before it stops reading the socket
BAD_FRAME_LOG_INTERVAL = 5.0  # seconds between two "bad frame" log lines
HEALTHY_AFTER = 5.0  # a session that lived this long resets the backoff


class _ConnectFailed(BridgeError):
    """Internal: one connection attempt failed in a retryable way (message is redacted)."""


class _Session:
    """One websocket session: its outbox and writer, its reader and its audio queue."""

    def __init__(self, number: int, ws: ClientConnection, now: float) -> None:
        self.number = number
        self.ws = ws
        self.started_at = now
        self.last_chunk_at = now
        self.outbox: deque[tuple[str, str]] = deque()  # (kind, frame)
        self.wake_writer = asyncio.Event()
        self.audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue(SESSION_QUEUE)
        self.first_audio = asyncio.Event()
        self.ended = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.tasks: list[asyncio.Task[None]] = []
        self.planned_close = False
        self.discarding = False  # being closed: its audio is dropped

    def send(self, kind: str, frame: str) -> None:
        """Queue a frame; a newer prompts/config frame replaces one still waiting at the end."""
        if kind != "control" and self.outbox and self.outbox[-1][0] == kind:
            self.outbox[-1] = (kind, frame)
        else:
            self.outbox.append((kind, frame))
        self.wake_writer.set()


class LyriaEngine:
    """The Engine protocol over the Lyria RealTime websocket API (see the module docstring)."""

    name = "lyria"

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        model: str = codec.DEFAULT_MODEL,
        api_key: str | None = None,
        rotate_after: float = 500.0,
        crossfade: float = 3.0,
        watchdog: float = 12.0,
        setup_timeout: float = 10.0,
        stagger: float = 10.0,
        preroll_timeout: float = 15.0,
        retries: int | None = None,
        backoff_cap: float = 5.0,
        quota_backoff: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url = _check_url(url)
        if not model or not model.strip():
            raise ConfigError("engine model must not be empty (default: models/lyria-realtime-exp)")
        self.model = codec.normalize_model(model)
        self._key = api_key
        if api_key:
            register_secret(api_key)
        self.rotate_after = rotate_after
        self.crossfade = crossfade
        self.watchdog = watchdog
        self.setup_timeout = setup_timeout
        self.stagger = stagger
        self.preroll_timeout = preroll_timeout
        self.retries = retries
        self.backoff_cap = backoff_cap
        self.quota_backoff = quota_backoff
        self._rng = rng or random.Random()
        # latest state, replayed after every (re)connect
        self._prompts: tuple[WeightedPrompt, ...] | None = None
        self._config: SetConfig | None = None
        self._playing = False
        self._filtered: dict[str, str] = {}
        self._seen_unknown: set[str] = set()
        # sessions
        self._live: list[_Session] = []  # every open session that receives updates
        self._opened: set[_Session] = set()  # every session not yet closed
        self._current: _Session | None = None
        self._next: _Session | None = None
        self._wake_mixer = asyncio.Event()
        self._handover = asyncio.Event()
        self._out: asyncio.Queue[AudioChunk | None] = asyncio.Queue(OUT_QUEUE)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_start: float | None = None
        self._closing = False
        self._failure: BridgeError | None = None
        self._last_bad_log = -1e9
        self._bad_suppressed = 0
        self._stats: dict[str, Any] = {
            "state": "idle",
            "sessions": 0,
            "reconnects": 0,
            "rotations": 0,
            "chunks_received": 0,
            "bad_frames": 0,
            "last_close_code": None,
            "last_close_reason": "",
            "last_error": "",
        }

    # --- Engine protocol -----------------------------------------------------------------
    async def start(self) -> None:
        """Open the first session; a rejected key raises, a transient failure keeps retrying
        in the background (or raises SessionClosed when ``retries`` is 0)."""
        first: _Session | None = None
        try:
            first = await self._open()
        except SessionRejected as exc:
            self._fail(exc)
            raise
        except _ConnectFailed as exc:
            if self.retries == 0:
                self._fail(SessionClosed(None, str(exc)))
                raise SessionClosed(None, str(exc)) from None
            log.warning("lyria: first connection failed (%s); retrying in the background", exc)
        self._tasks.append(asyncio.create_task(self._mix(), name="lyria-mixer"))
        self._tasks.append(asyncio.create_task(self._supervise(first), name="lyria-supervisor"))

    async def apply(self, update: Update) -> None:
        """Remember ``update`` as the latest state and queue it to every live session."""
        kind, frame = self._remember(update)
        if frame is None:
            return
        for session in self._live:
            session.send(kind, frame)

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
        self._stats["state"] = "closed"
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for session in list(self._opened):
            await self._discard(session)
        self._end_stream()

    def status(self) -> dict[str, Any]:
        """Connection state and counters; the URL without query, close reasons redacted."""
        parts = urlsplit(self.url)
        return {
            "engine": self.name,
            **self._stats,
            "url": redact(f"{parts.scheme}://{parts.netloc}{parts.path}"),
            "model": self.model,
            "playing": self._playing,
            "filtered_prompts": [{"text": t, "reason": r} for t, r in self._filtered.items()],
            "live_sessions": len(self._live),
        }

    # --- state -----------------------------------------------------------------------------
    def _remember(self, update: Update) -> tuple[str, str | None]:
        if isinstance(update, SetPrompts):
            self._prompts = update.prompts
            return "prompts", self._prompts_frame()
        if isinstance(update, SetConfig):
            self._config = update
            return "config", codec.encode_update(update)
        if isinstance(update, Control):
            if update.action == Playback.PLAY:
                self._playing = True
            elif update.action in (Playback.PAUSE, Playback.STOP):
                self._playing = False
            return "control", codec.encode_update(update)
        raise TypeError(f"not an Update: {type(update).__name__}")

    def _prompts_frame(self) -> str | None:
        """The prompts minus those the server filtered (not resent until their text changes)."""
        if not self._prompts:
            return None
        wire = tuple(p for p in self._prompts if p.text not in self._filtered and p.weight)
        return codec.encode_update(SetPrompts(wire)) if wire else None

    def _replay(self, session: _Session) -> None:
        """Queue the current state to a fresh session: prompts, config, PLAY if playing."""
        prompts = self._prompts_frame()
        if prompts is not None:
            session.send("prompts", prompts)
        if self._config is not None:
            session.send("config", codec.encode_update(self._config))
        if self._playing:
            session.send("control", codec.encode_update(Control(Playback.PLAY)))

    # --- connecting ------------------------------------------------------------------------
    async def _open(self) -> _Session:
        """Connect, send setup, wait for setupComplete, replay the state, start the tasks."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(rotation.stagger_wait(self._last_start, loop.time(), self.stagger))
        if self._current is None:
            self._stats["state"] = "connecting"
        ws = await self._connect()
        # A session start is the setup frame: a refused TCP connection does not count.
        self._last_start = loop.time()
        try:
            await self._handshake(ws)
        except BaseException:
            await ws.close()
            raise
        self._stats["sessions"] += 1
        session = _Session(self._stats["sessions"], ws, loop.time())
        # Replay and join the live set without an await in between: no update can be lost.
        self._replay(session)
        self._live.append(session)
        self._opened.add(session)
        session.tasks = [
            asyncio.create_task(self._write(session), name=f"lyria-writer-{session.number}"),
            asyncio.create_task(self._read(session), name=f"lyria-reader-{session.number}"),
        ]
        log.info("lyria: session %d open (%s)", session.number, self.model)
        return session

    async def _connect(self) -> ClientConnection:
        headers = {"x-goog-api-key": self._key} if self._key else {}
        try:
            return await connect(
                self.url,
                additional_headers=headers,
                max_size=MAX_FRAME,
                max_queue=WS_QUEUE,
                open_timeout=self.setup_timeout,
                user_agent_header="promptbridge",
                logger=_WS_LOG,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if backoff.classify(None, http_status=status) == backoff.Disposition.REJECT:
                raise SessionRejected(None, f"server refused the API key (HTTP {status})") from None
            raise _ConnectFailed(f"server answered HTTP {status}") from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise _ConnectFailed(redact(f"cannot connect: {exc or type(exc).__name__}")) from None

    async def _handshake(self, ws: ClientConnection) -> None:
        """Send setup; nothing else goes out before setupComplete arrives."""
        try:
            await ws.send(codec.encode_setup(self.model))
            async with asyncio.timeout(self.setup_timeout):
                decoder = codec.ServerDecoder()
                while True:
                    events = decoder.receive(await ws.recv())
                    if any(isinstance(e, codec.SetupComplete) for e in events):
                        return
        except TimeoutError:
            raise _ConnectFailed(f"no setupComplete within {self.setup_timeout:g} s") from None
        except ConnectionClosed as exc:
            code, reason = _close_info(exc)
            self._note_close(code, reason)
            if backoff.classify(code, reason) == backoff.Disposition.REJECT:
                raise SessionRejected(code, reason) from None
            raise _ConnectFailed(f"closed during setup (code {code})") from None

    # --- per-session tasks -----------------------------------------------------------------
    async def _write(self, session: _Session) -> None:
        """The one writer of this socket: sends queued frames in order."""
        try:
            while True:
                await session.wake_writer.wait()
                session.wake_writer.clear()
                while session.outbox:
                    _, frame = session.outbox.popleft()
                    await session.ws.send(frame)
        except ConnectionClosed:
            pass  # the reader records why

    async def _read(self, session: _Session) -> None:
        """Decode frames; audio goes to the bounded queue (a full queue pauses the socket)."""
        decoder = codec.ServerDecoder(self._seen_unknown)  # unknown keys: once per engine
        try:
            async for frame in session.ws:
                for event in decoder.receive(frame):
                    await self._on_event(session, event)
        except ConnectionClosed:
            pass  # the close code and reason are read from the socket right after
        finally:
            code, reason = _close_info_of(session.ws)
            session.close_code, session.close_reason = code, reason
            if not session.planned_close:
                self._note_close(code, reason)
            session.ended.set()
            self._wake_mixer.set()

    async def _on_event(self, session: _Session, event: codec.ServerEvent) -> None:
        if isinstance(event, codec.AudioChunks):
            for chunk in event.chunks:
                self._stats["chunks_received"] += 1
                if session.discarding:
                    continue
                await session.audio.put(chunk)
                session.last_chunk_at = asyncio.get_running_loop().time()
                session.first_audio.set()
        elif isinstance(event, codec.FilteredPrompt):
            self._on_filtered(event)
        elif isinstance(event, codec.ProtocolErrorEvent):
            self._on_bad_frame(event.message)
        elif isinstance(event, codec.UnknownKeys):
            log.info("lyria: ignoring unknown server message keys: %s", ", ".join(event.keys))

    def _on_filtered(self, event: codec.FilteredPrompt) -> None:
        if event.text not in self._filtered:
            log.warning("lyria: prompt %r was filtered: %s", event.text, event.reason)
        self._filtered[event.text] = event.reason

    def _on_bad_frame(self, message: str) -> None:
        """Log bad frames at most every few seconds, with how many were not logged."""
        self._stats["bad_frames"] += 1
        now = time.monotonic()
        if now - self._last_bad_log < BAD_FRAME_LOG_INTERVAL:
            self._bad_suppressed += 1
            return
        more = f" ({self._bad_suppressed} more not logged)" if self._bad_suppressed else ""
        log.warning("lyria: dropped a bad frame from the server: %s%s", message, more)
        self._last_bad_log, self._bad_suppressed = now, 0

    # --- supervisor ------------------------------------------------------------------------
    async def _supervise(self, session: _Session | None) -> None:
        """Keep one session streaming: watch it, rotate it, replace it when it ends."""
        delays = self._delays()
        failures = 0
        while not self._closing:
            if session is None:
                try:
                    session = await self._open()
                except SessionRejected as exc:
                    self._fail(exc)
                    return
                except _ConnectFailed as exc:
                    failures += 1
                    self._stats["last_error"] = str(exc)
                    if self.retries is not None and failures > self.retries:
                        self._fail(SessionClosed(None, f"gave up after {failures} attempts: {exc}"))
                        return
                    wait = next(delays)
                    log.warning("lyria: %s; retrying in %.1f s", exc, wait)
                    self._stats["state"] = "reconnecting"
                    await asyncio.sleep(wait)
                    continue
            self._install(session)
            ended, lived = await self._watch(session)
            session = None
            disposition = backoff.classify(ended.close_code, ended.close_reason)
            if disposition == backoff.Disposition.REJECT:
                self._fail(SessionRejected(ended.close_code, ended.close_reason))
                return
            self._stats["reconnects"] += 1
            self._stats["state"] = "reconnecting"
            if lived >= HEALTHY_AFTER:
                delays, failures = self._delays(), 0
            wait = (
                backoff.quota_delay(self.quota_backoff, self._rng)
                if disposition == backoff.Disposition.QUOTA
                else next(delays)
            )
            log.warning(
                "lyria: session %d closed (code %s%s); reconnecting in %.1f s",
                ended.number,
                ended.close_code,
                f": {ended.close_reason}" if ended.close_reason else "",
                wait,
            )
            await asyncio.sleep(wait)

    def _delays(self) -> Iterator[float]:
        return backoff.delays(cap=self.backoff_cap, rng=self._rng)

    def _install(self, session: _Session) -> None:
        if self._current is not session:
            self._current = session
            self._wake_mixer.set()
        self._stats["state"] = "streaming"

    async def _watch(self, session: _Session) -> tuple[_Session, float]:
        """Return the session that ended unplanned and how long it lived; rotate it when due
        or stalled in the meantime."""
        loop = asyncio.get_running_loop()
        retry_rotation_at = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await session.ended.wait()
            now = loop.time()
            if session.ended.is_set():
                await self._discard(session)
                if self._current is session:
                    self._current = None
                return session, now - session.started_at
            if not self._expect_audio() or session.audio.full():
                session.last_chunk_at = now  # the stall clock only runs while audio is due
            reason = self._rotation_reason(session, now)
            if reason and now >= retry_rotation_at:
                replacement = await self._rotate(session, reason)
                if replacement is None:
                    retry_rotation_at = loop.time() + max(1.0, self.stagger)
                    continue
                session = replacement

    def _expect_audio(self) -> bool:
        return self._playing and self._prompts_frame() is not None

    def _rotation_reason(self, session: _Session, now: float) -> str:
        if rotation.rotation_due(session.started_at, now, self.rotate_after):
            return "scheduled"
        if rotation.stalled(session.last_chunk_at, now, self.watchdog):
            return "watchdog"
        return ""

    async def _rotate(self, old: _Session, reason: str) -> _Session | None:
        """Open the next session, pre-roll it, crossfade to it, close the old one."""
        log.info("lyria: rotating session %d (%s)", old.number, reason)
        self._stats["state"] = "rotating"
        try:
            new = await self._open()
        except BridgeError as exc:
            log.warning("lyria: could not open the next session (%s); keeping the old one", exc)
            self._stats["state"] = "streaming"
            return None
        if self._playing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.preroll_timeout):
                    await _first_of(new.first_audio, old.ended)
            if not new.first_audio.is_set() and not old.ended.is_set():
                log.warning("lyria: the next session sent no audio; keeping the old one")
                await self._discard(new)
                self._stats["state"] = "streaming"
                return None
            self._handover.clear()
            self._next = new
            self._wake_mixer.set()
            await _first_of(self._handover, new.ended)
        if self._current is not new:
            if self._playing and not old.ended.is_set() and not new.ended.is_set():
                await self._discard(new)  # the fade found no audio in the new session
                self._stats["state"] = "streaming"
                return None
            self._next = None
            self._current = new  # paused, or the old session is gone: switch at once
            self._wake_mixer.set()
        self._stats["rotations"] += 1
        self._stats["state"] = "streaming"
        await self._discard(old)
        return new

    async def _discard(self, session: _Session) -> None:
        """Close a session with 1000 (planned) and stop its tasks."""
        session.planned_close = not session.ended.is_set()
        if session in self._live:
            self._live.remove(session)
        # Keep the reader reading (dropping audio) so the peer's close frame gets through.
        # (An ended session keeps its queued audio: the mixer still plays it out.)
        session.discarding = True
        while session.planned_close and not session.audio.empty():
            session.audio.get_nowait()
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.ws.close(1000), timeout=2.0)
        finally:
            for task in session.tasks:
                task.cancel()
            session.ws.transport.abort()  # no-op after a clean close; frees a stuck socket
            self._opened.discard(session)
            session.ended.set()

    # --- mixer -------------------------------------------------------------------------------
    async def _mix(self) -> None:
        """Move audio from the current session to ``out``; crossfade when a next one is ready."""
        while True:
            self._wake_mixer.clear()
            current, upcoming = self._current, self._next
            if current is None:
                await self._wake_mixer.wait()
                continue
            if upcoming is not None:
                await self._crossfade(current, upcoming)
                continue
            chunk = await self._take(current, wake=True)
            if chunk is not None:
                await self._out.put(chunk)
            elif current.ended.is_set() and current.audio.empty() and self._current is current:
                await self._wake_mixer.wait()

    async def _take(
        self, session: _Session, wake: bool = False, timeout: float | None = None
    ) -> AudioChunk | None:
        """The session's next chunk; None when it ended, timed out, or (wake) state changed."""
        if not session.audio.empty():
            return session.audio.get_nowait()
        if session.ended.is_set():
            return None
        getter = asyncio.ensure_future(session.audio.get())
        waiters: set[asyncio.Future[Any]] = {getter, asyncio.ensure_future(session.ended.wait())}
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

    async def _crossfade(self, old: _Session, new: _Session) -> None:
        """Equal-power crossfade from ``old`` to ``new`` over ``crossfade`` seconds of audio."""
        first = await self._take(new, timeout=self.preroll_timeout)
        if first is None:  # the new session died before its first chunk: keep the old
            self._next = None
            self._handover.set()
            return
        fade = rotation.Crossfade(max(1, int(self.crossfade * first.rate)))
        new_buf, new_meta = first.samples, first.meta
        old_buf = np.zeros((0, new_buf.shape[1]), np.float32)
        old_alive = True
        while not fade.done:
            if new_buf.shape[0] == 0:
                nxt = await self._take(new)
                if nxt is None:
                    break
                new_buf, new_meta = nxt.samples, nxt.meta
            if old_alive and old_buf.shape[0] == 0:
                # A stalled old stream must not hold up the new one: wait briefly only.
                got = await self._take(old, timeout=1.0)
                if got is None or got.samples.shape != (got.frames, new_buf.shape[1]):
                    old_alive = False
                else:
                    old_buf = got.samples
            n = min(new_buf.shape[0], fade.remaining)
            if old_alive:
                n = min(n, old_buf.shape[0])
            piece_old = old_buf[:n] if old_alive else np.zeros_like(new_buf[:n])
            mixed = fade.mix(piece_old, new_buf[:n])
            old_buf, new_buf = old_buf[n:], new_buf[n:]
            await self._out.put(AudioChunk(mixed, first.rate, dict(new_meta)))
        if new_buf.shape[0]:
            await self._out.put(AudioChunk(new_buf, first.rate, dict(new_meta)))
        self._current, self._next = new, None
        self._handover.set()

    # --- endings -----------------------------------------------------------------------------
    def _note_close(self, code: int | None, reason: str) -> None:
        self._stats["last_close_code"] = code
        self._stats["last_close_reason"] = redact(reason)

    def _fail(self, exc: BridgeError) -> None:
        log.error("lyria: giving up: %s", exc)
        self._failure = exc
        self._stats["state"] = "failed"
        self._stats["last_error"] = redact(str(exc))
        self._end_stream()

    def _end_stream(self) -> None:
        """Make ``chunks()`` end: drop what is queued (nobody will play it) and mark the end."""
        while not self._out.empty():
            self._out.get_nowait()
        self._out.put_nowait(None)


def create(**options: Any) -> LyriaEngine:
    """Build the engine (see ``LyriaEngine`` for the options)."""
    return LyriaEngine(**options)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"engine url must be ws://HOST[:PORT]/PATH or wss://..., got {url!r}")
    if "key=" in parts.query:
        raise ConfigError("engine url must not carry the API key; use GEMINI_API_KEY or a key file")
    return url


def _close_info(exc: ConnectionClosed) -> tuple[int | None, str]:
    """The peer's close code and redacted reason; 1006 when the TCP connection just dropped."""
    if exc.rcvd is not None:
        return exc.rcvd.code, redact(exc.rcvd.reason)
    return 1006, ""


def _close_info_of(ws: ClientConnection) -> tuple[int | None, str]:
    rcvd = ws.protocol.close_rcvd
    if rcvd is not None:
        return rcvd.code, redact(rcvd.reason)
    return 1006, ""


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
