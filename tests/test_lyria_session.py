"""The Lyria session state machine, fed events with an injected clock: no sockets, no sleeps.

Each test plays a scene (a server that drops, closes, stalls, refuses, filters) as events
and checks the actions: what goes out on which session, when the machine wants to wake
up, which session the mixer plays, and when it gives up.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.types import (
    AudioChunk,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.errors import LocalProtocolError, SessionClosed, SessionRejected
from bridge.protocol import codec
from bridge.protocol import events as ev
from bridge.protocol.events import Settings
from bridge.protocol.session import SessionMachine

PROMPTS = SetPrompts((WeightedPrompt("minimal techno", 1.0), WeightedPrompt("dub", 0.5)))
CONFIG = SetConfig(GenerationConfig(bpm=124))
PLAY = Control(Playback.PLAY)
CHUNK = AudioChunk(np.zeros((4800, 2), np.float32))
QUOTA = "Resource has been exhausted (e.g. check quota)."


class Scene:
    """A machine, the time, and helpers that feed it the usual events. The watchdog is off
    unless a test sets it (scenes send audio only when it matters)."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("watchdog", 1e6)
        self.machine = SessionMachine(Settings(**settings), random.Random(7))
        self.now = 0.0
        self.log: list[ev.Action] = []

    def feed(self, event: ev.Event) -> list[ev.Action]:
        actions = self.machine.handle(event, self.now)
        self.log += actions
        return actions

    def at(self, t: float) -> list[ev.Action]:
        """Let time pass until ``t``, ticking at every deadline the machine asked for."""
        out: list[ev.Action] = []
        while (deadline := self.machine.next_deadline()) is not None and deadline <= t:
            self.now = max(self.now, deadline)
            out += self.feed(ev.Tick())
            after = self.machine.next_deadline()
            assert after is None or after > self.now, "a due timer must be acted upon"
        self.now = t
        return out

    def live(self, n: int) -> list[ev.Action]:
        return self.feed(ev.Connected(n)) + self.feed(ev.Received(n, codec.SetupComplete()))

    def audio(self, n: int) -> list[ev.Action]:
        return self.feed(ev.Received(n, codec.AudioChunks((CHUNK,))))

    def playing(self) -> None:
        """Begin, prompts, config, PLAY; session 1 streams."""
        for update in (PROMPTS, CONFIG, PLAY):
            self.feed(ev.Apply(update))
        self.feed(ev.Begin())
        self.live(1)
        self.audio(1)


