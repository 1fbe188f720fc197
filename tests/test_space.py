"""Prompt spaces: the kernel's properties, the position lanes, files and `check` (pure)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bridge.config import check_files, load_mapping, loads, mappings_dir
from bridge.core.drive import Driver
from bridge.core.instrument import Instrument, Send
from bridge.core.performance import Performance
from bridge.core.space import SpaceSpec, weights
from bridge.core.types import Change, PerformanceSpec, SceneSpec, SetPrompts, SlotSpec

unit = st.floats(0.0, 1.0, allow_nan=False)


def spaces(dims: int) -> st.SearchStrategy[SpaceSpec]:
    point = st.tuples(*([unit] * dims))
    return st.builds(
        lambda pts, radius, peak: SpaceSpec(
            points=dict(enumerate(pts, start=1)), dims=dims, radius=radius, peak=peak
        ),
        st.lists(point, min_size=1, max_size=8),
        st.floats(0.05, 2.0),
        st.floats(0.1, 4.0),
    )


any_space = st.sampled_from([2, 3]).flatmap(
    lambda d: st.tuples(spaces(d), st.tuples(*([unit] * d)))
)


@given(any_space)
def test_weights_are_in_range_and_the_nearest_slot_always_plays(case: tuple) -> None:
    """Every weight is within 0..peak and the nearest slot is at peak: never an empty set."""
    space, position = case
    w = weights(space, position)
    assert set(w) == set(space.points)
    assert all(0.0 <= v <= space.peak for v in w.values())
    nearest = min(space.points, key=lambda n: math.dist(space.points[n], position))
    assert math.isclose(w[nearest], space.peak)


@given(any_space, st.data())
def test_weights_are_continuous(case: tuple, data: st.DataObject) -> None:
    """A small move changes each weight by at most a Lipschitz bound of the move: no jumps,
    even where the nearest slot changes or a slot crosses the cutoff."""
    space, position = case
    step = data.draw(st.tuples(*([st.floats(-1e-3, 1e-3)] * space.dims)))
    moved = tuple(min(1.0, max(0.0, p + s)) for p, s in zip(position, step, strict=True))
    bound = space.peak / (1 - space.cutoff) * 2 * math.sqrt(space.dims) / space.radius**2
    before, after = weights(space, position), weights(space, moved)
    for n in space.points:
        assert abs(after[n] - before[n]) <= bound * math.dist(position, moved) + 1e-9


@settings(max_examples=60)
@given(st.sampled_from([2, 3]).flatmap(spaces))
def test_each_slot_dominates_at_its_own_point(space: SpaceSpec) -> None:
    """On a slot's point that slot plays at peak and every slot elsewhere plays less."""
    points = list(space.points.values())
    assume(all(math.dist(a, b) >= 0.01 for i, a in enumerate(points) for b in points[:i]))
    for n, point in space.points.items():
        w = weights(space, point)
        assert math.isclose(w[n], space.peak)
        assert all(w[other] < w[n] for other in space.points if other != n)


def test_far_from_every_point_the_nearest_still_plays() -> None:
    """Underflow-proof: with a tiny radius, a corner far from both points still has a mix."""
    space = SpaceSpec(points={1: (0.0, 0.0), 2: (0.1, 0.0)}, radius=0.01)
    assert weights(space, (1.0, 1.0)) == {1: 0.0, 2: 1.0}


# --- the performance -------------------------------------------------------------------
SPACE = SpaceSpec(
    points={1: (0.0, 0.0), 2: (1.0, 0.0), 3: (0.0, 1.0)}, radius=0.4, position=(0.0, 0.0)
)
SLOTS = (SlotSpec("techno"), SlotSpec("dub"), SlotSpec("ambient"), SlotSpec("jazz", 0.5))


def perf() -> Performance:
    scenes = (SceneSpec("far", weights={1: 2.0, 4: 1.5}, position=(1.0, 0.0), glide=1.0),)
    return Performance(PerformanceSpec(slots=SLOTS, scenes=scenes, space=SPACE))


