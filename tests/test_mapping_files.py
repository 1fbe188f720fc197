"""Loading mapping files: the generic layout, shipped profiles, ``use`` and merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import check_files, default_mapping, load_mapping, loads, mappings_dir, shipped
from bridge.core.mapping import Binding, MappingSet, match_ports
from bridge.errors import ConfigError

REAL_CONTROLLERS = {
    "nanokontrol2",
    "midimix",
    "launchcontrol_xl",
    "apc_mini_mk2",
    "beatstep",
    "xtouch_mini",
}


def by_source(m: MappingSet, kind: str, number: int) -> Binding:
    [b] = [b for b in m.bindings if b.source.kind == kind and b.source.number == number]
    return b


def test_generic_layout_is_exactly_the_documented_one() -> None:
    """generic.toml: any port, channel 1, CC 0-15 weights 0-2 absolute, CC 16-22 controls,
    notes 36-42 transport and toggles, notes 44-51 scenes 1-8, 16 prompt texts."""
    m = default_mapping()
    [ctrl] = m.controllers
    assert (ctrl.port, ctrl.channel) == ("*", 0)
    assert len(m.performance.slots) == 16
    assert len({s.text for s in m.performance.slots}) == 16
    for n in range(16):
        b = by_source(m, "cc", n)
        assert (b.target, b.mode, b.source.channel) == (f"slot.{n + 1}.weight", "absolute", 0)
        assert (b.transform.out_lo, b.transform.out_hi) == (0.0, 2.0)
    ranges = {
        16: ("config.density", 0, 1),
        17: ("config.brightness", 0, 1),
        18: ("config.temperature", 0, 3),
        19: ("config.guidance", 0, 6),
        20: ("config.top_k", 1, 1000),
        21: ("config.bpm", 60, 200),
        22: ("master_volume", 0, 1),
    }
    for number, (target, lo, hi) in ranges.items():
        b = by_source(m, "cc", number)
        assert (b.target, b.transform.out_lo, b.transform.out_hi) == (target, lo, hi)
    notes = {
        36: ("playback", "trigger", "toggle"),
        37: ("playback", "trigger", "stop"),
        38: ("playback", "trigger", "reset"),
        39: ("config.mute_bass", "toggle", True),
        40: ("config.mute_drums", "toggle", True),
        41: ("config.only_bass_and_drums", "toggle", True),
        42: ("tap_tempo", "trigger", True),
    }
    for number, (target, mode, value) in notes.items():
        b = by_source(m, "note", number)
        assert (b.target, b.mode, b.value) == (target, mode, value)
    for k in range(8):
        b = by_source(m, "note", 44 + k)
        assert (b.target, b.value) == ("scene.recall", k + 1)
    assert len(m.performance.scenes) >= 8
    assert len(m.bindings) == 16 + 7 + 7 + 8


@pytest.mark.parametrize("name", sorted(REAL_CONTROLLERS | {"generic"}))
def test_every_shipped_profile_passes_check(name: str) -> None:
    """Each shipped profile is valid, names its controller and cites its source chart."""
    path = mappings_dir() / f"{name}.toml"
    assert check_files([path]) == []
    m = load_mapping([path])
    assert m.controllers and m.bindings and m.performance.slots
    if name != "generic":
        head = path.read_text(encoding="utf-8").split("[controller]")[0]
        assert "Written from" in head  # the maker's chart it follows


def test_shipped_profiles_live_in_the_package() -> None:
    """The profiles ship inside the package (so ``pip install .`` carries them) and the
    checkout's mappings/ points at the same files."""
    assert mappings_dir().parent.name == "data"
    assert REAL_CONTROLLERS | {"generic"} <= set(shipped())
    checkout = Path(__file__).parent.parent / "mappings"
    assert checkout.resolve() == mappings_dir().resolve()


def test_performance_uses_a_profile_and_overrides_by_source(tmp_path: Path) -> None:
    """A performance ``use``s a profile: it keeps the hardware, replaces slots by number,
    and a binding on the same control replaces the profile's binding."""
    perf = tmp_path / "set.toml"
    perf.write_text(
        'use = "nanokontrol2"\n'
        '[[slots]]\ntext = "my own prompt"\nweight = 0.5\n'
        '[[bind]]\ncontrol = "fader1"\nbank = 1\ntarget = "crossfader"\n',
        encoding="utf-8",
    )
    m = load_mapping([perf])
    assert [c.name for c in m.controllers] == ["nanoKONTROL2"]
    assert m.performance.slots[0].text == "my own prompt"
    assert m.performance.slots[1].text != "my own prompt"  # slot 2 from the profile
    fader1 = [b for b in m.bindings if b.label == "nanoKONTROL2 fader1"]
    assert sorted((b.bank or 0, b.target) for b in fader1) == [
        (1, "crossfader"),
        (2, "slot.9.weight"),
    ]
    assert m.files[-1] == perf.resolve()
    assert any(p.name == "nanokontrol2.toml" for p in m.files)


