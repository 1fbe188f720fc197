"""The Performance state: targets, glides, crossfader, scenes, snapshot/restore (pure)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.performance import Performance, deck_gains
from bridge.core.types import (
    CONFIG_SPECS,
    SIMPLE_TARGETS,
    Change,
    ChangeValue,
    GenerationConfig,
    PerformanceSpec,
    Playback,
    SceneSpec,
    SlotSpec,
    WeightedPrompt,
)

SPEC = PerformanceSpec(
    slots=(
        SlotSpec("minimal techno", 1.0),
        SlotSpec("deep house", 0.0),
        SlotSpec("ambient pads", 0.5, lo=0.0, hi=1.0),
        SlotSpec("", 1.0),
        SlotSpec("jazz", 0.0, texts=("jazz", "bebop", "swing")),
    ),
    scenes=(
        SceneSpec("intro", weights={1: 0.0, 2: 2.0}, texts={3: "rain"}, glide=2.0),
        SceneSpec("drop", weights={1: 2.0}, config={"density": 0.9, "bpm": 128}),
    ),
    deck_a=(1,),
    deck_b=(2,),
    crossfader=0.0,
)


def perf() -> Performance:
    return Performance(SPEC)


# --- direct targets: (target, value) -> expected get(target) ---------------------------
APPLIED: list[tuple[str, ChangeValue, ChangeValue]] = [
    ("slot.1.weight", 1.5, 1.5),
    ("slot.1.weight", 9.0, 2.0),  # clamped to the slot's hi
    ("slot.1.weight", -1, 0.0),  # clamped to lo
    ("slot.3.weight", 1.7, 1.0),  # this slot's own range is 0..1
    ("slot.2.text", "acid", "acid"),
    ("slot.5.text", 2, "swing"),  # index into the slot's alternatives
    ("slot.5.text", 99, "swing"),  # index clamped to the last alternative
    ("config.temperature", 2.5, 2.5),
    ("config.temperature", 7.0, 3.0),
    ("config.top_k", 40.6, 41),
    ("config.top_k", 0, 1),
    ("config.bpm", 128, 128),
    ("config.bpm", 500, 200),
    ("config.bpm", None, None),
    ("config.bpm", "auto", None),
    ("config.density", 0.25, 0.25),
    ("config.scale", "g_major_e_minor", "G_MAJOR_E_MINOR"),
    ("config.scale", 0, "C_MAJOR_A_MINOR"),
    ("config.scale", "SCALE_UNSPECIFIED", None),
    ("config.mute_bass", True, True),
    ("config.mute_drums", 1.0, True),
    ("config.only_bass_and_drums", "on", True),
    ("config.mode", "diversity", "DIVERSITY"),
    ("config.seed", 42, 42),
    ("crossfader", 0.25, 0.25),
    ("crossfader", 3.0, 1.0),
    ("master_volume", 0.3, 0.3),
    ("master_volume", -2.0, 0.0),
    ("record", "start", True),
    ("record", True, True),
    ("bank", 3, 3),
    ("playback", "play", "play"),
    ("playback", "pause", "stop"),  # nothing plays: a pause holds nothing (playback.py rule 2)
    ("playback", "stop", "stop"),
    ("playback", "toggle", "play"),
    ("scene.recall", "drop", "drop"),
    ("scene.recall", 1, "intro"),
    ("scene.recall", "INTRO", "intro"),
    ("scene.recall", "2", "drop"),
]


@pytest.mark.parametrize(("target", "value", "expected"), APPLIED)
def test_apply_sets_the_value_get_reads(target: str, value: ChangeValue, expected: object) -> None:
    """Every target accepts good values, clamps/normalises them, and get() reads them back."""
    p = perf()
    assert p.apply(Change(target, value), now=0.0) is None
    assert p.get(target) == expected


REJECTED: list[tuple[str, ChangeValue, str]] = [
    ("nonsense", 1, "unknown target"),
    ("slot.9.weight", 1.0, "no slot 9"),
    ("slot.0.weight", 1.0, "slot number must be a whole number >= 1"),
    ("slot.x.weight", 1.0, "slot number must be a whole number"),
    ("slot.1.colour", 1.0, "unknown slot field"),
    ("slot.1.weight", "loud", "must be a number"),
    ("slot.1.weight", float("nan"), "must be a number"),
    ("slot.1.weight", True, "must be a number"),
    ("slot.1.text", None, "must be a string"),
    ("config.volume", 1, "unknown config field"),
    ("config.temperature", None, "has no auto setting"),
    ("config.temperature", "hot", "must be a number (allowed 0..3)"),
    ("config.scale", "H_MAJOR", "unknown value (allowed C_MAJOR_A_MINOR"),
    ("config.scale", 12, "unknown value"),
    ("config.mode", "auto", "has no auto setting"),
    ("config.mute_bass", "maybe", "true or false"),
    ("playback", "rewind", "must be one of play"),
    ("playback", None, "must be one of play"),
    ("scene.recall", "outro", "no scene 'outro'"),
    ("scene.recall", 3, "no scene 3"),
    ("scene.recall", 0, "no scene 0"),
    ("crossfader", "left", "0..1"),
    ("master_volume", None, "0..1"),
    ("record", "pause", "must be one of start"),
    ("bank", 0, "whole number"),
    ("bank", 1.5, "whole number"),
    ("scene.store", None, "name or a 1-based index in 1..3"),
    ("scene.store", 7, "name or a 1-based index in 1..3"),
    ("scene.store", "9", "name or a 1-based index in 1..3"),
    ("scene.store", "  ", "name or a 1-based index in 1..3"),
    ("scene.store", True, "name or a 1-based index in 1..3"),
]


@pytest.mark.parametrize(("target", "value", "reason"), REJECTED)
def test_bad_changes_are_ignored_with_a_reason(
    target: str, value: ChangeValue, reason: str
) -> None:
    """A bad target or value changes nothing, never raises, and says why."""
    p = perf()
    before = p.snapshot()
    got = p.apply(Change(target, value), now=0.0)
    assert got is not None and reason in got
    assert p.last_problem is not None and target in p.last_problem
    assert p.snapshot() == before


def test_playback_actions_are_logged_in_order_with_sequence_numbers() -> None:
    """Each playback action is appended to ``controls`` (toggle resolves to play/pause)."""
    p = perf()
    for action in ("play", "toggle", "toggle", "reset", "stop"):
        p.apply(Change("playback", action), 0.0)
    assert list(p.controls) == [
        (1, Playback.PLAY),
        (2, Playback.PAUSE),
        (3, Playback.PLAY),
        (4, Playback.RESET_CONTEXT),
        (5, Playback.STOP),
    ]
    assert p.stopped and not p.playing and not p.paused


def test_reset_keeps_the_playback_state() -> None:
    """``reset`` asks for RESET_CONTEXT but does not stop or pause."""
    p = perf()
    p.apply(Change("playback", "play"), 0.0)
    p.apply(Change("playback", "reset"), 0.0)
    assert p.playing


def test_record_toggle_flips_the_flag() -> None:
    """record toggle flips; start/stop set it."""
    p = perf()
    p.apply(Change("record", "toggle"), 0.0)
    assert p.recording
    p.apply(Change("record", "toggle"), 0.0)
    assert not p.recording


# --- wire prompts ----------------------------------------------------------------------
def test_wire_prompts_drop_zero_weights_and_blank_texts() -> None:
    """Slot 2 (weight 0) and slot 4 (blank text) never reach the wire; deck A is at full."""
    assert perf().wire_prompts() == (
        WeightedPrompt("minimal techno", 1.0),
        WeightedPrompt("ambient pads", 0.5),
    )


def test_filtered_texts_leave_the_wire_set() -> None:
    """A text the model filtered is not sent again (and the snapshot marks it)."""
    p = perf()
    p.mark_filtered("ambient pads ")
    assert [w.text for w in p.wire_prompts()] == ["minimal techno"]
    assert p.snapshot()["slots"][2]["filtered"] is True


def test_weights_are_rounded_so_float_noise_is_not_a_change() -> None:
    """Effective weights are rounded to 4 decimals; a 1e-9 nudge gives the same wire set."""
    p = perf()
    before = p.wire_prompts()
    p.apply(Change("slot.1.weight", 1.0 + 1e-9), 0.0)
    assert p.wire_prompts() == before


# --- crossfader --------------------------------------------------------------------------
CROSSFADER = [
    # position, slot-1 effective (deck A, base 1.0), slot-2 effective (deck B, base 2.0)
    (0.0, 1.0, 0.0),
    (0.5, math.sqrt(0.5), 2 * math.sqrt(0.5)),
    (1.0, 0.0, 2.0),
    (1 / 3, math.cos(math.pi / 6), 2 * math.sin(math.pi / 6)),
]


@pytest.mark.parametrize(("position", "eff_a", "eff_b"), CROSSFADER)
def test_crossfader_blends_decks_with_equal_power(
    position: float, eff_a: float, eff_b: float
) -> None:
    """Deck A slots scale by cos(x·π/2), deck B by sin(x·π/2); other slots are untouched."""
    p = perf()
    p.apply(Change("slot.2.weight", 2.0), 0.0)
    p.apply(Change("crossfader", position), 0.0)
    assert p.effective_weight(1) == pytest.approx(eff_a)
    assert p.effective_weight(2) == pytest.approx(eff_b)
    assert p.effective_weight(3) == pytest.approx(0.5)
    assert p.get("slot.1.weight") == 1.0  # the knob's own value is the base weight


@given(st.floats(0.0, 1.0))
def test_deck_gains_keep_constant_power(x: float) -> None:
    """gain_a² + gain_b² == 1 at every crossfader position."""
    a, b = deck_gains(x)
    assert a**2 + b**2 == pytest.approx(1.0)
    assert 0.0 <= a <= 1.0 and 0.0 <= b <= 1.0


def test_crossfader_glides_when_asked() -> None:
    """A crossfader Change with glide=1 moves linearly over one second."""
    p = perf()
    p.apply(Change("crossfader", 1.0, glide=1.0), now=10.0)
    p.tick(10.25)
    assert p.crossfader == pytest.approx(0.25)
    p.tick(11.5)
    assert p.crossfader == 1.0 and not p.glides


# --- scene glide ---------------------------------------------------------------------------
SCENE_GLIDE = [
    # recall glide, tick time, slot 1 weight, slot 2 weight (intro: 1→0 and 0→2)
    (None, 0.0, 1.0, 0.0),  # the scene's own glide: 2 s
    (None, 0.5, 0.75, 0.5),
    (None, 1.0, 0.5, 1.0),
    (None, 2.0, 0.0, 2.0),
    (None, 5.0, 0.0, 2.0),
    (4.0, 1.0, 0.75, 0.5),  # Change.glide overrides the scene's glide
    (0.0, 0.0, 0.0, 2.0),  # zero glide jumps at once
]


@pytest.mark.parametrize(("glide", "at", "w1", "w2"), SCENE_GLIDE)
def test_scene_recall_glides_weights(glide: float | None, at: float, w1: float, w2: float) -> None:
    """Recalling a scene ramps each named slot linearly from where it is to the scene's value."""
    p = perf()
    p.apply(Change("scene.recall", "intro", glide=glide), now=100.0)
    p.tick(100.0 + at)
    assert p.get("slot.1.weight") == pytest.approx(w1)
    assert p.get("slot.2.weight") == pytest.approx(w2)


