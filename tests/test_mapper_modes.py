"""The mapper's modes, transforms, encodings and sources, table-driven (pure core).

Each test builds a mapping from TOML text, feeds MIDI events with an injected clock, and
checks the Changes against values computed from the documented rule.
"""

from __future__ import annotations

import math

import pytest
from mapper_helpers import Rig, cc, note

from bridge.core.types import MidiEvent

# --- absolute mode and transforms ------------------------------------------------------


def one(rig: Rig, *events: MidiEvent) -> object:
    changes = rig.send(*events)
    assert len(changes) == 1, changes
    return changes[0].value


def test_absolute_cc_maps_linearly_onto_the_slot_range() -> None:
    """CC 0..127 → weight 0..2 (PromptDJ MIDI's default), value × 2 / 127."""
    rig = Rig('[[bind]]\ncc = 1\ntarget = "slot.1.weight"\ntakeover = "immediate"\n')
    for raw in (127, 64, 1, 0):
        rig.send(cc(1, raw))
        assert rig["slot.1.weight"] == pytest.approx(raw * 2 / 127)


K = 9.0


@pytest.mark.parametrize(
    ("extra", "raw", "expected"),
    [
        ("range = [0.5, 1.5]", 127, 1.5),
        ("range = [0.5, 1.5]", 0, 0.5),
        ("invert = true", 127, 0.0),
        ("invert = true", 0, 2.0),
        ("in = [20, 100]", 10, 0.0),  # below the input range clamps
        ("in = [20, 100]", 60, 1.0),
        ("in = [20, 100]", 120, 2.0),
        ('curve = "log"', 64, 2 * math.log1p(K * 64 / 127) / math.log1p(K)),
        ('curve = "exp"', 64, 2 * (math.exp(math.log1p(K) * 64 / 127) - 1) / K),
        ('curve = "s-curve"', 32, 2 * (3 * (32 / 127) ** 2 - 2 * (32 / 127) ** 3)),
        ("curve = [[0, 0], [0.5, 0.1], [1, 1]]", 127 / 4, 2 * 0.05),
        ("curve = [[0, 0], [0.5, 0.1], [1, 1]]", 127 * 0.75, 2 * 0.55),
        ("steps = 3", 40, 1.0),  # 40/127 = 0.315 → nearest of 0, 0.5, 1 is 0.5
        ("steps = 3", 20, 0.0),
        ("deadzone = 0.1", 10, 0.0),  # 10/127 < 0.1 snaps to the end
        ("deadzone = 0.1", 120, 2.0),
        ("deadzone = 0.1", 64, 2 * (64 / 127 - 0.1) / 0.8),  # the rest is stretched
    ],
)
def test_transform_table(extra: str, raw: float, expected: float) -> None:
    """Input range, output range, invert, curves, breakpoints, steps and deadzone."""
    rig = Rig(f'[[bind]]\ncc = 1\ntarget = "slot.1.weight"\ntakeover = "immediate"\n{extra}\n')
    rig.set("slot.1.weight", 0.123)  # so every value is a change
    rig.mapper.rearm()
    from bridge.core import transform

    b = rig.mapper.mapping.bindings[0]
    assert transform.apply(b.transform, raw) == pytest.approx(expected)
    if float(raw).is_integer():
        assert one(rig, cc(1, int(raw))) == pytest.approx(expected)


def test_int_targets_are_rounded_and_enum_targets_pick_by_zone() -> None:
    """bpm 60..200 rounds to whole bpm; a knob on a slot's text picks one of its texts."""
    rig = Rig(
        '[[bind]]\ncc = 1\ntarget = "config.bpm"\ntakeover = "immediate"\n'
        '[[bind]]\ncc = 2\ntarget = "slot.2.text"\n'
    )
    assert one(rig, cc(1, 64)) == round(60 + 140 * 64 / 127)
    assert isinstance(rig["config.bpm"], int)
    assert one(rig, cc(2, 127)) == "b3"
    assert one(rig, cc(2, 50)) == "b2"  # zone 50/127*3 = 1.18 → the second text
    assert rig.send(cc(2, 60)) == []  # same zone, same text: nothing to send


def test_auto_position_at_the_low_end() -> None:
    """With auto = "low", the bottom of the knob means auto (None); the rest is the range."""
    rig = Rig('[[bind]]\ncc = 1\ntarget = "config.density"\nauto = "low"\n')
    rig.set("config.density", 0.5)
    assert rig.send(cc(1, 63), cc(1, 64)) and rig["config.density"] == pytest.approx(64 / 127)
    assert one(rig, cc(1, 0)) is None
    # From auto the knob applies at once (there is no value to pick up).
    assert one(rig, cc(1, 10)) == pytest.approx(10 / 127)