def of(actions: list[ev.Action], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def sent(actions: list[ev.Action], session: int) -> list[str]:
    """Each frame sent on ``session``: its top-level key, playback controls spelled out."""
    out = []
    for action in of(actions, ev.Send):
        if action.session == session:
            frame = json.loads(action.frame)
            key = next(iter(frame))
            out.append(frame[key] if key == "playbackControl" else key)
    return out


FULL_STATE = ["clientContent", "musicGenerationConfig", "PLAY"]


def test_setup_goes_first_and_nothing_else_before_setup_complete():
    """Connect, then setup alone; the state is replayed once setupComplete arrives."""
    scene = Scene()
    assert of(scene.feed(ev.Begin()), ev.Connect) == [ev.Connect(1)]
    assert sent(scene.feed(ev.Connected(1)), 1) == ["setup"]
    for update in (PROMPTS, CONFIG, PLAY):
        assert of(scene.feed(ev.Apply(update)), ev.Send) == []
    replay = scene.feed(ev.Received(1, codec.SetupComplete()))
    assert sent(replay, 1) == FULL_STATE
    assert sent(scene.feed(ev.Apply(CONFIG)), 1) == ["musicGenerationConfig"]
    assert scene.machine.status()["state"] == "streaming"


def test_replay_follows_the_one_playback_table():
    """PAUSE from stopped stays stopped, STOP after PLAY stops: no PLAY in the replay."""
    for controls in ([Playback.PAUSE], [Playback.PLAY, Playback.STOP], [Playback.PLAY] * 2):
        scene = Scene()
        scene.feed(ev.Apply(PROMPTS))
        for control in controls:
            scene.feed(ev.Apply(Control(control)))
        scene.feed(ev.Begin())
        expected = ["clientContent", "PLAY"] if controls[-1] is Playback.PLAY else ["clientContent"]
        assert sent(scene.live(1), 1) == ["setup", *expected]


def test_no_setup_complete_is_a_failed_attempt_then_a_prompt_retry():
    """setup_timeout without setupComplete: close it, retry within 250 ms."""
    scene = Scene(setup_timeout=10.0)
    scene.feed(ev.Begin())
    scene.feed(ev.Connected(1))
    assert scene.machine.next_deadline() == 10.0
    actions = scene.at(10.0)
    assert ev.Close(1) in actions
    assert "no setupComplete within 10 s" in scene.machine.status()["last_error"]
    assert scene.machine.status()["state"] == "reconnecting"
    assert of(scene.at(10.25), ev.Connect) == [ev.Connect(2)]


@pytest.mark.parametrize(("code", "reason"), [(1006, ""), (1011, "Internal error"), (1013, "")])
@pytest.mark.parametrize("lived", [2.0, 30.0])
def test_unplanned_close_reconnects_within_250_ms_ignoring_the_stagger(code, reason, lived):
    """A drop 2 s after a session start or mid-session: the next session opens within
    250 ms, although the 10 s stagger since the last start has not passed."""
    scene = Scene(stagger=10.0)
    scene.playing()
    scene.at(lived)
    actions = scene.feed(ev.Closed(1, code, reason))
    (wake,) = of(actions, ev.WakeAt)
    assert wake.time is not None and lived <= wake.time < lived + 0.25
    assert of(scene.at(lived + 0.25), ev.Connect) == [ev.Connect(2)]
    replay = scene.live(2)
    assert sent(replay, 2) == ["setup", *FULL_STATE]
    assert ev.Switch(2) in replay
    status = scene.machine.status()
    assert status["reconnects"] == 1 and status["last_close_code"] == code


def test_backoff_grows_over_failed_attempts_and_resets_after_a_healthy_session():
    """Refused connections back off (capped); a session that lived 5 s resets the delays."""
    scene = Scene(backoff_cap=5.0)
    scene.feed(ev.Begin())
    waits = []
    for n in range(1, 7):
        scene.feed(ev.ConnectFailed(n, "cannot connect: refused"))
        wake = scene.machine.next_deadline()
        assert wake is not None
        waits.append(wake - scene.now)
        scene.at(wake)
    assert waits[0] < 0.25 and waits[1] >= 0.25 and max(waits) <= 5.0
    assert waits[-1] >= 2.5  # grown to the cap's neighbourhood
    scene.live(7)
    scene.at(scene.now + 6.0)  # healthy
    scene.feed(ev.Closed(7, 1006))
    wake = scene.machine.next_deadline()
    assert wake is not None and wake - scene.now < 0.25


def test_short_lived_sessions_keep_backing_off():
    """A server that drops every session after 1 s is not hammered: the delays grow."""
    scene = Scene(stagger=0.0)
    scene.playing()
    waits = []
    for n in range(1, 5):
        scene.at(scene.now + 1.0)
        scene.feed(ev.Closed(n, 1006))
        wake = scene.machine.next_deadline()
        assert wake is not None
        waits.append(wake - scene.now)
        scene.at(wake)
        scene.live(n + 1)
    assert waits[0] < 0.25 < waits[2]


@pytest.mark.parametrize("phase", ["setup", "streaming"])
def test_1007_stops_for_good(phase: str):
    """1007 (key rejected) at setup or mid-stream: fail with SessionRejected, no retry."""
    scene = Scene()
    scene.feed(ev.Begin())
    scene.feed(ev.Connected(1))
    if phase == "streaming":
        scene.feed(ev.Received(1, codec.SetupComplete()))
    actions = scene.feed(ev.Closed(1, 1007, "API key not valid"))
    (fail,) = of(actions, ev.Fail)
    assert isinstance(fail.error, SessionRejected) and "1007" in str(fail.error)
    assert scene.machine.next_deadline() is None
    assert of(scene.at(1000.0), ev.Connect) == []
    assert scene.machine.status()["state"] == "failed"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, ["HTTP 401", "API key", "GEMINI_API_KEY"]),
        (403, ["HTTP 403", "API key", "--api-key-env"]),
        (404, ["HTTP 404", "/ws/x", codec.SERVICE_PATH, "URL's path"]),
    ],
)
def test_http_refusals_at_the_handshake_stop_with_one_clear_line(status, words):
    """401/403/404: one line saying which status and what to check; never retried."""
    scene = Scene(url_path="/ws/x")
    scene.feed(ev.Begin())
    actions = scene.feed(ev.ConnectFailed(1, f"server answered HTTP {status}", status))
    (fail,) = of(actions, ev.Fail)
    message = str(fail.error)
    assert isinstance(fail.error, SessionRejected) and "\n" not in message
    assert all(word in message for word in words), message
    assert "code None" not in message
    assert scene.machine.next_deadline() is None


