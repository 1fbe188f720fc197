"""The corpus of broken files pins the exact problem messages of ``promptbridge check``.

Each ``tests/data/broken/NAME.toml`` has a ``NAME.expected`` with the lines ``check``
must print for it (file names shown relative to the corpus directory). A problem needs
its file, line, key path, what was wrong, what was given and what is allowed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import check_files, load_mapping
from bridge.errors import ConfigError

BROKEN = Path(__file__).parent / "data" / "broken"
CASES = sorted(p.stem for p in BROKEN.glob("*.toml"))


def rendered(path: Path) -> list[str]:
    prefix = str(path.parent.resolve()) + "/"
    return [str(p).replace(prefix, "") for p in check_files([path.resolve()])]


@pytest.mark.parametrize("name", CASES)
def test_broken_file_messages(name: str) -> None:
    """check_files reports exactly the expected problems, in file order."""
    expected = (BROKEN / f"{name}.expected").read_text(encoding="utf-8").splitlines()
    assert rendered(BROKEN / f"{name}.toml") == expected


def test_every_case_has_expectations() -> None:
    """Every broken file has an .expected file with at least one problem line."""
    assert len(CASES) >= 10
    for name in CASES:
        assert (BROKEN / f"{name}.expected").read_text(encoding="utf-8").strip()


def test_load_mapping_raises_with_every_problem() -> None:
    """load_mapping raises one ConfigError carrying every problem of the file."""
    with pytest.raises(ConfigError) as info:
        load_mapping([BROKEN / "ranges.toml"])
    assert len(info.value.problems) == 6
    assert all(p.line is not None for p in info.value.problems)


def test_check_command_exit_codes_and_output() -> None:
    """``promptbridge check``: one line per problem on stdout, exit 1, no traceback;
    exit 0 for valid files."""
    bad = subprocess.run(
        [sys.executable, "-m", "bridge", "check", str(BROKEN / "unknown_keys.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert len(bad.stdout.splitlines()) == 4
    assert "Traceback" not in bad.stdout + bad.stderr
    good = subprocess.run(
        [sys.executable, "-m", "bridge", "check", "generic", "nanokontrol2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (good.returncode, good.stdout) == (0, "")


def test_check_command_checks_rig_files_and_missing_files(tmp_path: Path) -> None:
    """A file of rig settings is checked as a rig file; a missing file is one problem."""
    rig = tmp_path / "rig.toml"
    rig.write_text('engine = "synth"\nlatency = "fast"\n', encoding="utf-8")
    missing = tmp_path / "missing.toml"
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "check", str(rig), str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert len(lines) == 2
    assert lines[0].startswith(f"{rig}:2: latency: ")
    assert lines[1] == f"{missing}: cannot read {missing}: No such file or directory"
