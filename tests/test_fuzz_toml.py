"""Random mutations of the shipped profiles into ``check`` and into a running daemon's hot
reload (hypothesis): never a crash, never a traceback; a broken file is reported line by
line and the previous mapping keeps playing. Reads and writes files in a temp directory.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.audio.player import Player
from bridge.cli import main
from bridge.config import check_files, load_mapping, mappings_dir, shipped
from bridge.daemon import Daemon, Parts
from bridge.engines import create_engine
from bridge.rig import RigSettings

SOURCES = {
    name: (mappings_dir() / f"{name}.toml").read_text()
    for name in [*shipped(), "examples/techno_set"]
}
JUNK_VALUES = [
    "-1",
    "128",
    "1e309",
    "nan",
    '"x"',
    '""',
    "true",
    "[]",
    "{}",
    "[1, 2, 3]",
    '"slot.99.weight"',
    '"config.densty"',
    "0x7f",
    '"\\u0000"',
    "{ cc = 300 }",
    "2026-01-01",
]
JUNK_TEXT = ["[[bind]]", "[controller]", "=", '"', "[", "}", "\x00", "é", "\ufffd", "\n\n"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """(profile name, its text after 1-4 random edits: values, lines, junk, truncation)."""
    name = draw(st.sampled_from(sorted(SOURCES)))
    lines = SOURCES[name].splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "delete", "duplicate", "junk", "swap", "truncate"]))
        if op == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(JUNK_VALUES))}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "junk":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(JUNK_TEXT)) + lines[i][at:]
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            lines = lines[:i]
        if not lines:
            lines = [""]
    return name, "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(case=mutated())
def test_check_reports_one_line_per_problem_and_never_a_traceback(
    workdir: Path, case: tuple[str, str]
) -> None:
    """``promptbridge check`` on a mutated profile exits 0 (still valid) or 1, printing
    one ``FILE:...`` line per problem; nothing else, no traceback."""
    _, text = case
    path = workdir / "mutant.toml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", "--quiet", str(path)])
    lines = out.getvalue().splitlines()
    assert code == (1 if lines else 0), (code, lines, err.getvalue())
    for line in lines:
        assert line.startswith(f"{path}"), line
    assert "Traceback" not in out.getvalue() + err.getvalue()
    assert len(lines) == len(check_files([path]))


def _daemon(path: Path) -> Daemon:
    """A daemon (never started: reload needs no devices) whose mapping comes from ``path``."""
    parts = Parts(engine=create_engine("synth"), player=Player(output="none"))
    return Daemon(RigSettings(), load_mapping([path]), parts)


@FUZZ
@given(case=mutated())
def test_hot_reload_of_a_mutated_file_keeps_the_old_mapping_or_takes_a_valid_one(
    workdir: Path, case: tuple[str, str]
) -> None:
    """The running mapping's file replaced by a mutant: reload() never raises; when the
    file is broken the old mapping, mapper and performance stay in place, else the new
    mapping is what check would accept."""
    name, text = case
    path = workdir / "live.toml"
    path.write_text(SOURCES[name])
    daemon = _daemon(path)
    old_mapping, old_perf = daemon.mapping, daemon.perf
    before = daemon.perf.snapshot()
    path.write_text(text)
    valid = not check_files([path])
    assert daemon.reload() is valid
    if valid:
        assert daemon.mapping is not old_mapping
    else:
        assert daemon.mapping is old_mapping and daemon.perf is old_perf
        assert daemon.perf.snapshot() == before
        assert daemon.counters.reload_errors == 1


def test_reload_of_binary_garbage_or_an_empty_or_missing_file_keeps_the_old_mapping(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Random bytes, a zero-length file (a half-written save) and a deleted file: each is
    one clear ``reload failed`` line naming the file; the old mapping stays."""
    path = workdir / "garbage.toml"
    path.write_text(SOURCES["nanokontrol2"])
    daemon = _daemon(path)
    old = daemon.mapping
    for content in (bytes(range(256)) * 4, b"\xff\xfe\x00garbage", b""):
        path.write_bytes(content)
        caplog.clear()
        reloaded = daemon.reload()
        if content == b"":
            # an empty file is a valid (empty) performance: it may load, it must not crash
            assert reloaded in (True, False)
            path.write_text(SOURCES["nanokontrol2"])
            assert daemon.reload()
            old = daemon.mapping
            continue
        assert reloaded is False and daemon.mapping is old
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert errors and all(str(path) in e and "\n" not in e for e in errors), errors
    path.unlink()
    caplog.clear()
    assert daemon.reload() is False and daemon.mapping is old
    assert any("reload failed" in r.getMessage() for r in caplog.records)


def test_rig_file_replaced_by_binary_garbage_is_one_line_and_the_mapping_stays(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon's rig file overwritten with non-UTF-8 bytes: reload reports it on one
    line naming the file and keeps running with what it has."""
    rig = workdir / "rig.toml"
    rig.write_text('engine = "synth"\n')
    path = workdir / "with-rig.toml"
    path.write_text(SOURCES["generic"])
    parts = Parts(engine=create_engine("synth"), player=Player(output="none"))
    daemon = Daemon(RigSettings(), load_mapping([path]), parts, rig_path=rig)
    old = daemon.mapping
    rig.write_bytes(b"\x80\x81 engine = \xff")
    assert daemon.reload() is False and daemon.mapping is old
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and str(rig) in errors[0] and "UTF-8" in errors[0], errors