def test_other_http_statuses_are_retried():
    """A 502 from a proxy is a passing outage."""
    scene = Scene()
    scene.feed(ev.Begin())
    assert of(scene.feed(ev.ConnectFailed(1, "server answered HTTP 502", 502)), ev.Fail) == []
    assert of(scene.at(1.0), ev.Connect) == [ev.Connect(2)]


def test_quota_close_waits_minutes():
    """1011 about quota: the reconnect waits quota_backoff (+ up to 50 %)."""
    scene = Scene(quota_backoff=120.0)
    scene.playing()
    scene.at(30.0)
    scene.feed(ev.Closed(1, 1011, QUOTA))
    wake = scene.machine.next_deadline()
    assert wake is not None and 150.0 <= wake <= 210.0
    assert of(scene.at(149.0), ev.Connect) == []


def test_retry_budget():
    """retries=2: the third failed attempt in a row gives up with the last reason."""
    scene = Scene(retries=2)
    scene.feed(ev.Begin())
    for n in (1, 2):
        scene.feed(ev.ConnectFailed(n, "cannot connect: refused"))
        assert scene.machine.settled and scene.machine.failure is None
        scene.at(scene.now + 1.0)
    (fail,) = of(scene.feed(ev.ConnectFailed(3, "cannot connect: refused")), ev.Fail)
    assert isinstance(fail.error, SessionClosed)
    assert str(fail.error) == "gave up after 3 attempt(s): cannot connect: refused"


def test_scheduled_rotation_crossfades_then_closes_the_old_session():
    """At rotate_after the next session opens, gets the state, and once it sends audio the
    mixer crossfades; after the hand-over the old session is closed with 1000."""
    scene = Scene(rotate_after=500.0, crossfade=3.0, watchdog=12.0)
    scene.playing()
    for t in range(10, 500, 10):  # audio keeps coming; the watchdog stays quiet
        assert scene.machine.next_deadline() == t - 10 + 12.0
        scene.at(float(t))
        scene.audio(1)
    assert scene.machine.next_deadline() == 500.0
    assert of(scene.at(500.0), ev.Connect) == [ev.Connect(2)]
    assert scene.machine.status()["state"] == "rotating"
    assert sent(scene.live(2), 2) == ["setup", *FULL_STATE]
    update = scene.feed(ev.Apply(CONFIG))
    assert sent(update, 1) == sent(update, 2) == ["musicGenerationConfig"]  # both get it
    actions = scene.audio(2)
    assert ev.Crossfade(1, 2, 3.0) in actions and of(actions, ev.Close) == []
    assert ev.Deliver(2, (CHUNK,)) in actions
    actions = scene.feed(ev.HandedOver(2))
    assert actions[:1] == [ev.Close(1, 1000)]
    assert scene.machine.status()["rotations"] == 1
    assert scene.machine.status()["reconnects"] == 0
    assert scene.machine.next_deadline() == 512.0  # the watchdog, from the hand-over


def test_the_next_session_without_audio_is_dropped_and_the_old_one_kept():
    """No audio from the next session within preroll_timeout: close it, keep playing the
    old one, try again a stagger later."""
    scene = Scene(rotate_after=100.0, preroll_timeout=15.0, stagger=10.0)
    scene.playing()
    scene.at(100.0)
    scene.live(2)
    actions = scene.at(115.0)
    assert ev.Close(2, 1000) in actions and of(actions, ev.Switch) == []
    assert scene.machine.status()["state"] == "streaming"
    assert of(scene.at(124.9), ev.Connect) == []
    assert of(scene.at(125.0), ev.Connect) == [ev.Connect(3)]


