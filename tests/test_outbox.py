"""The Outbox: coalescing, rate limits, whole config, no empty sets, resets, controls (pure).

The tests drive a Performance and an Outbox the way the daemon does: a simulated loop
that wakes at each scripted change or at the earliest deadline of either, ticks the
Performance, then ``step``s the Outbox. Time is a plain float.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.drive import Driver
from bridge.core.instrument import Instrument, Send
from bridge.core.mapping import MappingSet
from bridge.core.outbox import Outbox
from bridge.core.performance import Performance
from bridge.core.types import (
    Change,
    Control,
    GenerationConfig,
    PerformanceSpec,
    Playback,
    SceneSpec,
    SetConfig,
    SetPrompts,
    SlotSpec,
    Update,
    WeightedPrompt,
)

SPEC = PerformanceSpec(
    slots=(SlotSpec("techno", 1.0), SlotSpec("house", 0.0), SlotSpec("dub", 0.0)),
    scenes=(SceneSpec("b", weights={1: 0.0, 2: 1.0}, glide=1.0),),
)
PLAY = Control(Playback.PLAY)
PAUSE = Control(Playback.PAUSE)
STOP = Control(Playback.STOP)
RESET = Control(Playback.RESET_CONTEXT)
Sent = list[tuple[float, Update]]


def run(
    script: Sequence[tuple[float, Change]],
    outbox: Outbox | None = None,
    perf: Performance | None = None,
    start: tuple[Change, ...] = (Change("playback", "play"),),
) -> tuple[Sent, Performance, Outbox]:
    """Play ``script`` (time, change) after a replay at t=-10 and return what went out.

    The daemon's own Instrument, driven as the daemon drives it (bridge.core.drive)."""
    instrument = Instrument(MappingSet(performance=SPEC), outbox=outbox, performance=perf)
    for change in start:
        instrument.apply(change, -10.0)
    driver = Driver(instrument, now=-10.0)
    driver.replay()
    timed = driver.run(script)
    sent: Sent = [(t, e.update) for t, e in timed if isinstance(e, Send)]
    return sent, instrument.perf, instrument.outbox


def w(n: int, value: float) -> Change:
    return Change(f"slot.{n}.weight", value)


def prompts(*pairs: tuple[str, float]) -> SetPrompts:
    return SetPrompts(tuple(WeightedPrompt(t, x) for t, x in pairs))


def only(sent: Sent, kind: type) -> Sent:
    return [(t, u) for t, u in sent if isinstance(u, kind)]


# --- coalescing and rate limit ------------------------------------------------------------
RATE_CASES = [
    # name, script, expected (time, update) list
    (
        "leading edge: a change after quiet goes out at once",
        [(1.0, w(2, 0.5))],
        [(1.0, prompts(("techno", 1.0), ("house", 0.5)))],
    ),
    (
        "a burst is coalesced: first at once, the latest one interval later",
        [(1.0, w(2, 0.1)), (1.01, w(2, 0.2)), (1.02, w(2, 0.3)), (1.03, w(2, 0.4))],
        [
            (1.0, prompts(("techno", 1.0), ("house", 0.1))),
            (1.05, prompts(("techno", 1.0), ("house", 0.4))),
        ],
    ),
    (
        "a value that returns to what was sent is not re-sent",
        [(1.0, w(2, 0.1)), (1.01, w(2, 0.2)), (1.02, w(2, 0.1))],
        [(1.0, prompts(("techno", 1.0), ("house", 0.1)))],
    ),
    (
        "a knob set to its current value sends nothing",
        [(1.0, w(1, 1.0))],
        [],
    ),
    (
        "zero-weight prompts are dropped from the set",
        [(1.0, w(2, 0.5)), (2.0, w(1, 0.0))],
        [
            (1.0, prompts(("techno", 1.0), ("house", 0.5))),
            (2.0, prompts(("house", 0.5))),
        ],
    ),
    (
        "config changes go out whole, coalesced the same way",
        [(1.0, Change("config.density", 0.2)), (1.01, Change("config.brightness", 0.7))],
        [
            (1.0, SetConfig(GenerationConfig(density=0.2))),
            (1.05, SetConfig(GenerationConfig(density=0.2, brightness=0.7))),
        ],
    ),
    (
        "prompts and config are limited separately",
        [(1.0, w(2, 0.5)), (1.01, Change("config.density", 0.2))],
        [
            (1.0, prompts(("techno", 1.0), ("house", 0.5))),
            (1.01, SetConfig(GenerationConfig(density=0.2))),
        ],
    ),
    (
        "auto is None in the config (the codec omits the field)",
        [(1.0, Change("config.density", 0.2)), (2.0, Change("config.density", "auto"))],
        [
            (1.0, SetConfig(GenerationConfig(density=0.2))),
            (2.0, SetConfig(GenerationConfig(density=None))),
        ],
    ),
]