def test_scale_knob_has_auto_first() -> None:
    """An absolute knob on config.scale: first zone is auto (None), then the 12 scales."""
    from bridge.core.types import SCALES

    rig = Rig('[[bind]]\ncc = 1\ntarget = "config.scale"\n')
    assert one(rig, cc(1, 127)) == SCALES[-1]
    assert one(rig, cc(1, 0)) is None


# --- relative encoders ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "value", "steps"),
    [
        ("twos-complement", 1, 1),
        ("twos-complement", 127, -1),
        ("twos-complement", 3, 3),
        ("twos-complement", 125, -3),
        ("binary-offset", 65, 1),
        ("binary-offset", 63, -1),
        ("binary-offset", 68, 4),
        ("sign-bit", 1, 1),
        ("sign-bit", 65, -1),
        ("sign-bit", 66, -2),
        ("sign-bit-inverted", 65, 1),
        ("sign-bit-inverted", 1, -1),
        ("sign-bit-inverted", 2, -2),
    ],
)
def test_relative_encodings(encoding: str, value: int, steps: int) -> None:
    """Each encoding's rule: the target moves ``steps`` × step × range (no acceleration)."""
    rig = Rig(
        f'[[bind]]\ncc = 1\ntarget = "crossfader"\nencoding = "{encoding}"\n'
        "step = 0.01\nacceleration = 0\n"
    )
    assert one(rig, cc(1, value)) == pytest.approx(0.5 + steps * 0.01)


def test_relative_acceleration_by_message_size_and_speed() -> None:
    """A 3-tick message with acceleration 1 moves 3 × (1 + 2) steps; fast ticks add one."""
    rig = Rig(
        '[[bind]]\ncc = 1\ntarget = "crossfader"\nencoding = "twos-complement"\n'
        "step = 0.01\nacceleration = 1\n"
    )
    assert one(rig, cc(1, 3)) == pytest.approx(0.5 + 0.09)
    # 1 tick, 10 ms after the previous one: counts as speed 2 → 1 × (1 + 1) steps.
    rig.send(cc(1, 1), dt=0.01)
    assert rig["crossfader"] == pytest.approx(0.59 + 0.02)
    # 1 tick after a pause: exactly one step.
    rig.send(cc(1, 1), dt=1.0)
    assert rig["crossfader"] == pytest.approx(0.61 + 0.01)


def test_relative_clamps_at_the_ends_and_int_targets_move_at_least_one() -> None:
    """Turning past the end stays at the end; bpm moves by whole bpm, at least 1 per tick."""
    rig = Rig(
        '[[bind]]\ncc = 1\ntarget = "crossfader"\nencoding = "binary-offset"\nstep = 0.5\n'
        'acceleration = 0\n[[bind]]\ncc = 2\ntarget = "config.bpm"\nencoding = "binary-offset"\n'
        "step = 0.001\nacceleration = 0\n"
    )
    rig.send(cc(1, 65), cc(1, 65), cc(1, 65))
    assert rig["crossfader"] == 1.0
    rig.set("config.bpm", 120)
    assert one(rig, cc(2, 65)) == 121
    assert one(rig, cc(2, 63)) == 120


def test_inc_dec_pair_of_buttons() -> None:
    """note = [up, down]: each press moves one step; releases do nothing."""
    rig = Rig('[[bind]]\nnote = [61, 60]\ntarget = "crossfader"\nstep = 0.1\n')
    rig.send(note(61), note(61, 0), note(61))
    assert rig["crossfader"] == pytest.approx(0.7)
    rig.send(note(60), note(60, 0))
    assert rig["crossfader"] == pytest.approx(0.6)


def test_relative_encoder_on_a_list_moves_one_item_per_tick() -> None:
    """An encoder on a slot's texts steps through them and stops at the ends."""
    rig = Rig('[[bind]]\ncc = 1\ntarget = "slot.2.text"\nencoding = "twos-complement"\n')
    assert [c.value for c in rig.send(cc(1, 1), cc(1, 1), cc(1, 1))] == ["b2", "b3"]
    assert one(rig, cc(1, 127)) == "b2"


# --- high resolution sources ----------------------------------------------------------