def test_rotation_while_paused_switches_at_once():
    """Paused: no audio to wait for; the next session takes over at setupComplete."""
    scene = Scene(rotate_after=100.0)
    scene.playing()
    scene.feed(ev.Apply(Control(Playback.PAUSE)))
    scene.at(100.0)
    actions = scene.live(2)
    assert ev.Switch(2) in actions and ev.Close(1, 1000) in actions
    assert "PLAY" not in sent(actions, 2)
    assert scene.machine.status()["rotations"] == 1


def test_the_old_session_ending_during_the_preroll_hands_over_at_once():
    """The 600 s cap hits while the next session pre-rolls: switch to it, no reconnect."""
    scene = Scene(rotate_after=100.0)
    scene.playing()
    scene.at(100.0)
    scene.live(2)
    actions = scene.feed(ev.Closed(1, 1011, "cap"))
    assert ev.Switch(2) in actions and of(actions, ev.Connect) == []
    assert scene.machine.status()["reconnects"] == 0


def test_the_old_session_ending_during_setup_of_the_next_one():
    """The next session becomes the replacement: no second connection is opened."""
    scene = Scene(rotate_after=100.0)
    scene.playing()
    scene.at(100.0)
    scene.feed(ev.Connected(2))
    assert of(scene.feed(ev.Closed(1, 1011, "cap")), ev.Connect) == []
    actions = scene.feed(ev.Received(2, codec.SetupComplete()))
    assert ev.Switch(2) in actions and sent(actions, 2) == FULL_STATE


def test_the_next_session_dying_mid_fade_returns_to_the_old_one():
    """The fade is abandoned (Switch back), the old session plays on, retried later."""
    scene = Scene(rotate_after=100.0, stagger=10.0)
    scene.playing()
    scene.at(99.0)
    scene.audio(1)
    scene.at(100.0)
    scene.live(2)
    scene.audio(2)
    actions = scene.feed(ev.Closed(2, 1006))
    assert ev.Switch(1) in actions and of(actions, ev.Connect) == []
    assert of(scene.at(109.9), ev.Connect) == []
    assert of(scene.at(110.0), ev.Connect) == [ev.Connect(3)]


def test_watchdog_replaces_a_stalled_session_without_a_fade():
    """No audio for ``watchdog`` s while playing: rotate; the old stream is silent, so the
    new one is switched in (a fade would wait for audio that never comes)."""
    scene = Scene(watchdog=12.0, stagger=10.0)
    scene.playing()
    assert of(scene.at(11.9), ev.Connect) == []
    assert of(scene.at(12.0), ev.Connect) == [ev.Connect(2)]
    scene.live(2)
    actions = scene.audio(2)
    assert ev.Switch(2) in actions and ev.Close(1, 1000) in actions
    assert of(actions, ev.Crossfade) == []


def test_watchdog_sleeps_while_paused_and_counts_from_play():
    """Paused for a minute: no rotation; after PLAY the watchdog counts from PLAY."""
    scene = Scene(watchdog=12.0, rotate_after=1000.0)
    scene.playing()
    scene.feed(ev.Apply(Control(Playback.PAUSE)))
    assert of(scene.at(60.0), ev.Connect) == []
    scene.feed(ev.Apply(PLAY))
    assert of(scene.at(71.9), ev.Connect) == []
    assert of(scene.at(72.0), ev.Connect) == [ev.Connect(2)]


def test_waiting_for_the_mixer_is_not_a_stall():
    """Delivered (the mixer's queue took audio after a wait) restarts the watchdog."""
    scene = Scene(watchdog=12.0, rotate_after=1000.0)
    scene.playing()
    scene.at(11.0)
    scene.feed(ev.Delivered(1))
    assert of(scene.at(22.9), ev.Connect) == []


def test_a_filtered_prompt_is_not_resent_until_its_text_changes():
    """A filter on a session that started long after the previous one is believed."""
    scene = Scene()
    scene.playing()
    scene.feed(ev.Received(1, codec.FilteredPrompt("minimal techno", "artist")))
    actions = scene.feed(ev.Apply(PROMPTS))
    (frame,) = [json.loads(a.frame) for a in of(actions, ev.Send)]
    assert [p["text"] for p in frame["clientContent"]["weightedPrompts"]] == ["dub"]
    assert scene.machine.status()["filtered_prompts"] == [
        {"text": "minimal techno", "reason": "artist"}
    ]


