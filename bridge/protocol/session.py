"""The Lyria client's session logic as a state machine. Pure: no I/O, no clock, no sleep.

Theory of operation
-------------------
Like websockets' sans-I/O ``Protocol``: the engine (``bridge.engines.lyria``) owns the
sockets, the tasks and the audio; this module owns every decision. The engine tells
``SessionMachine.handle(event, now)`` what happened (events, ``bridge.protocol.events``:
a websocket opened or failed, a decoded frame arrived, a socket closed, the mixer finished
a hand-over, a timer expired, the performer changed something) and performs the actions
it gets back, in order (open a websocket, send a frame on session N, hand audio to the
mixer, crossfade, switch, close a session, wake me at T, log, fail).

Sessions are numbered 1, 2, ... Each moves through ``Phase`` by the table ``PHASES``
(CONNECTING → SETUP → LIVE → CLOSING → GONE); an event the table does not allow in a
phase is ignored. At most two sessions matter at a time: ``current`` (the one the mixer
plays) and ``next`` (being opened, as a rotation or to replace a lost one). Every timer
is a pure function of this state (``_timers``): after each event the machine acts on
whatever is due (``_settle``) and reports the earliest pending time as ``WakeAt``.

Rules (field reports in docs/lyria-protocol.md):

1. Setup first: a new websocket gets ``setup`` and nothing else until ``setupComplete``;
   no ``setupComplete`` within ``setup_timeout`` is a failed attempt.
2. Replay: a session that completed setup gets the current state: prompts (minus the
   filtered ones), the whole config, PLAY if playing. Later updates go to every live
   session.
3. Rotation: the next session opens ``rotate_after`` s after the current one started
   (before the service's ~600 s cap), or when no audio came for ``watchdog`` s while
   audio was due.
4. Hand-over: while playing, the next session must send audio within ``preroll_timeout``
   s; then the mixer crossfades to it (a switch if the old one is no longer streaming),
   and the old session is closed. No audio: the old session is kept and the rotation
   retried after ``stagger`` s. Paused, or the old session gone: switch at once.
5. Reconnect: an unplanned close of the current session (1011, 1006, 1013, ...) opens
   the next one at once (within ``backoff.delays``' first delay, 250 ms, jittered);
   further failed attempts back off exponentially up to ``backoff_cap``.
6. A session that lived ``healthy_after`` s resets the backoff and the retry budget.
7. Budget: more than ``retries`` consecutive failed attempts (None: no limit) fail.
8. Stagger: planned starts (rotations, and the retry of rule 10) are ``stagger`` s apart
   from the previous start; reconnects after an unplanned close are not held back.
9. Close codes: 1007 and HTTP 401/403/404 fail (retrying cannot help); 1011 about quota
   waits ``quota_backoff`` s (+ up to 50 %); anything else is rule 5.
10. Filtered prompts are not resent until their text changes. A session started less
    than ``stagger`` s after the previous one that answers with ``filteredPrompt`` before
    any audio met the service's start rate limit: that filter is not believed, and the
    session is replaced once, a stagger after its start.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.errors import BridgeError, LocalProtocolError, SessionClosed, SessionRejected
from bridge.protocol import backoff, codec
from bridge.protocol import events as ev
from bridge.protocol.events import Settings
from bridge.protocol.replay import WireState

BAD_FRAME_LOG_INTERVAL = 5.0  # seconds between two "bad frame" log lines


class Phase(StrEnum):
    CONNECTING = "connecting"  # websocket handshake under way
    SETUP = "setup"  # setup sent, waiting for setupComplete
    LIVE = "live"  # setup complete: receives updates, may stream
    CLOSING = "closing"  # we asked it to close: its audio is dropped
    GONE = "gone"  # closed by either side, or never opened


_C, _S, _L, _X, _G = Phase.CONNECTING, Phase.SETUP, Phase.LIVE, Phase.CLOSING, Phase.GONE
PHASES: dict[tuple[Phase, str], Phase] = {
    (_C, "connected"): _S,
    (_C, "failed"): _G,
    (_C, "close"): _X,
    (_S, "setup_complete"): _L,
    (_S, "close"): _X,
    (_S, "closed"): _G,
    (_L, "close"): _X,
    (_L, "closed"): _G,
    (_X, "closed"): _G,
}


@dataclass
class _Session:
    number: int
    phase: Phase = Phase.CONNECTING
    started_at: float = 0.0  # when setup went out: a "session start" for the stagger
    quick: bool = False  # started less than a stagger after the previous start
    live_at: float = 0.0
    heard: bool = False  # it delivered audio
    suspect_filter: bool = False  # rule 10: a filter taken for the start rate limit


@dataclass
class SessionMachine:
    """The decisions of one Lyria client (rules 1–10 of the module docstring)."""

    settings: Settings = field(default_factory=Settings)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.wire = WireState()
        self._sessions: dict[int, _Session] = {}  # the current, next and closing ones
        self._count = 0  # sessions opened so far: the next one's number
        self._current: int | None = None
        self._next: int | None = None
        self._fading = False
        self._began = False
        self._last_start: float | None = None
        self._quiet_since = 0.0  # the watchdog's clock: last audio, or when audio became due
        self._reconnect_at: float | None = None
        self._rotate_not_before = 0.0
        self._delays = self._fresh_delays()
        self._failures = 0
        self.failure: BridgeError | None = None
        self._shut = False
        self._last_bad_log = -1e9
        self._bad_suppressed = 0
        self._wake: float | None = None
        self._out: list[ev.Action] = []
        counters = ("sessions", "reconnects", "rotations", "chunks_received", "bad_frames")
        self.stats: dict[str, Any] = dict.fromkeys((*counters, "filter_retries"), 0)
        self.stats.update(last_close_code=None, last_close_reason="", last_error="")

    # --- the API -------------------------------------------------------------------------
    def handle(self, event: ev.Event, now: float) -> list[ev.Action]:
        """Feed one event at time ``now``; returns the actions to perform, in order."""
        handler = _HANDLERS.get(type(event))
        if handler is None:  # the engine's bug, not the peer's
            raise LocalProtocolError(f"not a session event: {type(event).__name__}")
        self._out = []
        handler(self, event, now)
        timers = self._settle(now) if self.failure is None and not self._shut else {}
        deadline = min(timers.values(), default=None) if self._began else None
        if deadline != self._wake:
            self._wake = deadline
            self._out.append(ev.WakeAt(deadline))
        return self._out

    def next_deadline(self) -> float | None:
        """When the machine next wants a ``Tick`` (None: only events will move it)."""
        if self.failure is not None or self._shut or not self._began:
            return None
        return min(self._timers().values(), default=None)

    @property
    def settled(self) -> bool:
        """The first attempt is decided: a session went live, an attempt failed, or gave up."""
        return self.stats["sessions"] > 0 or self._failures > 0 or self.failure is not None

    def status(self) -> dict[str, Any]:
        """State word, counters, filtered prompts. Close reasons arrive already redacted."""
        return {
            "state": self._state_word(),
            **self.stats,
            "playing": self.wire.playing,
            "filtered_prompts": [{"text": t, "reason": r} for t, r in self.wire.filtered.items()],
            "live_sessions": sum(s.phase is Phase.LIVE for s in self._sessions.values()),
        }

    # --- events --------------------------------------------------------------------------
    def _on_begin(self, event: ev.Begin, now: float) -> None:
        if not self._began:
            self._began = True
            self._open(now)

    def _on_apply(self, event: ev.Apply, now: float) -> None:
        was_due = self.wire.audio_due
        kind, frame = self.wire.remember(event.update)
        if self.wire.audio_due and not was_due:
            self._quiet_since = now  # the watchdog counts only while audio is due
        if frame is not None:
            for session in self._sessions.values():
                if session.phase is Phase.LIVE:
                    self._out.append(ev.Send(session.number, kind, frame))

    def _on_connected(self, event: ev.Connected, now: float) -> None:
        session = self._move(event.session, "connected")
        if session is None:
            return
        session.started_at = now
        gap = None if self._last_start is None else now - self._last_start
        session.quick = gap is not None and gap < self.settings.stagger
        self._last_start = now
        self._out.append(ev.Send(session.number, "setup", codec.encode_setup(self.settings.model)))

    def _on_connect_failed(self, event: ev.ConnectFailed, now: float) -> None:
        if self._move(event.session, "failed") is None:
            return
        self._next = None
        hint = backoff.HTTP_HINTS.get(event.http_status or 0)
        if hint is not None:
            self._fail(SessionRejected(None, hint.format(path=self.settings.url_path)))
        else:
            self._attempt_failed(event.message, now)

    def _on_received(self, event: ev.Received, now: float) -> None:
        session = self._sessions.get(event.session)
        if session is None:
            return
        _RECEIVERS[type(event.event)](self, session, event.event, now)

    def _on_delivered(self, event: ev.Delivered, now: float) -> None:
        if event.session == self._current:
            self._quiet_since = now  # it waited for the mixer, not for the server

    def _on_closed(self, event: ev.Closed, now: float) -> None:
        session = self._sessions.get(event.session)
        if session is None:
            return
        was = session.phase
        if self._move(event.session, "closed") is None or was is Phase.CLOSING:
            return
        self.stats["last_close_code"] = event.code
        self.stats["last_close_reason"] = event.reason
        disposition = backoff.classify(event.code, event.reason)
        if disposition is backoff.Disposition.REJECT:
            self._fail(SessionRejected(event.code, event.reason))
        elif event.session == self._next:
            self._next_closed(session, was, disposition, now)
        elif event.session == self._current:
            self._current_closed(session, disposition, now)

    def _on_handed_over(self, event: ev.HandedOver, now: float) -> None:
        if event.session == self._next and self._fading:
            self._fading = False
            self._take_over(self._sessions[event.session], now, switch=False)

    def _on_tick(self, event: ev.Tick, now: float) -> None:
        """Nothing but the time: ``_settle`` acts on what is due."""

    def _on_shutdown(self, event: ev.Shutdown, now: float) -> None:
        self._shut = True
        self._close_all()

    # --- frames of a session -------------------------------------------------------------
    def _on_setup_complete(self, session: _Session, _: Any, now: float) -> None:
        if self._move(session.number, "setup_complete") is None:
            return
        session.live_at = now
        self.stats["sessions"] += 1
        self._say("info", f"session {session.number} open ({self.settings.model})")
        for kind, frame in self.wire.replay():  # rule 2
            self._out.append(ev.Send(session.number, kind, frame))

    def _on_audio(self, session: _Session, event: codec.AudioChunks, now: float) -> None:
        self.stats["chunks_received"] += len(event.chunks)
        if session.phase is not Phase.LIVE or not event.chunks:
            return  # a closing session's audio is dropped
        session.heard, session.suspect_filter = True, False
        if session.number == self._current:
            self._quiet_since = now
        self._out.append(ev.Deliver(session.number, event.chunks))

    def _on_filtered(self, session: _Session, event: codec.FilteredPrompt, now: float) -> None:
        if session.quick and not session.heard and self.settings.stagger > 0:
            session.suspect_filter = True  # rule 10: replaced once, a stagger after its start
            self.stats["filter_retries"] += 1
            self._say(
                "warning",
                f"prompt {event.text!r} filtered by a session started less than "
                f"{self.settings.stagger:g} s after the previous one (the service's start "
                "rate limit?): retrying once with a fresh session",
            )
            return
        if self.wire.filter(event.text, event.reason):
            self._say("warning", f"prompt {event.text!r} was filtered: {event.reason}")

    def _on_bad_frame(self, session: _Session, event: codec.ProtocolErrorEvent, now: float) -> None:
        """Log bad frames at most every few seconds, with how many were not logged."""
        self.stats["bad_frames"] += 1
        if now - self._last_bad_log < BAD_FRAME_LOG_INTERVAL:
            self._bad_suppressed += 1
            return
        more = f" ({self._bad_suppressed} more not logged)" if self._bad_suppressed else ""
        self._say("warning", f"dropped a bad frame from the server: {event.message}{more}")
        self._last_bad_log, self._bad_suppressed = now, 0

    def _on_unknown(self, session: _Session, event: codec.UnknownKeys, now: float) -> None:
        keys = ", ".join(event.keys)
        self._say("info", f"ignoring unknown server message keys: {keys}")

    # --- state -----------------------------------------------------------------------------
    def _move(self, number: int, trigger: str) -> _Session | None:
        """Apply ``PHASES``; None when the session is unknown or the move not allowed."""
        session = self._sessions.get(number)
        if session is None or (session.phase, trigger) not in PHASES:
            return None
        session.phase = PHASES[(session.phase, trigger)]
        return session

    def _live(self, number: int | None) -> _Session | None:
        session = self._sessions.get(number) if number is not None else None
        return session if session is not None and session.phase is Phase.LIVE else None

    def _state_word(self) -> str:
        if self._shut:
            return "closed"
        if self.failure is not None:
            return "failed"
        if not self._began:
            return "idle"
        if self._live(self._current) is not None:
            return "rotating" if self._next is not None else "streaming"
        return "reconnecting" if self.stats["sessions"] or self._failures else "connecting"

    # --- timers (rules 1, 3, 4, 5, 8, 10) -----------------------------------------------
    def _timers(self) -> dict[str, float]:
        """Every pending timer by name; ``_settle`` acts on those due."""
        s, timers = self.settings, {}
        upcoming = self._sessions.get(self._next) if self._next is not None else None
        current = self._live(self._current)
        if upcoming is not None and upcoming.phase is Phase.SETUP:
            timers["setup"] = upcoming.started_at + s.setup_timeout
        if upcoming is not None and upcoming.phase is Phase.LIVE and not self._fading:
            # only while the old session streams: otherwise the hand-over is immediate
            timers["preroll"] = upcoming.live_at + s.preroll_timeout
        if upcoming is None and current is None and self._reconnect_at is not None:
            timers["reconnect"] = self._reconnect_at
        if upcoming is None and current is not None:
            timers["rotate"] = max(min(self._rotation_times(current).values()), self._gate())
        return timers

    def _rotation_times(self, current: _Session) -> dict[str, float]:
        s = self.settings
        times = {"scheduled": current.started_at + s.rotate_after}
        if self.wire.audio_due:
            times["watchdog"] = self._quiet_since + s.watchdog
        if current.suspect_filter:
            times["filter retry"] = current.started_at
        return times

    def _gate(self) -> float:
        """The earliest a planned start may go out (rules 4 and 8)."""
        stagger = 0.0 if self._last_start is None else self._last_start + self.settings.stagger
        return max(stagger, self._rotate_not_before)

    def _settle(self, now: float) -> dict[str, float]:
        """Let a hand-over proceed if it can, then act on the due timer (they exclude each
        other: setup and preroll need a next session, reconnect and rotate need none).
        Returns the timers left pending."""
        upcoming = self._sessions.get(self._next) if self._next is not None else None
        if upcoming is not None and upcoming.phase is Phase.LIVE and not self._fading:
            self._hand_over(upcoming, now)
        timers = self._timers()
        for name, when in timers.items():
            if now >= when:
                _ON_TIMER[name](self, now)
                return self._timers() if self.failure is None else {}
        return timers

    def _setup_timed_out(self, now: float) -> None:
        assert self._next is not None
        self._move(self._next, "close")
        self._out.append(ev.Close(self._next, 1000))
        self._next = None
        self._attempt_failed(f"no setupComplete within {self.settings.setup_timeout:g} s", now)

    def _preroll_timed_out(self, now: float) -> None:
        self._say("warning", "the next session sent no audio; keeping the old one")
        self._drop_next(max(1.0, self.settings.stagger), now)

    def _rotate(self, now: float) -> None:
        current = self._live(self._current)
        assert current is not None
        due = [name for name, when in self._rotation_times(current).items() if now >= when]
        current.suspect_filter = False  # rule 10: once
        self._say("info", f"rotating session {current.number} ({', '.join(due)})")
        self._open(now)

    # --- opening, handing over, losing sessions -------------------------------------------
    def _open(self, now: float) -> None:
        # forget sessions that are over (the current one may still be playing out)
        for old in [s for s in self._sessions.values() if s.phase is Phase.GONE]:
            if old.number != self._current:
                del self._sessions[old.number]
        self._count += 1
        number = self._count
        self._sessions[number] = _Session(number)
        self._next, self._reconnect_at = number, None
        self._out.append(ev.Connect(number))

    def _hand_over(self, upcoming: _Session, now: float) -> None:
        """Rule 4: switch at once, crossfade, or keep waiting (the preroll timer)."""
        current = self._live(self._current)
        if current is None or not self.wire.audio_due:
            self._take_over(upcoming, now, switch=True)
        elif upcoming.heard:
            if current.heard and now - self._quiet_since < self.settings.watchdog:
                self._fading = True
                self._out.append(
                    ev.Crossfade(current.number, upcoming.number, self.settings.crossfade)
                )
            else:  # the old stream is silent anyway: no fade to wait for
                self._take_over(upcoming, now, switch=True)

    def _take_over(self, upcoming: _Session, now: float, *, switch: bool) -> None:
        old = self._live(self._current)
        if switch:
            self._out.append(ev.Switch(upcoming.number))
        if old is not None:
            self._move(old.number, "close")
            self._out.append(ev.Close(old.number, 1000))
            self.stats["rotations"] += 1
        self._current, self._next = upcoming.number, None
        self._quiet_since = now

    def _drop_next(self, retry_after: float, now: float) -> None:
        """Close the next session, keep the current one, retry the rotation later."""
        assert self._next is not None
        if self._move(self._next, "close") is not None:
            self._out.append(ev.Close(self._next, 1000))
        self._next, self._fading = None, False
        self._rotate_not_before = now + retry_after

    def _next_closed(
        self, session: _Session, was: Phase, disposition: backoff.Disposition, now: float
    ) -> None:
        """The session being opened closed by itself."""
        fading, self._fading, self._next = self._fading, False, None
        if was is Phase.SETUP:
            self._attempt_failed(f"closed during setup (code {self.stats['last_close_code']})", now)
            return
        current = self._live(self._current)
        if current is None:
            self._out.append(ev.Switch(session.number))  # what it queued still plays out
            self._current = session.number
            self._schedule_reconnect(disposition, now - session.started_at, now)
            return
        if fading:
            self._out.append(ev.Switch(current.number))
        quota = disposition is backoff.Disposition.QUOTA
        wait = backoff.quota_delay(self.settings.quota_backoff, self.rng) if quota else None
        self._rotate_not_before = now + (wait or max(1.0, self.settings.stagger))
        self._say("warning", "the next session closed early; keeping the old one")

    def _current_closed(
        self, session: _Session, disposition: backoff.Disposition, now: float
    ) -> None:
        """Rule 5: the playing session ended unplanned (its queued audio still plays out)."""
        if self._next is not None:
            self._say("info", f"session {session.number} closed; the next one takes over")
            return
        self._schedule_reconnect(disposition, now - session.started_at, now)

    def _schedule_reconnect(
        self, disposition: backoff.Disposition, lived: float, now: float
    ) -> None:
        if lived >= self.settings.healthy_after:  # rule 6
            self._delays, self._failures = self._fresh_delays(), 0
        if disposition is backoff.Disposition.QUOTA:
            wait = backoff.quota_delay(self.settings.quota_backoff, self.rng)
        else:
            wait = next(self._delays)
        self._reconnect_at = now + wait
        self.stats["reconnects"] += 1
        code, reason = self.stats["last_close_code"], self.stats["last_close_reason"]
        why = f"code {code}{': ' + reason if reason else ''}"
        self._say("warning", f"session closed ({why}); reconnecting in {wait:.2f} s")

    def _attempt_failed(self, message: str, now: float) -> None:
        """A connection attempt failed in a way a retry may fix (rules 5, 7)."""
        self.stats["last_error"] = message
        if self._live(self._current) is not None:  # a rotation: the old session plays on
            self._say("warning", f"could not open the next session ({message})")
            self._rotate_not_before = now + max(1.0, self.settings.stagger)
            return
        self._failures += 1
        retries = self.settings.retries
        if retries is not None and self._failures > retries:
            self._fail(SessionClosed(None, f"gave up after {self._failures} attempt(s): {message}"))
            return
        wait = next(self._delays)
        self._reconnect_at = now + wait
        self._say("warning", f"{message}; retrying in {wait:.2f} s")

    def _fail(self, error: BridgeError) -> None:
        self.failure = error
        self.stats["last_error"] = str(error)
        self._close_all()
        self._say("error", f"giving up: {error}")
        self._out.append(ev.Fail(error))

    def _close_all(self) -> None:
        for session in self._sessions.values():
            if self._move(session.number, "close") is not None:
                self._out.append(ev.Close(session.number, 1000))

    def _say(self, level: str, message: str) -> None:
        self._out.append(ev.Log(level, message))

    def _fresh_delays(self) -> Iterator[float]:
        return backoff.delays(cap=self.settings.backoff_cap, rng=self.rng)


_HANDLERS: dict[type, Callable[[SessionMachine, Any, float], None]] = {
    ev.Begin: SessionMachine._on_begin,
    ev.Apply: SessionMachine._on_apply,
    ev.Connected: SessionMachine._on_connected,
    ev.ConnectFailed: SessionMachine._on_connect_failed,
    ev.Received: SessionMachine._on_received,
    ev.Delivered: SessionMachine._on_delivered,
    ev.Closed: SessionMachine._on_closed,
    ev.HandedOver: SessionMachine._on_handed_over,
    ev.Tick: SessionMachine._on_tick,
    ev.Shutdown: SessionMachine._on_shutdown,
}
_RECEIVERS: dict[type, Callable[[SessionMachine, _Session, Any, float], None]] = {
    codec.SetupComplete: SessionMachine._on_setup_complete,
    codec.AudioChunks: SessionMachine._on_audio,
    codec.FilteredPrompt: SessionMachine._on_filtered,
    codec.ProtocolErrorEvent: SessionMachine._on_bad_frame,
    codec.UnknownKeys: SessionMachine._on_unknown,
}
_ON_TIMER: dict[str, Callable[[SessionMachine, float], None]] = {
    "setup": SessionMachine._setup_timed_out,
    "preroll": SessionMachine._preroll_timed_out,
    "reconnect": SessionMachine._open,
    "rotate": SessionMachine._rotate,
}
