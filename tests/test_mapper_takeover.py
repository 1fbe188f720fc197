"""Takeover rules and re-arming, and feedback to LEDs and rings (pure core, injected clock)."""

from __future__ import annotations

import pytest
from mapper_helpers import Rig, cc, note

from bridge.core.takeover import THRESHOLD, TakeoverState, resolve
from bridge.core.types import MidiEvent


def fader(takeover: str) -> Rig:
    rig = Rig(f'[[bind]]\ncc = 1\ntarget = "slot.1.weight"\ntakeover = "{takeover}"\n')
    rig.set("slot.1.weight", 1.0)
    return rig


def w(raw: int) -> float:
    return raw * 2 / 127


def test_immediate_jumps() -> None:
    """immediate: the first message sets the target, wherever it was."""
    rig = fader("immediate")
    rig.send(cc(1, 10))
    assert rig["slot.1.weight"] == pytest.approx(w(10))


def test_pickup_waits_until_the_control_crosses_the_target() -> None:
    """pickup: values below the target are ignored until the fader passes it."""
    rig = fader("pickup")
    assert rig.send(cc(1, 10), cc(1, 30), cc(1, 50)) == []
    assert rig["slot.1.weight"] == 1.0
    rig.send(cc(1, 70))  # crossed 1.0 (= raw 63.5) between 50 and 70
    assert rig["slot.1.weight"] == pytest.approx(w(70))
    rig.send(cc(1, 20))  # now it follows 1:1
    assert rig["slot.1.weight"] == pytest.approx(w(20))


def test_pickup_takes_over_within_the_threshold() -> None:
    """pickup: a first value within 3/128 of the range of the target is taken at once."""
    rig = fader("pickup")
    rig.send(cc(1, 64))  # w(64) = 1.008, |diff| < 2 × 3/128
    assert rig["slot.1.weight"] == pytest.approx(w(64))


def test_scale_converges_without_jumping() -> None:
    """scale: each move closes part of the gap; the target never jumps; then it follows."""
    rig = fader("scale")
    assert rig.send(cc(1, 10)) == []  # the first value only tells where the fader is
    previous = 1.0
    for raw in (20, 30, 40, 50, 60):
        rig.send(cc(1, raw))
        value = rig["slot.1.weight"]
        assert isinstance(value, float)
        # ReaLearn's rule, computed here from the previous control and target values.
        prev_control = w(raw - 10)
        expected = previous + (w(raw) - prev_control) * (2.0 - previous) / (2.0 - prev_control)
        assert value == pytest.approx(expected)
        assert value > previous
        previous = value
    for _ in range(30):  # keep pushing up: they meet before the top
        raw = min(127, raw + 3)
        rig.send(cc(1, raw))
    assert rig["slot.1.weight"] == pytest.approx(w(raw))


def test_something_else_moving_the_target_rearms_pickup() -> None:
    """After another control (or a glide) moved the target, the fader must pick up again."""
    rig = fader("pickup")
    rig.send(cc(1, 64), cc(1, 70))
    assert rig["slot.1.weight"] == pytest.approx(w(70))
    rig.set("slot.1.weight", 0.2)  # moved by a scene, the API, another knob
    assert rig.send(cc(1, 72)) == []
    assert rig["slot.1.weight"] == 0.2
    rig.send(cc(1, 0))  # crosses 0.2 on the way down
    assert rig["slot.1.weight"] == 0.0


def test_rearm_after_scene_recall_and_bank_switch() -> None:
    """A scene recall and a bank switch re-arm takeover on every binding."""
    rig = Rig(
        '[[bind]]\ncc = 1\ntarget = "slot.1.weight"\n'
        '[[bind]]\nnote = 44\ntarget = "scene.recall"\nvalue = 1\n'
        '[[bind]]\nnote = 2\ntarget = "bank"\nvalue = 2\n'
        '[[bind]]\nnote = 1\ntarget = "bank"\nvalue = 1\n'
    )
    rig.send(cc(1, 0), cc(1, 20))
    assert rig["slot.1.weight"] == pytest.approx(w(20))
    rig.send(note(44))
    states = [st.takeover.picked for st in rig.mapper._states]
    assert not any(states)
    rig.send(cc(1, 21), cc(1, 22))  # picks up again: the target did not move (dict state)
    rig.send(note(2), note(1))
    assert not any(st.takeover.picked for st in rig.mapper._states)