def test_scene_recall_sets_texts_and_config_at_once_and_leaves_other_slots() -> None:
    """Texts and config apply immediately; slots the scene does not name keep their state."""
    p = perf()
    p.apply(Change("scene.recall", "intro"), 0.0)
    assert p.get("slot.3.text") == "rain" and p.get("slot.3.weight") == 0.5
    p.apply(Change("scene.recall", "drop"), 0.0)
    assert p.config.density == 0.9 and p.config.bpm == 128
    assert p.get("slot.1.weight") == 2.0  # "drop" has no glide


def test_moving_a_gliding_slot_cancels_its_glide() -> None:
    """The performer wins: a direct move stops that slot's glide, others keep gliding."""
    p = perf()
    p.apply(Change("scene.recall", "intro"), 0.0)
    p.tick(1.0)
    p.apply(Change("slot.1.weight", 1.8), 1.0)
    p.tick(1.5)
    assert p.get("slot.1.weight") == 1.8
    assert p.get("slot.2.weight") == pytest.approx(1.5)


def test_a_new_recall_starts_from_the_current_intermediate_weights() -> None:
    """Recalling mid-glide ramps from where the weights are, not from where they started."""
    p = perf()
    p.apply(Change("scene.recall", "intro"), 0.0)
    p.tick(1.0)  # slot 1 at 0.5
    p.apply(Change("scene.recall", "drop", glide=1.0), 1.0)  # slot 1 → 2.0 over 1 s
    p.tick(1.5)
    assert p.get("slot.1.weight") == pytest.approx(1.25)