def test_a_set_starts_placed_and_moves_write_only_placed_slots() -> None:
    p = perf()
    assert [s.weight for s in p.slots] == [1.0, 0.0, 0.0, 0.5]
    assert p.apply(Change("space.x", 1.0), 0.0) is None
    assert [s.weight for s in p.slots] == [0.0, 1.0, 0.0, 0.5]
    assert p.get("space.x") == 1.0 and p.get("space.y") == 0.0 and p.get("space.z") is None


def test_last_writer_wins_between_a_fader_and_the_position() -> None:
    """A fader on a placed slot holds until the position moves again."""
    p = perf()
    p.apply(Change("slot.3.weight", 1.5), 0.0)
    p.apply(Change("config.bpm", 120), 0.0)
    assert p.slots[2].weight == 1.5
    p.apply(Change("space.y", 0.0), 0.1)
    assert p.slots[2].weight == 0.0


def test_refusals_and_clamps_are_said() -> None:
    p = perf()
    assert "2D" in (p.apply(Change("space.z", 0.5), 0.0) or "")
    assert "must be a number" in (p.apply(Change("space.x", "left"), 0.0) or "")
    assert p.apply(Change("space.x", 1.7), 0.0) is None
    assert p.last_note == "space.x: 1.7 is outside 0..1, set to 1"
    flat = Performance(PerformanceSpec(slots=SLOTS))
    assert "no prompt space" in (flat.apply(Change("space.x", 0.5), 0.0) or "")


def test_a_scene_glides_the_position_and_its_weights_touch_only_unplaced_slots() -> None:
    p = perf()
    assert p.apply(Change("scene.recall", "far"), 0.0) is None
    p.tick(0.5)
    assert p.position == [0.5, 0.0]
    assert p.slots[0].weight == p.slots[1].weight == 1.0  # halfway: both play
    p.tick(1.0)
    # slot 1 took no scene weight (the space owns it); slot 4 (unplaced) glided to 1.5
    assert [s.weight for s in p.slots] == [0.0, 1.0, 0.0, 1.5]
    assert not p.glides


def test_store_keeps_the_position_and_a_snapshot_restores_it() -> None:
    p = perf()
    p.apply(Change("space.x", 0.6, glide=2.0), 0.0)
    p.apply(Change("scene.store", "mine"), 0.5)
    assert p.scenes[-1].position == (0.6, 0.0)  # where it is heading
    p.tick(2.0)
    p.apply(Change("slot.3.weight", 0.25), 2.0)  # moved after the position: kept
    fresh = perf()
    assert fresh.restore(p.snapshot()) == []
    assert fresh.position == [0.6, 0.0]
    assert [s.weight for s in fresh.slots] == [round(s.weight, 6) for s in p.slots]
    assert fresh.scenes[-1].position == (0.6, 0.0)


def test_midi_moves_the_space_and_a_glide_streams_intermediate_mixes() -> None:
    """Pitch bend on space.x through the instrument: new prompt sets reach the wire."""
    driver = Driver(Instrument(load_mapping([mappings_dir() / "examples" / "space_set.toml"])))
    driver.replay()
    driver.poll()
    sent = driver.run([(1.0, bytes([0xE0, 0x00, 0x00]))])  # bend fully down: x = 0
    prompts = [
        e.update for _, e in sent if isinstance(e, Send) and isinstance(e.update, SetPrompts)
    ]
    assert prompts and driver.instrument.perf.position[0] == 0.0
    texts = {w.text for w in prompts[-1].prompts}
    assert "Ambient pads, slow evolving synth textures" in texts
    glide = driver.run([(2.0, Change("space.x", 1.0, glide=1.0))])
    mixes = [e for _, e in glide if isinstance(e, Send) and isinstance(e.update, SetPrompts)]
    assert len(mixes) >= 5  # a glide is heard as many small steps, not one jump