def test_a_filter_right_after_a_quick_restart_is_retried_once_a_stagger_later():
    """A reconnect 2 s after the previous start answered with filteredPrompt and no audio
    (the start rate limit): the text stays in the set, and one fresh session is opened a
    stagger after that start; a filter there is believed."""
    scene = Scene(stagger=10.0)
    scene.playing()
    scene.at(2.0)
    scene.feed(ev.Closed(1, 1006))
    scene.at(2.25)
    scene.live(2)  # started at 2.25, quick
    scene.feed(ev.Received(2, codec.FilteredPrompt("minimal techno", "x")))
    status = scene.machine.status()
    assert status["filtered_prompts"] == [] and status["filter_retries"] == 1
    assert of(scene.at(12.2), ev.Connect) == []
    assert of(scene.at(12.25), ev.Connect) == [ev.Connect(3)]
    replay = scene.live(3)
    assert "minimal techno" in of(replay, ev.Send)[1].frame
    scene.feed(ev.Received(3, codec.FilteredPrompt("minimal techno", "x")))
    assert scene.machine.status()["filtered_prompts"] == [{"text": "minimal techno", "reason": "x"}]
    actions = scene.audio(3)
    assert ev.Switch(3) in actions and ev.Close(2, 1000) in actions  # 2 never played


def test_audio_cancels_the_filter_retry():
    """A quick session that filtered a prompt but streams anyway is kept."""
    scene = Scene(stagger=10.0, rotate_after=1000.0)
    scene.playing()
    scene.at(2.0)
    scene.feed(ev.Closed(1, 1006))
    scene.at(2.25)
    scene.live(2)
    scene.feed(ev.Received(2, codec.FilteredPrompt("dub", "x")))
    scene.audio(2)
    assert of(scene.at(60.0), ev.Connect) == []


def test_bad_frames_are_logged_at_most_every_five_seconds_with_a_count():
    scene = Scene()
    scene.playing()
    logs = []
    for i in range(12):
        scene.at(i * 1.0)
        logs += of(scene.feed(ev.Received(1, codec.ProtocolErrorEvent("torn"))), ev.Log)
    assert [log.message for log in logs] == [
        "dropped a bad frame from the server: torn",
        "dropped a bad frame from the server: torn (4 more not logged)",
        "dropped a bad frame from the server: torn (4 more not logged)",
    ]
    assert scene.machine.status()["bad_frames"] == 12


def test_misuse_is_a_local_protocol_error():
    """Feeding something that is not an event, or an update that is not one, is our bug."""
    scene = Scene()
    with pytest.raises(LocalProtocolError, match="not a session event: str"):
        scene.machine.handle("PLAY", 0.0)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="not an Update: str"):
        scene.feed(ev.Apply("PLAY"))  # type: ignore[arg-type]


def test_shutdown_closes_every_open_session_and_stops_the_clock():
    scene = Scene(rotate_after=100.0)
    scene.playing()
    scene.at(100.0)
    scene.feed(ev.Connected(2))
    actions = scene.feed(ev.Shutdown())
    assert of(actions, ev.Close) == [ev.Close(1, 1000), ev.Close(2, 1000)]
    assert scene.machine.next_deadline() is None
    assert scene.machine.status()["state"] == "closed"


def test_audio_of_a_closing_session_is_dropped():
    scene = Scene(rotate_after=100.0)
    scene.playing()
    scene.feed(ev.Apply(Control(Playback.PAUSE)))
    scene.at(100.0)
    scene.live(2)  # paused: 1 is closed at once
    assert of(scene.audio(1), ev.Deliver) == []
    assert scene.machine.status()["chunks_received"] == 2


