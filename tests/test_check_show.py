"""``promptbridge check --show``: the merged set as run loads it, and one-pass checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config import check_files, load_mapping
from bridge.config.show import describe

EXAMPLE = Path(__file__).parent.parent / "mappings" / "examples" / "techno_set.toml"


def test_describe_lists_what_the_used_profile_added() -> None:
    """The performance's own slots, scenes, decks and config appear, and each binding
    names the file it came from (the profile's, or the performance's override)."""
    lines = describe(load_mapping([EXAMPLE]))
    text = "\n".join(lines)
    assert lines[0].startswith("set: Warehouse techno, two decks")
    assert "nanokontrol2.toml, techno_set.toml" in lines[0]
    assert "slots (16):" in text and "   5  weight 0 in 0..1.5" in text
    assert "   2  Peak: glide 4 s; weights 1=1.2 2=1 4=0.8 7=0.6" in text
    assert "crossfader decks: A = slots 1, 2, 3, 4; B = slots 5, 6, 7, 8" in text
    assert "config: guidance=4.5 bpm=130 scale=C_MAJOR_A_MINOR" in text
    knob5 = lines.index("  nanoKONTROL2 knob5 (cc 20 ch 1)")
    assert lines[knob5 + 1].startswith("      -> config.guidance absolute 2..6 pickup")
    assert lines[knob5 + 1].endswith("[techno_set.toml:87]")
    assert any(line.endswith("[nanokontrol2.toml:199]") for line in lines)


def test_check_show_prints_the_merged_set(capsys: pytest.CaptureFixture[str]) -> None:
    """`check --show FILE` exits 0 and prints the set, bindings grouped by control."""
    assert main(["check", "--show", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "bindings (53, by control):" in out
    assert "  nanoKONTROL2 fader1 (cc 0 ch 1)" in out


def test_check_show_of_a_rig_shows_its_mappings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rig file contributes the mappings it names, resolved as run resolves them."""
    rig = tmp_path / "rig.toml"
    rig.write_text(f'engine = "synth"\nmappings = ["{EXAMPLE}"]\n')
    assert main(["check", "--show", str(rig)]) == 0
    assert "set: Warehouse techno, two decks" in capsys.readouterr().out


def test_check_show_of_a_broken_file_prints_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--show on an invalid set prints its problems and exits 1."""
    bad = tmp_path / "bad.toml"
    bad.write_text('use = "nanokontrol2"\n[[bind]]\ncontrol = "knbo1"\ntarget = "crossfader"\n')
    assert main(["check", "--show", str(bad)]) == 1
    assert 'did you mean "knob1"?' in capsys.readouterr().out


def test_reported_key_is_not_judged_again(tmp_path: Path) -> None:
    """A bad channel on a named control is one problem, not a second one from the merge."""
    path = tmp_path / "ch.toml"
    path.write_text(
        'use = "nanokontrol2"\n[[bind]]\ncontrol = "knob1"\nchannel = 17\ntarget = "crossfader"\n'
    )
    problems = check_files([path])
    assert [(p.line, p.key) for p in problems] == [(4, "bind[1].channel")]


def test_scene_weight_outside_slot_range_in_merged_set(tmp_path: Path) -> None:
    """A scene weight is checked against the range of the slot it lands on, even when the
    slot comes from another file."""
    base = tmp_path / "base.toml"
    base.write_text('[[slots]]\ntext = "a"\nrange = [0, 1]\n')
    perf = tmp_path / "perf.toml"
    perf.write_text('use = "base.toml"\n[[scenes]]\nname = "x"\nweights = { 1 = 1.5 }\n')
    (problem,) = check_files([perf])
    assert str(problem) == (
        f"{perf}:4: scenes[1].weights.1: outside slot 1's range (got 1.5; allowed 0..1)"
    )


def test_broken_control_is_not_also_unknown(tmp_path: Path) -> None:
    """A named control with a bad source is one problem; the binding that uses it is not
    told the control is unknown (a false lead)."""
    path = tmp_path / "ctl.toml"
    path.write_text(
        '[controller]\nname = "X"\n[controls]\nknob1 = { cc = 200 }\n'
        '[[slots]]\ntext = "a"\n[[bind]]\ncontrol = "knob1"\ntarget = "slot.1.weight"\n'
    )
    assert [(p.line, p.key) for p in check_files([path])] == [(4, "controls.knob1.cc")]