@pytest.mark.parametrize(("name", "script", "expected"), RATE_CASES, ids=[c[0] for c in RATE_CASES])
def test_coalescing_and_rate_limit(name: str, script: list, expected: Sent) -> None:
    """See each case's name."""
    sent, _, _ = run(script)
    assert [(round(t, 6), u) for t, u in sent] == expected


@pytest.mark.parametrize("interval", [0.05, 0.2])
def test_a_continuous_move_sends_at_most_one_frame_per_interval(interval: float) -> None:
    """A knob sending 1000 values/s for 1 s yields ≤ 1/interval + 1 frames, ending on the last."""
    script = [(1.0 + i / 1000, w(2, i / 1000)) for i in range(1000)]
    sent, perf, _ = run(script, Outbox(interval=interval))
    frames = only(sent, SetPrompts)
    assert len(frames) <= 1 / interval + 1
    assert len(frames) >= 1 / interval - 1  # and it keeps sending while the knob moves
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(frames)]
    assert min(gaps) >= interval - 1e-9
    assert frames[-1][1] == SetPrompts(perf.wire_prompts())
    assert frames[-1][0] - 1.999 <= interval + 1e-9  # the final value within one interval


def test_glide_frames_follow_the_interval() -> None:
    """A 1 s scene glide goes out as ~20 intermediate sets at 20 frames/s, ending exactly."""
    sent, _, _ = run([(1.0, Change("scene.recall", "b"))])
    frames = only(sent, SetPrompts)
    assert 19 <= len(frames) <= 22
    assert frames[-1] == (pytest.approx(2.0), prompts(("house", 1.0)))
    assert frames[0][0] == pytest.approx(1.0) or frames[0][0] == pytest.approx(1.05)


# --- never an empty set ----------------------------------------------------------------
def test_all_faders_down_pauses_and_a_fader_up_resumes() -> None:
    """Every weight at 0: no empty SetPrompts, PAUSE instead; a fader up: prompts, then PLAY."""
    sent, perf, outbox = run([(1.0, w(1, 0.0)), (2.0, w(3, 0.7))])
    assert sent == [
        (1.0, PAUSE),
        (2.0, prompts(("dub", 0.7))),
        (2.0, PLAY),
    ]
    assert perf.playing  # the performer's state never changed
    assert outbox.wire_state == "playing" and outbox.stats.silence_pauses == 1


def test_all_faders_down_while_paused_sends_nothing() -> None:
    """The silence rule only pauses a playing model."""
    sent, _, outbox = run([(1.0, w(1, 0.0))], start=())
    assert sent == [] and outbox.wire_state == "stopped"


def test_play_with_every_fader_down_waits_for_a_prompt() -> None:
    """PLAY is held back while there is nothing to play, then follows the first prompt."""
    script = [(1.0, w(1, 0.0)), (2.0, Change("playback", "play")), (3.0, w(2, 0.4))]
    sent, _, outbox = run(script, start=())
    assert sent == [(3.0, prompts(("house", 0.4))), (3.0, PLAY)]
    assert outbox.silenced is False


def test_silenced_reports_the_outbox_pause() -> None:
    """``silenced`` is true while the outbox holds the model paused for lack of prompts."""
    _, _, outbox = run([(1.0, w(1, 0.0))])
    assert outbox.silenced