# --- any order of events the engine can produce ------------------------------------------
class Pump:
    """What the engine would do: which events each session can still produce."""

    def __init__(self, machine: SessionMachine) -> None:
        self.machine, self.now = machine, 0.0
        self.phase: dict[int, str] = {}  # connecting, open, live, ended
        self.fading: set[int] = set()
        self.closing: set[int] = set()  # the machine asked to close them
        self.failed = False
        self.seen: set[str] = set()  # action kinds, to show what a run exercised

    def feed(self, event: ev.Event) -> None:
        for action in self.machine.handle(event, self.now):
            self.check(action)

    def check(self, action: ev.Action) -> None:
        assert not (self.failed and isinstance(action, ev.Connect)), "a Connect after Fail"
        self.seen.add(type(action).__name__)
        if isinstance(action, ev.Connect):
            self.phase[action.session] = "connecting"
        elif isinstance(action, ev.Send):
            setup = action.kind == "setup"
            assert self.phase[action.session] == ("open" if setup else "live"), action
        elif isinstance(action, ev.Crossfade):
            self.fading.add(action.new)
        elif isinstance(action, ev.Close):
            self.closing.add(action.session)
            if self.phase[action.session] == "connecting":
                self.phase[action.session] = "ended"  # the engine cancels the attempt
        elif isinstance(action, ev.Fail):
            self.failed = True
        busy = [n for n, p in self.phase.items() if p != "ended" and n not in self.closing]
        assert len(busy) <= 2, self.phase  # the current session and the next one


KINDS = ("refused", "http", "filtered", "bad", "closed", "faded", "delivered", "apply")
# "advance" moves a session along its usual life (connected, setupComplete, audio), so
# that runs reach rotations and hand-overs; the rest interleaves everything else.
EVENTS = st.sampled_from(["advance"] * 10 + ["faded"] * 2 + ["wait"] * 3 + list(KINDS))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(EVENTS, st.integers(0, 5), st.floats(0.0, 12.0)), min_size=20, max_size=80),
    st.integers(0, 2**32 - 1),
)
def test_any_event_order_keeps_the_rules(steps, seed):
    """Random interleavings of what sockets, mixer and performer can do: the machine never
    raises, sends only setup before setupComplete, keeps at most two sessions open besides
    those it is closing, never connects after failing, and acts on every due timer."""
    machine = SessionMachine(
        Settings(rotate_after=6.0, watchdog=15.0, stagger=3.0, preroll_timeout=6.0),
        random.Random(seed),
    )
    pump = Pump(machine)
    for update in (PROMPTS, PLAY):
        pump.feed(ev.Apply(update))
    pump.feed(ev.Begin())
    for kind, pick, dt in steps:
        sessions = [n for n, p in pump.phase.items() if p != "ended"]
        n = sessions[pick % len(sessions)] if sessions else 0
        step(pump, kind, n, dt)


def step(pump: Pump, kind: str, n: int, dt: float) -> None:
    phase = pump.phase.get(n)
    if kind == "wait":
        target = pump.now + dt
        while (deadline := pump.machine.next_deadline()) is not None and deadline <= target:
            pump.now = max(pump.now, deadline)
            pump.feed(ev.Tick())
            after = pump.machine.next_deadline()
            assert after is None or after > pump.now
        pump.now = target
    elif kind == "advance" and phase in ("connecting", "open", "live"):
        step(pump, {"connecting": "connected", "open": "setup", "live": "audio"}[phase], n, dt)
    elif kind == "apply":
        pump.feed(ev.Apply(Control(Playback.PAUSE if dt > 8 else Playback.PLAY)))
    elif phase == "connecting" and kind in ("connected", "refused", "http"):
        pump.phase[n] = "open" if kind == "connected" else "ended"
        if kind == "connected":
            pump.feed(ev.Connected(n))
        else:
            pump.feed(ev.ConnectFailed(n, "refused", 503 if kind == "http" else None))
    elif phase in ("open", "live") and kind == "closed":
        pump.phase[n] = "ended"
        pump.feed(ev.Closed(n, int(dt) % 3 + 1011, ""))  # 1011, 1012, 1013
    elif phase in ("open", "live") and kind in ("setup", "audio", "filtered", "bad"):
        if kind == "setup" and phase == "open":
            pump.phase[n] = "live"
        frame = {
            "setup": codec.SetupComplete(),
            "audio": codec.AudioChunks((CHUNK,)),
            "filtered": codec.FilteredPrompt("dub", "x"),
            "bad": codec.ProtocolErrorEvent("torn"),
        }[kind]
        pump.feed(ev.Received(n, frame))
    elif kind == "faded" and n in pump.fading:
        pump.fading.discard(n)
        pump.feed(ev.HandedOver(n))
    elif kind == "delivered" and phase == "live":
        pump.feed(ev.Delivered(n))