def test_auto_target_is_taken_at_once() -> None:
    """A target at auto (None) has no position to pick up: the knob applies at once."""
    rig = Rig('[[bind]]\ncc = 1\ntarget = "config.brightness"\n')
    assert rig["config.brightness"] is None
    rig.send(cc(1, 100))
    assert rig["config.brightness"] == pytest.approx(100 / 127)


@pytest.mark.parametrize("rule", ["pickup", "scale"])
def test_resolve_threshold_is_a_fraction_of_the_range(rule: str) -> None:
    """The pickup window is 3/128 of the output range, whatever the range."""
    st = TakeoverState()
    assert resolve(rule, st, 100 + 0.9 * THRESHOLD * 200, 100.0, 0.0, 200.0) is not None
    st = TakeoverState()
    assert resolve(rule, st, 100 + 1.1 * THRESHOLD * 200, 100.0, 0.0, 200.0) is None


# --- feedback -------------------------------------------------------------------------

FEEDBACK = """
[[bind]]
note = 39
target = "config.mute_bass"
feedback = true

[[bind]]
cc = 1
target = "slot.1.weight"
takeover = "immediate"
feedback = { cc = 9, channel = 2, range = [1, 13] }

[[bind]]
note = 44
target = "scene.recall"
value = 2
feedback = { note = 44, on = 21, off = 0 }

[[bind]]
note = 36
target = "playback"
value = "toggle"
feedback = true
"""


def sent(rig: Rig) -> list[tuple[str, MidiEvent]]:
    return rig.mapper.feedback(rig.instrument.current)


def test_feedback_renders_every_target_then_only_changes() -> None:
    """First call sends each LED/ring; the next sends nothing until a value changes."""
    rig = Rig(FEEDBACK)
    first = {(m.kind, m.channel, m.number): m.value for _, m in sent(rig)}
    assert first == {
        ("note_on", 0, 39): 0,  # mute_bass off
        ("cc", 1, 9): 1,  # weight 0 → bottom of the ring range
        ("note_on", 0, 44): 0,  # scene 2 is not the current scene
        ("note_on", 0, 36): 0,  # stopped
    }
    assert sent(rig) == []  # duplicates suppressed
    rig.send(note(39), cc(1, 127), note(36))
    rig.set("scene.recall", "two")
    rig.set("playback", "play")
    again = {(m.kind, m.channel, m.number): m.value for _, m in sent(rig)}
    assert again == {
        ("note_on", 0, 39): 127,
        ("cc", 1, 9): 13,
        ("note_on", 0, 44): 21,
        ("note_on", 0, 36): 127,
    }
    assert {name for name, _ in sent(rig)} <= {"C"}


def test_ring_position_follows_the_value() -> None:
    """A ring shows the target's position scaled into its range (weight 1.0 of 0..2 → 7)."""
    rig = Rig(FEEDBACK)
    rig.set("slot.1.weight", 1.0)
    ring = [m for _, m in sent(rig) if m.kind == "cc"]
    assert [m.value for m in ring] == [7]  # the middle of 0..2 is the middle of 1..13


def test_resend_feedback_after_replug() -> None:
    """resend_feedback(controller) makes the next call send everything again."""
    rig = Rig(FEEDBACK)
    first = sent(rig)
    assert sent(rig) == []
    rig.mapper.resend_feedback("C")
    assert sent(rig) == first


def test_feedback_follows_the_active_bank() -> None:
    """A control bound in two banks shows the target of the bank in use."""
    rig = Rig(
        '[[bind]]\ncc = 1\nbank = 1\ntarget = "slot.1.weight"\nfeedback = true\n'
        '[[bind]]\ncc = 1\nbank = 2\ntarget = "slot.2.weight"\nfeedback = true\n'
        '[[bind]]\nnote = 2\ntarget = "bank"\nvalue = 2\n'
    )
    rig.set("slot.1.weight", 2.0)
    assert [m.value for _, m in sent(rig)] == [127]
    rig.send(note(2))
    assert [m.value for _, m in sent(rig)] == [0]
