"""TOML nested thousands of levels deep: one ``FILE: ...`` problem, never a RecursionError.

``tomllib`` recurses once per nested array or inline table, and the schema, pydantic and
the problem renderer recurse over the parsed data: a file nested deeper than Python's
recursion limit used to print a traceback in ``check`` and escape the hot reload. Real
files in a temp directory, the real loaders and a real (never started) daemon.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from bridge.audio.player import Player
from bridge.cli import main
from bridge.config import load_mapping, mappings_dir
from bridge.config.reader import MAX_DEPTH, parse_toml
from bridge.daemon import Daemon, Parts
from bridge.engines import create_engine
from bridge.errors import ConfigError, Problem
from bridge.rig import RigSettings, load_rig

DEEP = {
    "arrays": "x = " + "[" * 2000 + "]" * 2000 + "\n",  # tomllib itself runs out of stack
    "inline tables": "x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n",
    # tomllib copes at 450; the schema's checks did not
    "arrays in a slot": '[[slots]]\ntext = "x"\nweight = ' + "[" * 450 + "]" * 450 + "\n",
}
# dotted keys: tomllib copes, pydantic's error rendering did not; read as a rig file
RIG_DEEP = "engine" + ".a" * 1200 + " = 1\n"
MESSAGE = f"nested too deeply (arrays and tables at most {MAX_DEPTH} levels deep)"


def check(path: Path) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", "--quiet", str(path)])
    return code, out.getvalue().splitlines(), err.getvalue()


@pytest.mark.parametrize("shape", [*DEEP, "rig"])
def test_check_reports_deep_nesting_on_one_line(tmp_path: Path, shape: str) -> None:
    """``promptbridge check`` exits 1 with one ``FILE...: nested too deeply`` line."""
    path = tmp_path / "deep.toml"
    path.write_text(DEEP.get(shape, RIG_DEEP))
    code, lines, err = check(path)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"{path}") and MESSAGE in lines[0], lines
    assert "Traceback" not in err and "RecursionError" not in err


def test_nesting_a_real_file_needs_is_accepted() -> None:
    """The limit is far above what a mapping needs: arrays of inline tables of arrays."""
    text = '[[bind]]\ncontrol = "k"\nvalues = [[1, 2], [3, 4]]\nx = {a = {b = 1}}\n'
    data = parse_toml(text, "f")
    assert isinstance(data, dict)
    exact = parse_toml("x = " + "[" * MAX_DEPTH + "]" * MAX_DEPTH, "f")
    assert isinstance(exact, dict)
    over = parse_toml("x = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "f")
    assert over == Problem("f", 1, "x", MESSAGE)


@pytest.mark.parametrize("shape", list(DEEP))
def test_load_mapping_raises_one_config_error(tmp_path: Path, shape: str) -> None:
    """The loader the daemon's reload uses: one ConfigError problem naming the file."""
    path = tmp_path / "deep.toml"
    path.write_text(DEEP[shape])
    with pytest.raises(ConfigError) as info:
        load_mapping([path])
    assert [p.message for p in info.value.problems] == [MESSAGE]
    assert info.value.problems[0].file == str(path)


def test_load_rig_raises_one_config_error(tmp_path: Path) -> None:
    """The rig loader (also read on reload) the same way, for both kinds of depth."""
    for text in (RIG_DEEP, DEEP["arrays"]):
        path = tmp_path / "rig.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_rig(path)
        assert str(info.value.problems[0]).startswith(f"{path}")
        assert [p.message for p in info.value.problems] == [MESSAGE]


def test_hot_reload_survives_a_deeply_nested_mapping_or_rig(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The running mapping (then the rig file) replaced by 2,000 nested arrays: reload
    fails with one log line naming the file and the old mapping keeps playing."""
    mapping, rig = tmp_path / "live.toml", tmp_path / "rig.toml"
    mapping.write_text((mappings_dir() / "generic.toml").read_text())
    rig.write_text('engine = "synth"\n')
    parts = Parts(engine=create_engine("synth"), player=Player(output="none"))
    daemon = Daemon(RigSettings(), load_mapping([mapping]), parts, rig_path=rig)
    old = daemon.mapping
    for path in (mapping, rig):
        original = path.read_text()
        path.write_text(DEEP["arrays"])
        caplog.clear()
        assert daemon.reload() is False and daemon.mapping is old
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and str(path) in errors[0] and MESSAGE in errors[0], errors
        path.write_text(original)