def test_next_deadline_paces_glides() -> None:
    """While gliding the next tick is one glide step later (or the glide's end); else None."""
    p = Performance(SPEC, glide_step=0.1)
    assert p.next_deadline() is None
    p.apply(Change("scene.recall", "intro", glide=0.25), now=5.0)
    assert p.next_deadline() == pytest.approx(5.1)
    p.tick(5.2)
    assert p.next_deadline() == pytest.approx(5.25)
    p.tick(5.25)
    assert p.next_deadline() is None


def test_glides_produce_intermediate_wire_weights() -> None:
    """Each tick during a recall yields a distinct prompt set (the cross-fade the API wants)."""
    p = perf()
    p.apply(Change("scene.recall", "intro", glide=1.0), 0.0)
    seen = []
    for i in range(11):
        p.tick(i / 10)
        seen.append(p.wire_prompts())
    assert len(set(seen)) == 11


# --- scene store ---------------------------------------------------------------------------
def test_scene_store_then_recall_round_trips() -> None:
    """Storing under a new name captures every slot; recalling it later brings them back."""
    p = perf()
    p.apply(Change("slot.2.weight", 1.25), 0.0)
    p.apply(Change("slot.2.text", "acid"), 0.0)
    assert p.apply(Change("scene.store", "mine"), 0.0) is None
    assert p.get("scene.recall") == "mine"
    p.apply(Change("slot.2.weight", 0.0), 0.0)
    p.apply(Change("slot.2.text", "other"), 0.0)
    p.apply(Change("scene.recall", "mine"), 0.0)
    assert p.get("slot.2.weight") == 1.25 and p.get("slot.2.text") == "acid"


