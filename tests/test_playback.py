"""The one playback transition table (bridge.core.playback) and its users agree."""

from __future__ import annotations

import pytest

from bridge.core.outbox import Outbox
from bridge.core.performance import Performance
from bridge.core.playback import TRANSITIONS, PlayState, after, parse_state, resolve
from bridge.core.types import Change, PerformanceSpec, Playback, SlotSpec

S, P, H = PlayState.STOPPED, PlayState.PLAYING, PlayState.PAUSED


def test_the_table_covers_every_state_and_control() -> None:
    """Every (state, control) pair has exactly one successor."""
    assert set(TRANSITIONS) == {(s, c) for s in PlayState for c in Playback}


@pytest.mark.parametrize(
    ("state", "control", "expected"),
    [
        (S, Playback.PLAY, P),
        (H, Playback.PLAY, P),
        (P, Playback.PAUSE, H),
        (S, Playback.PAUSE, S),  # nothing to hold
        (H, Playback.STOP, S),
        (P, Playback.RESET_CONTEXT, P),
        (H, Playback.RESET_CONTEXT, H),
    ],
)
def test_rules(state: PlayState, control: Playback, expected: PlayState) -> None:
    assert after(state, control) is expected


def test_words_resolve_with_toggle_following_the_state() -> None:
    assert resolve("Toggle", P) is Playback.PAUSE
    assert resolve("toggle", H) is Playback.PLAY
    assert resolve(" STOP ", P) is Playback.STOP
    assert resolve("plya", P) is None
    assert resolve(3, P) is None
    assert parse_state("paused") is H and parse_state("bogus") is None


def _performance() -> Performance:
    return Performance(PerformanceSpec(slots=(SlotSpec("techno", 1.0),)))


@pytest.mark.parametrize("words", [["play", "pause"], ["pause"], ["play", "stop", "pause"]])
def test_performance_and_outbox_end_in_the_same_state(words: list[str]) -> None:
    """The outbox's idea of the model follows the same table as the performance."""
    perf, outbox = _performance(), Outbox()
    outbox.replay(perf)
    for n, word in enumerate(words):
        perf.apply(Change("playback", word), float(n))
        outbox.step(perf, float(n))
    assert outbox.wire_state == perf.state