def test_14bit_fader_drives_a_weight_with_full_resolution() -> None:
    """cc14 = 1 (MSB CC 1, LSB CC 33): the weight is value × 2 / 16383."""
    rig = Rig('[[bind]]\ncc14 = 1\ntarget = "slot.1.weight"\ntakeover = "immediate"\n')
    rig.send(cc(1, 64), cc(33, 0))  # first pair: MSB reported alone, then completed
    assert rig["slot.1.weight"] == pytest.approx((64 << 7) * 2 / 16383)
    changes = rig.send(cc(1, 100), cc(33, 77))
    assert len(changes) == 1  # learned MSB-first: one change per move
    assert rig["slot.1.weight"] == pytest.approx((100 << 7 | 77) * 2 / 16383)


def test_nrpn_absolute_and_increment() -> None:
    """NRPN 300 data entry sets the crossfader; data increment steps it."""
    rig = Rig('[[bind]]\nnrpn = 300\ntarget = "crossfader"\ntakeover = "immediate"\nstep = 0.25\n')
    rig.send(cc(99, 300 >> 7), cc(98, 300 & 127), cc(6, 0), cc(38, 0))
    assert rig["crossfader"] == 0.0
    rig.send(cc(96, 0))
    assert rig["crossfader"] == pytest.approx(0.25)


def test_pitchbend_centre_deadzone_and_aftertouch() -> None:
    """Pitch bend snaps to the centre within its deadzone; aftertouch is 0..127."""
    rig = Rig(
        '[[bind]]\npitchbend = true\ntarget = "crossfader"\ndeadzone = 0.05\n'
        '[[bind]]\naftertouch = true\ntarget = "master_volume"\n'
    )
    rig.set("crossfader", 0.0)
    assert one(rig, MidiEvent("pitchbend", 0, 0, 8192 + 300)) == 0.5
    assert one(rig, MidiEvent("pitchbend", 0, 0, 16383)) == 1.0
    assert one(rig, MidiEvent("aftertouch", 0, 0, 64)) == pytest.approx(64 / 127)


def test_poly_aftertouch_and_program_change() -> None:
    """Poly aftertouch on one note; program = "any" recalls the scene numbered program + 1."""
    rig = Rig(
        '[[bind]]\npoly_aftertouch = 40\ntarget = "master_volume"\n'
        '[[bind]]\nprogram = "any"\ntarget = "scene.recall"\n'
    )
    assert one(rig, MidiEvent("poly_aftertouch", 0, 40, 0)) == 0.0
    assert rig.send(MidiEvent("poly_aftertouch", 0, 41, 9)) == []
    assert one(rig, MidiEvent("program", 0, 1, 0)) == 2


def test_channels_per_binding_and_any() -> None:
    """A binding listens on its channel (default: the controller's); "any" on all 16."""
    rig = Rig(
        '[[bind]]\ncc = 1\ntarget = "crossfader"\ntakeover = "immediate"\n'
        '[[bind]]\ncc = 2\nchannel = "any"\ntarget = "master_volume"\ntakeover = "immediate"\n'
        '[[bind]]\ncc = 1\nchannel = 5\ntarget = "slot.1.weight"\ntakeover = "immediate"\n'
    )
    assert rig.send(cc(1, 127, ch=3)) == []
    assert one(rig, cc(1, 127, ch=0)) == 1.0
    assert one(rig, cc(1, 127, ch=4)) == 2.0
    assert one(rig, cc(2, 0, ch=9)) == 0.0


# --- buttons ---------------------------------------------------------------------------


def test_toggle_flips_between_value_and_off() -> None:
    """Each press flips mute_bass; releases do nothing."""
    rig = Rig('[[bind]]\nnote = 39\ntarget = "config.mute_bass"\n')
    assert [c.value for c in rig.send(note(39), note(39, 0), note(39))] == [True, False]


def test_momentary_holds_while_pressed() -> None:
    """Momentary: value on press, off on release (a CC button, 127/0)."""
    rig = Rig(
        '[[bind]]\ncc = 40\ntype = "button"\ntarget = "config.mute_drums"\nmode = "momentary"\n'
    )
    assert one(rig, cc(40, 127)) is True
    assert one(rig, cc(40, 0)) is False


def test_trigger_sends_its_value_every_press() -> None:
    """A trigger sends its action on every press, even when it is the current value."""
    rig = Rig('[[bind]]\nnote = 36\ntarget = "playback"\nvalue = "toggle"\n')
    assert [c.value for c in rig.send(note(36), note(36, 0), note(36))] == ["toggle", "toggle"]


@pytest.mark.parametrize(
    ("mode", "presses", "expected"),
    [
        ("step", 4, ["b2", "b3"]),  # stops at the end
        ("cycle", 4, ["b2", "b3", "b", "b2"]),  # wraps around
    ],
)
def test_step_and_cycle_through_texts(mode: str, presses: int, expected: list[str]) -> None:
    """Step/cycle move to the next alternative text on each press."""
    rig = Rig(f'[[bind]]\nnote = 50\ntarget = "slot.2.text"\nmode = "{mode}"\n')
    got = [c.value for c in rig.send(*[note(50)] * presses)]
    assert got == expected