def test_scene_store_by_index_replaces_or_appends() -> None:
    """An existing index is replaced (keeping its name and glide); index n+1 appends."""
    p = perf()
    p.apply(Change("slot.1.weight", 0.3), 0.0)
    assert p.apply(Change("scene.store", 1), 0.0) is None
    assert p.scenes[0].name == "intro" and p.scenes[0].glide == 2.0
    assert p.scenes[0].weights[1] == 0.3
    assert p.apply(Change("scene.store", 3.0), 0.0) is None
    assert p.scenes[2].name == "scene 3"
    assert p.apply(Change("scene.store", "4"), 0.0) is None
    assert p.scenes[3].name == "scene 4"


def test_scene_store_mid_glide_stores_the_destination() -> None:
    """A scene stored during a glide holds where the slots are heading."""
    p = perf()
    p.apply(Change("scene.recall", "intro"), 0.0)
    p.tick(0.5)
    p.apply(Change("scene.store", "dest"), 0.5)
    assert p.scenes[-1].weights[2] == 2.0


# --- snapshot / restore ----------------------------------------------------------------------
def busy() -> Performance:
    p = perf()
    for change in (
        Change("slot.2.weight", 1.5),
        Change("slot.2.text", "acid"),
        Change("config.bpm", 124),
        Change("config.scale", "F_MAJOR_D_MINOR"),
        Change("crossfader", 0.4),
        Change("master_volume", 0.8),
        Change("bank", 2),
        Change("playback", "play"),
        Change("record", "start"),
        Change("scene.store", "saved"),
    ):
        assert p.apply(change, 0.0) is None
    p.mark_filtered("bad text")
    return p