def test_an_xy_pad_and_a_relative_encoder_move_the_position() -> None:
    """The example set's X/Y pad (CC 24/25, absolute) and encoder (CC 26, twos-complement)
    drive space.x and space.y like any other control."""
    driver = Driver(Instrument(load_mapping([mappings_dir() / "examples" / "space_set.toml"])))
    driver.replay()
    driver.run([(1.0, bytes([0xB0, 24, 0])), (1.0, bytes([0xB0, 25, 127]))])
    perf = driver.instrument.perf
    assert perf.position == [0.0, 1.0]
    assert perf.slots[2].weight == 1.0  # ambient, at (0.1, 0.9), is the nearest
    driver.run([(2.0, bytes([0xB0, 26, 127]))])  # one tick down: one step of 0.01
    assert perf.position[1] == pytest.approx(0.99)
    assert perf.slots[2].weight == 1.0


def test_a_reload_keeps_the_position_and_places_the_new_points() -> None:
    """Editing the file's points while playing: the position stays, the weights follow the
    new geometry at once."""
    text = (mappings_dir() / "examples" / "space_set.toml").read_text(encoding="utf-8")
    instrument = Instrument(loads(text, "set.toml"))
    instrument.apply(Change("space.x", 0.1), 0.0)
    instrument.apply(Change("space.y", 0.9), 0.0)
    assert instrument.perf.slots[2].weight == 1.0  # ambient at (0.1, 0.9)
    moved = text.replace("3 = [0.1, 0.9]     # ambient", "3 = [0.9, 0.1]     # ambient")
    instrument.reload(loads(moved, "set.toml"), 1.0)
    assert instrument.perf.position == [0.1, 0.9]
    assert instrument.perf.slots[2].weight == 0.0  # ambient moved away
    assert max(s.weight for s in instrument.perf.slots[:8]) == 1.0  # someone is nearest


# --- files and check --------------------------------------------------------------------
def test_the_example_space_set_passes_check() -> None:
    path = mappings_dir() / "examples" / "space_set.toml"
    assert check_files([path]) == []
    space = load_mapping([path]).performance.space
    assert space is not None and len(space.points) == 8 and space.dims == 2


def test_check_reports_bad_coordinates_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'use = "generic"\n'  # 1
        "[space]\n"  # 2
        "radius = 0.3\n"  # 3
        "[space.points]\n"  # 4
        "1 = [0.1, 0.2]\n"  # 5
        "2 = [0.5, 1.5]\n"  # 6
        "3 = [0.1, 0.2, 0.3]\n"  # 7
        "99 = [0.1, 0.2]\n"  # 8
        "[[scenes]]\n"  # 9
        'name = "x"\n'  # 10
        "position = [0.2]\n"  # 11
        "[[bind]]\n"  # 12
        "cc = 30\n"  # 13
        'target = "space.z"\n',  # 14
        encoding="utf-8",
    )
    lines = [str(p) for p in check_files([path])]
    assert (
        f"{path}:6: space.points.2: coordinates out of range (got [0.5, 1.5]; allowed 0..1 each)"
        in lines
    )
    assert any(line.startswith(f"{path}:7: space.points.3: must be a list of 2") for line in lines)
    assert any(
        line.startswith(f"{path}:8: space.points.99: keys are slot numbers") for line in lines
    )
    assert any(line.startswith(f"{path}:11: scenes[1].position:") for line in lines)
    assert any(
        line.startswith(f"{path}:14: bind[1].target: space.z needs a prompt space")
        for line in lines
    )


def test_a_scene_position_needs_a_space() -> None:
    try:
        loads('use = "generic"\n[[scenes]]\nname = "x"\nposition = [0.2, 0.3]\n', "t.toml")
    except Exception as exc:  # ConfigError: the message is what matters
        assert "t.toml:4: scenes[1].position: a scene position needs a [space]" in str(exc)
    else:
        raise AssertionError("a position without a space was accepted")