# --- RESET_CONTEXT after bpm/scale ---------------------------------------------------------
RESET_CASES = [
    # name, change, what goes out
    ("bpm", Change("config.bpm", 128), ["config", "reset"]),
    ("scale", Change("config.scale", "D_MAJOR_B_MINOR"), ["config", "reset"]),
    ("bpm auto while already auto", Change("config.bpm", None), []),
    ("density", Change("config.density", 0.4), ["config"]),
    ("temperature", Change("config.temperature", 2.0), ["config"]),
    ("mode", Change("config.mode", "VOCALIZATION"), ["config"]),
]


@pytest.mark.parametrize(("name", "change", "kinds"), RESET_CASES, ids=[c[0] for c in RESET_CASES])
def test_bpm_and_scale_changes_are_followed_by_reset(
    name: str, change: Change, kinds: list[str]
) -> None:
    """Only bpm/scale changes bring a RESET_CONTEXT, and always right after the config."""
    sent, perf, _ = run([(1.0, change)])
    by_kind = {"config": SetConfig(perf.config), "reset": RESET}
    assert sent == [(1.0, by_kind[k]) for k in kinds]


def test_bpm_to_auto_resets() -> None:
    """Handing bpm back to the model (auto) is a bpm change too."""
    sent, _, _ = run([(1.0, Change("config.bpm", 128)), (5.0, Change("config.bpm", "auto"))])
    assert [u for t, u in sent if t == 5.0] == [SetConfig(GenerationConfig()), RESET]


def test_a_bpm_sweep_resets_at_most_once_per_reset_interval() -> None:
    """A bpm knob swept for 2 s: resets are spaced ≥ reset_interval, the final bpm gets one."""
    script = [(1.0 + i / 100, Change("config.bpm", 60 + i)) for i in range(200)]
    sent, perf, _ = run(script, Outbox(reset_interval=0.5))
    resets = [t for t, u in sent if u == RESET]
    assert 4 <= len(resets) <= 6
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(resets))
    last_config = max(i for i, (_, u) in enumerate(sent) if isinstance(u, SetConfig))
    assert sent[-1][1] == RESET and isinstance(sent[last_config][1], SetConfig)
    assert sent[last_config][1].config.bpm == perf.config.bpm == 200
    assert sent[-1][0] - 2.99 <= 0.5 + 1e-9


def test_stop_makes_a_pending_reset_unnecessary() -> None:
    """STOP resets the context itself: a reset still waiting on the limit is dropped."""
    script = [
        (1.0, Change("config.bpm", 100)),
        (1.1, Change("config.bpm", 110)),
        (1.2, Change("playback", "stop")),
    ]
    sent, _, _ = run(script)
    assert [u for _, u in sent] == [
        SetConfig(GenerationConfig(bpm=100)),
        RESET,
        SetConfig(GenerationConfig(bpm=110)),
        STOP,
    ]


RESET_WAIT = [
    # config interval, reset interval, when the second config + reset go out
    (1.0, 0.5, 2.0),  # the reset waits for its config's slot
    (0.05, 0.5, 1.5),  # the config goes at 1.1, the reset at its own limit
]


@pytest.mark.parametrize(("interval", "reset_interval", "second"), RESET_WAIT)
def test_a_delayed_reset_follows_the_config_it_makes_effective(
    interval: float, reset_interval: float, second: float
) -> None:
    """A reset held by a limit goes out only once its config is on the wire, right after it."""
    outbox = Outbox(interval=interval, reset_interval=reset_interval)
    script = [(1.0, Change("config.bpm", 100)), (1.1, Change("config.bpm", 120))]
    sent, _, _ = run(script, outbox)
    config_at = second if interval > reset_interval else 1.1
    assert [(round(t, 6), u) for t, u in sent] == [
        (1.0, SetConfig(GenerationConfig(bpm=100))),
        (1.0, RESET),
        (config_at, SetConfig(GenerationConfig(bpm=120))),
        (second, RESET),
    ]


# --- playback controls -------------------------------------------------------------------
def test_controls_are_never_coalesced() -> None:
    """pause, play, pause, play within one poll: all four go out, in order."""
    perf = Performance(SPEC)
    outbox = Outbox()
    perf.apply(Change("playback", "play"), 0.0)
    outbox.replay(perf)
    for action in ("pause", "play", "pause", "play"):
        perf.apply(Change("playback", action), 1.0)
    assert outbox.step(perf, 1.0) == [PAUSE, PLAY, PAUSE, PLAY]
    assert outbox.step(perf, 1.0) == []