def test_cycle_through_explicit_values_with_auto() -> None:
    """values may include "auto": cycling density auto → 0.2 → 0.8 → auto."""
    rig = Rig(
        '[[bind]]\nnote = 50\ntarget = "config.density"\nmode = "cycle"\n'
        'values = ["auto", 0.2, 0.8]\n'
    )
    assert [c.value for c in rig.send(*[note(50)] * 3)] == [0.2, 0.8, None]


# --- scenes, banks, tap tempo, clock ---------------------------------------------------


def test_scene_trigger_carries_its_glide() -> None:
    """A scene recall Change carries the binding's glide (None = the scene's own)."""
    rig = Rig(
        '[[bind]]\nnote = 44\ntarget = "scene.recall"\nvalue = 2\nglide = 1.5\n'
        '[[bind]]\nnote = 45\ntarget = "scene.recall"\nvalue = "one"\n'
    )
    [a] = rig.send(note(44))
    [b] = rig.send(note(45))
    assert (a.target, a.value, a.glide) == ("scene.recall", 2, 1.5)
    assert (b.value, b.glide) == ("one", None)


def test_bank_switch_changes_which_bindings_run() -> None:
    """Bank 1 and bank 2 bind the same fader to different slots; bank buttons switch."""
    rig = Rig(
        '[[bind]]\ncc = 1\nbank = 1\ntarget = "slot.1.weight"\ntakeover = "immediate"\n'
        '[[bind]]\ncc = 1\nbank = 2\ntarget = "slot.3.weight"\ntakeover = "immediate"\n'
        '[[bind]]\nnote = 1\ntarget = "bank"\nvalue = 1\n'
        '[[bind]]\nnote = 2\ntarget = "bank"\nvalue = 2\n'
    )
    assert rig.mapper.bank == 1
    assert [c.target for c in rig.send(cc(1, 127))] == ["slot.1.weight"]
    [switch] = rig.send(note(2))
    assert (switch.target, switch.value, rig.mapper.bank) == ("bank", 2, 2)
    assert [c.target for c in rig.send(cc(1, 100))] == ["slot.3.weight"]
    assert rig.send(note(2)) == []  # already in bank 2


def test_tap_tempo_emits_bpm() -> None:
    """Taps 0.5 s apart set config.bpm to 120 (the tap itself is not a Change)."""
    rig = Rig('[[bind]]\nnote = 42\ntarget = "tap_tempo"\n')
    assert rig.send(note(42)) == []
    [change] = rig.send(note(42, 0), note(42), dt=0.25)
    assert (change.target, change.value) == ("config.bpm", 120)


def test_midi_clock_and_transport_when_the_controller_follows_them() -> None:
    """clock = true: 24 ppqn at 100 bpm → config.bpm 100; transport: Start → reset + play,
    Stop → stop, Continue → play."""
    head = HEAD_CLOCK
    rig = Rig("", head=head)
    changes = rig.send(*[MidiEvent("clock", -1)] * 48, dt=60 / (100 * 24))
    assert [(c.target, c.value) for c in changes] == [("config.bpm", 100)]
    events = (MidiEvent("start", -1), MidiEvent("stop", -1), MidiEvent("continue", -1))
    assert [c.value for c in rig.send(*events)] == ["reset", "play", "stop", "play"]


def test_clock_is_ignored_unless_asked_for() -> None:
    """Without clock = true, MIDI clock changes nothing."""
    rig = Rig("")
    assert rig.send(*[MidiEvent("clock", -1)] * 48, dt=0.025) == []
    assert rig.send(MidiEvent("start", -1)) == []


HEAD_CLOCK = """
[controller]
name = "C"
clock = true
transport = true
[[slots]]
text = "a"
"""


def test_unknown_port_is_tried_against_every_controller() -> None:
    """Events from a port that is no controller's name (the virtual input) still map."""
    rig = Rig('[[bind]]\ncc = 1\ntarget = "crossfader"\ntakeover = "immediate"\n')
    [change] = rig.send(cc(1, 127), port="PromptBridge")
    assert change.value == 1.0


def test_change_source_names_the_control() -> None:
    """Changes say where they came from (for logs): the controller and the control."""
    rig = Rig('[[bind]]\ncc = 1\ntarget = "crossfader"\ntakeover = "immediate"\n')
    [change] = rig.send(cc(1, 127))
    assert change.source == "C cc 1 ch 1"