def test_binding_without_bank_replaces_the_profile_binding_in_every_bank() -> None:
    """A performance binding with no bank wins over the profile's bank 1 and bank 2 ones."""
    m = loads('use = "nanokontrol2"\n[[bind]]\ncontrol = "fader2"\ntarget = "crossfader"\n')
    fader2 = [b for b in m.bindings if b.label == "nanoKONTROL2 fader2"]
    assert [(b.bank, b.target) for b in fader2] == [(None, "crossfader")]


def test_example_performance_is_valid_and_merges_by_number() -> None:
    """The shipped example set passes check; its 4 scenes replace the profile's first 4,
    its 8 slots the profile's first 8, and its config overrides the defaults."""
    path = mappings_dir() / "examples" / "techno_set.toml"
    assert check_files([path]) == []
    m = load_mapping([path])
    profile = load_mapping(["nanokontrol2"])
    names = [s.name for s in m.performance.scenes]
    assert names[:4] == ["Warm-up", "Peak", "Breakdown", "Drop"]
    assert names[4:] == [s.name for s in profile.performance.scenes][4:]
    assert m.performance.slots[8:] == profile.performance.slots[8:]
    assert (m.performance.config.bpm, m.performance.config.density) == (130, None)


def test_two_controllers_in_one_set() -> None:
    """Several profiles load side by side; each binding belongs to its controller."""
    m = load_mapping(["nanokontrol2", "beatstep"])
    names = {b.controller for b in m.bindings}
    assert names == {"nanoKONTROL2", "BeatStep"}


def test_binding_lines_point_into_the_file() -> None:
    """Compiled bindings remember their file and line (for messages at run time)."""
    m = loads('[controller]\nname = "X"\n\n[[bind]]\ncc = 1\ntarget = "crossfader"\n', "x.toml")
    assert (m.bindings[0].file, m.bindings[0].line) == ("x.toml", 4)


def test_inline_source_needs_a_controller() -> None:
    """A binding with no controller anywhere in the set is an error, not a guess."""
    with pytest.raises(ConfigError, match="which controller"):
        loads('[[bind]]\ncc = 1\ntarget = "crossfader"\n')


@pytest.mark.parametrize(
    ("port", "regex", "index", "names", "expected"),
    [
        (
            "nanoKONTROL2",
            False,
            0,
            ["Midi Through:0", "nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0"],
            "nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0",
        ),
        ("*", False, 0, ["Midi Through Port-0", "Foo 20:0"], "Foo 20:0"),
        ("midi mix", False, 1, ["MIDI Mix 20:0", "MIDI Mix 24:0"], "MIDI Mix 24:0"),
        ("X", False, 0, ["X-TOUCH MINI", "X"], "X"),  # exact match first
        (
            "APC mini mk2.*Control",
            True,
            0,
            ["APC mini mk2 Notes", "APC mini mk2 Control"],
            "APC mini mk2 Control",
        ),
        ("nanoKONTROL2", False, 1, ["nanoKONTROL2 MIDI 1"], None),
    ],
)
def test_port_matching(
    port: str, regex: bool, index: int, names: list[str], expected: str | None
) -> None:
    """Case-insensitive substring or regex, exact first, index for twins, no Midi Through."""
    from bridge.core.mapping import ControllerSpec

    spec = ControllerSpec("c", port=port, regex=regex, index=index)
    assert match_ports(spec, names) == expected


def test_key_lines_cover_tables_arrays_inline_tables_and_skip_strings() -> None:
    """Line numbers are found for headers, dotted keys, elements of multi-line arrays of
    inline tables, and keys inside inline tables; multi-line strings are skipped."""
    from bridge.config.lines import key_lines, line_of

    text = (
        "a = 1\n"
        's = """\n[fake]\nx = 2\n"""\n'
        "[t]\n"
        "b.c = 3\n"
        "arr = [\n  { cc = 1, x = 2 },\n  { cc = 3 },\n]\n"
        "[[bind]]\ncc = 4\n"
        "[[bind]]\nq = { r = 1 }\n"
    )
    lines = key_lines(text)
    assert ("fake",) not in lines
    assert lines[("t", "b", "c")] == 7
    assert lines[("t", "arr", 1, "cc")] == 10
    assert lines[("bind", 1, "q", "r")] == 15
    assert line_of(lines, ("bind", 0, "nothing", "here")) == 12