def test_a_control_flushes_pending_prompts_first() -> None:
    """A move held by the rate limit goes out before a PAUSE pressed right after it."""
    script = [(1.0, w(2, 0.1)), (1.01, w(2, 0.2)), (1.02, Change("playback", "pause"))]
    sent, _, _ = run(script)
    assert sent == [
        (1.0, prompts(("techno", 1.0), ("house", 0.1))),
        (1.02, prompts(("techno", 1.0), ("house", 0.2))),
        (1.02, PAUSE),
    ]


def test_explicit_reset_is_sent_after_pending_config() -> None:
    """The performer's reset: pending config first, then RESET_CONTEXT."""
    script = [
        (1.0, Change("config.density", 0.1)),
        (1.01, Change("config.density", 0.3)),
        (1.02, Change("playback", "reset")),
    ]
    sent, _, _ = run(script)
    assert [u for _, u in sent] == [
        SetConfig(GenerationConfig(density=0.1)),
        SetConfig(GenerationConfig(density=0.3)),
        RESET,
    ]


def test_a_replaced_performance_still_gets_its_controls_through() -> None:
    """After a reload the daemon syncs a new Performance whose log restarts at 1: its
    controls are still sent (sequence numbers are per Performance)."""
    old = Performance(SPEC)
    outbox = Outbox()
    for action in ("play", "pause", "play"):
        old.apply(Change("playback", action), 0.0)
    outbox.replay(old)
    new = Performance(SPEC)
    new.restore(old.snapshot())
    for action in ("reset", "pause"):
        new.apply(Change("playback", action), 1.0)
    assert outbox.step(new, 1.0) == [RESET, PAUSE]


def test_lost_controls_are_reconciled() -> None:
    """If the control log overflowed, the model's playback state still follows the set."""
    perf = Performance(SPEC)
    outbox = Outbox()
    perf.apply(Change("playback", "play"), 0.0)
    outbox.replay(perf)
    perf.state = "stopped"  # as if the STOP had fallen out of the log
    assert outbox.step(perf, 1.0) == [STOP]


# --- replay ---------------------------------------------------------------------------------
REPLAY_CASES = [
    ("playing", (Change("playback", "play"),), [prompts(("techno", 1.0))], True),
    ("paused", (Change("playback", "play"), Change("playback", "pause")), [], False),
    ("stopped", (), [], False),
]


@pytest.mark.parametrize(("name", "start", "extra", "play"), REPLAY_CASES, ids=lambda c: str(c))
def test_replay_sends_the_whole_state(name: str, start: tuple, extra: list, play: bool) -> None:
    """After a (re)connect: prompts, the whole config, and PLAY only if playing."""
    perf = Performance(SPEC)
    for change in start:
        perf.apply(change, 0.0)
    perf.apply(Change("config.bpm", 90), 0.0)
    out = Outbox().replay(perf)
    assert out[:2] == [prompts(("techno", 1.0)), SetConfig(GenerationConfig(bpm=90))]
    assert (out[2:] == [PLAY]) is play
    del name, extra


def test_replay_needs_no_reset_and_nothing_follows() -> None:
    """The replayed config defines the fresh context: no RESET, no duplicates afterwards."""
    perf = Performance(SPEC)
    outbox = Outbox()
    perf.apply(Change("playback", "play"), 0.0)
    perf.apply(Change("config.scale", "F_MAJOR_D_MINOR"), 0.0)
    outbox.replay(perf)
    assert outbox.step(perf, 0.0) == []
    assert outbox.next_deadline() is None


def test_replay_with_every_fader_down_holds_the_last_set_and_does_not_play() -> None:
    """A reconnect while silenced re-sends the last non-empty set and stays paused."""
    _, perf, outbox = run([(1.0, w(1, 0.0))])
    out = outbox.replay(perf)
    assert out == [prompts(("techno", 1.0)), SetConfig(GenerationConfig())]
    assert run([(2.0, w(2, 0.5))], outbox, perf, start=())[0] == [
        (2.0, prompts(("house", 0.5))),
        (2.0, PLAY),
    ]


