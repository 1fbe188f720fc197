"""The rig file: validation messages name the file, line, key, bad value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.rig import RigSettings, load_rig, merge, parse_rig


def test_valid_rig_parses_every_field_type(tmp_path: Path) -> None:
    """A rig file with strings, lists, numbers and booleans loads into settings."""
    path = tmp_path / "rig.toml"
    path.write_text(
        '# my rig\nengine = "synth"\nmappings = ["nanokontrol2"]\nchannels = [3, 4]\n'
        'latency = "low"\nautoplay = true\nrotate_after = 30\n'
    )
    rig = load_rig(path)
    assert rig.engine == "synth"
    assert rig.mappings == ("nanokontrol2",)
    assert rig.channels == (3, 4)
    assert rig.latency == "low"
    assert rig.autoplay is True
    assert rig.rotate_after == 30


def test_unknown_key_gets_line_and_did_you_mean() -> None:
    """A misspelt key is reported with its line and the closest real key."""
    with pytest.raises(ConfigError) as info:
        parse_rig('engine = "synth"\n\nlatncy = "low"\n', "rig.toml")
    (problem,) = info.value.problems
    assert str(problem).startswith("rig.toml:3: latncy: unknown key")
    assert "did you mean 'latency'?" in str(problem)


def test_bad_values_are_all_reported_at_once() -> None:
    """Two bad values give two problems, each naming the bad value."""
    with pytest.raises(ConfigError) as info:
        parse_rig('engine = "magic"\ngain = 7\n', "rig.toml")
    lines = [str(p) for p in info.value.problems]
    assert len(lines) == 2
    assert lines[0] == (
        "rig.toml:1: engine: invalid value (got 'magic'; allowed: auto, synth, lyria, magenta)"
    )
    assert lines[1].startswith("rig.toml:2: gain:") and "7" in lines[1]


def test_toml_syntax_error_gives_line_and_column() -> None:
    """Broken TOML is one problem with the line and column."""
    with pytest.raises(ConfigError) as info:
        parse_rig('engine = "synth"\nlatency = \n', "rig.toml")
    text = str(info.value)
    assert text.startswith("rig.toml:2: TOML syntax error")
    assert "column" in text


def test_flags_win_over_the_file() -> None:
    """A flag given on the command line replaces the file's value; None leaves it."""
    rig = parse_rig('engine = "lyria"\noutput = "hw"\n')
    merged = merge(rig, {"engine": "synth", "output": None})
    assert merged.engine == "synth"
    assert merged.output == "hw"


def test_bad_flag_is_reported_as_its_option_name() -> None:
    """An invalid flag value names the option."""
    with pytest.raises(ConfigError, match="--latency"):
        merge(RigSettings(), {"latency": "instant"})


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    """A rig path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot read rig file"):
        load_rig(tmp_path / "nope.toml")


def test_a_misspelt_value_gets_a_did_you_mean() -> None:
    """A value close to an allowed one names it."""
    with pytest.raises(ConfigError, match="did you mean 'synth'"):
        parse_rig('engine = "synht"\n', "rig.toml")