def test_snapshot_is_json_and_restore_round_trips() -> None:
    """A snapshot survives JSON and restores into an equal state (recording excepted)."""
    p = busy()
    snap = json.loads(json.dumps(p.snapshot()))
    fresh = perf()
    assert fresh.restore(snap) == []
    again = fresh.snapshot()
    assert again["recording"] is False  # a restart never starts recording on its own
    snap["recording"] = False
    assert again == snap
    assert fresh.playing and fresh.find_scene("saved") == 2


def test_snapshot_lists_effective_weights() -> None:
    """Each slot shows text, base weight and effective (crossfaded) weight."""
    slot = busy().snapshot()["slots"][1]
    assert slot["text"] == "acid" and slot["weight"] == 1.5
    assert slot["effective"] == pytest.approx(1.5 * math.sin(0.4 * math.pi / 2), abs=1e-4)


ODD_SNAPSHOTS: list[object] = [
    {},
    [],
    "nope",
    {"slots": "many"},
    {"slots": [1, {"slot": 99}, {"slot": "1"}, {"slot": 1, "weight": "x"}]},
    {"config": {"bpm": "fast", "warp": 9}, "playback": "dancing"},
    {"stored_scenes": [{"weights": {}}, {"name": "x", "weights": {"a": 1}}, 3]},
    {"crossfader": None, "master_volume": "loud", "bank": -1, "filtered": "x"},
]


@pytest.mark.parametrize("snap", ODD_SNAPSHOTS)
def test_restore_tolerates_odd_snapshots(snap: object) -> None:
    """Malformed or partial snapshots never raise and leave the state usable."""
    p = perf()
    problems = p.restore(snap)  # type: ignore[arg-type]
    assert isinstance(problems, list)
    assert p.wire_prompts() == perf().wire_prompts()
    assert p.config == GenerationConfig()


def test_restore_takes_good_parts_and_reports_bad_ones() -> None:
    """A half-good snapshot restores the good fields and names the bad ones."""
    p = perf()
    problems = p.restore({"slots": [{"slot": 1, "weight": 0.25}, {"slot": 2, "weight": "x"}]})
    assert p.get("slot.1.weight") == 0.25
    assert len(problems) == 1 and "slot.2." in problems[0]


# --- properties ------------------------------------------------------------------------------
TARGETS = [f"slot.{n}.{f}" for n in range(0, 7) for f in ("weight", "text")] + [
    *(f"config.{n}" for n in CONFIG_SPECS),
    *SIMPLE_TARGETS,
    "config.nope",
    "slot.1",
    "",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(TARGETS) | st.text(max_size=12).map(lambda t: f"slot.{t}.weight"),
            VALUES,
            st.none() | st.floats(0, 5),
            st.floats(0, 0.5),
        ),
        max_size=40,
    )
)
def test_state_always_stays_in_range_and_apply_never_raises(
    changes: list[tuple[str, ChangeValue, float | None, float]],
) -> None:
    """Whatever arrives, weights, config and crossfader stay inside their ranges."""
    p = perf()
    now = 0.0
    for target, value, glide, dt in changes:
        now += dt
        p.apply(Change(target, value, glide=glide), now)
        p.tick(now)
        for n, slot in enumerate(p.slots, start=1):
            assert slot.lo <= slot.weight <= slot.hi
            assert 0.0 <= p.effective_weight(n) <= slot.hi
        for w in p.wire_prompts():
            assert 0 < w.weight <= 2.0 and w.text.strip()
        for name, spec in CONFIG_SPECS.items():
            value_now = getattr(p.config, name)
            if value_now is None:
                assert spec.auto
            elif spec.kind in ("int", "float"):
                assert spec.lo <= value_now <= spec.hi
            elif spec.kind == "enum":
                assert value_now in spec.choices
        assert 0.0 <= p.crossfader <= 1.0 and 0.0 <= p.master_volume <= 1.0
        json.dumps(p.snapshot(), allow_nan=False)