def test_first_sync_without_replay_starts_the_session_in_order() -> None:
    """Used without replay, the first poll sends prompts, config, PLAY (the typical start)."""
    perf = Performance(SPEC)
    perf.apply(Change("playback", "play"), 0.0)
    assert Outbox().step(perf, 0.0) == [
        prompts(("techno", 1.0)),
        SetConfig(GenerationConfig()),
        PLAY,
    ]


# --- properties ---------------------------------------------------------------------------
CHANGES = st.one_of(
    st.builds(w, st.integers(1, 3), st.floats(-1, 3)),
    st.builds(Change, st.just("config.bpm"), st.none() | st.integers(40, 220)),
    st.builds(Change, st.just("config.density"), st.none() | st.floats(-1, 2)),
    st.builds(Change, st.just("config.scale"), st.sampled_from([None, "C_MAJOR_A_MINOR", 3])),
    st.builds(Change, st.just("crossfader"), st.floats(0, 1)),
    st.builds(Change, st.just("scene.recall"), st.just("b"), st.none() | st.floats(0, 1)),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 0.2), CHANGES), min_size=1, max_size=30),
    st.sampled_from([0.02, 0.05, 0.2]),
)
def test_bursts_end_on_their_last_value(steps: list[tuple[float, Change]], interval: float) -> None:
    """Whatever the burst: sets are never empty, weights > 0, frames of a kind are at least
    one interval apart, the last prompts/config sent equal the final state and go out
    within one interval of the end of the motion, and the model's context ends on the
    final bpm/scale (every such change was followed by a RESET after its config)."""
    outbox = Outbox(interval=interval)
    script, now, still = [], 1.0, 1.0
    for dt, change in steps:
        now += dt
        script.append((now, change))
        glide = (
            (change.glide if change.glide is not None else 1.0)
            if change.target == "scene.recall"
            else 0.0
        )
        still = max(still, now + glide)
    sent, perf, _ = run(script, outbox)
    for kind in (SetPrompts, SetConfig):
        frames = only(sent, kind)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(frames)]
        assert all(g >= interval - 1e-9 for g in gaps)
        assert all(t <= still + interval + 1e-9 for t, _ in frames)
    for _, update in only(sent, SetPrompts):
        assert isinstance(update, SetPrompts) and update.prompts
        assert all(0 < p.weight <= 2.0 for p in update.prompts)
    last_prompts = [u for _, u in only(sent, SetPrompts)]
    if perf.wire_prompts():
        assert (last_prompts or [prompts(("techno", 1.0))])[-1] == SetPrompts(perf.wire_prompts())
    last_config = [u for _, u in only(sent, SetConfig)]
    assert (last_config or [SetConfig(GenerationConfig())])[-1] == SetConfig(perf.config)
    assert _contexts(sent)[-1] == (perf.config.bpm, perf.config.scale)
    resets = [t for t, u in sent if u == RESET]
    assert all(t <= still + outbox.reset_interval + interval + 1e-9 for t in resets)


def _contexts(sent: Sent) -> list[tuple[int | None, str | None]]:
    """The bpm/scale the model's context has after each RESET (starting from the replay)."""
    current = GenerationConfig()
    contexts = [(current.bpm, current.scale)]
    for _, update in sent:
        if isinstance(update, SetConfig):
            current = update.config
        elif update in (RESET, STOP):
            contexts.append((current.bpm, current.scale))
    return contexts


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 0.3),
            CHANGES
            | st.builds(
                Change, st.just("playback"), st.sampled_from(["play", "pause", "toggle", "stop"])
            ),
        ),
        max_size=30,
    )
)
def test_the_model_ends_in_the_performers_playback_state(steps: list[tuple[float, Change]]) -> None:
    """After any mix of moves and controls the model plays iff the set plays with prompts."""
    script, now = [], 1.0
    for dt, change in steps:
        now += dt
        script.append((now, change))
    _, perf, outbox = run(script)
    expected = perf.state
    if perf.playing and not perf.wire_prompts():
        expected = "paused" if outbox.wire_state == "paused" else "stopped"
        assert outbox.silenced
    assert outbox.wire_state == expected
