"""Saving and loading the performance snapshot: atomic writes, corrupt files (real files)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bridge.core.performance import Performance
from bridge.core.types import Change, PerformanceSpec, SlotSpec
from bridge.state import load_snapshot, save_snapshot

SPEC = PerformanceSpec(slots=(SlotSpec("techno", 1.0), SlotSpec("dub", 0.0)))


def test_save_then_load_restores_the_performance(tmp_path: Path) -> None:
    """A saved snapshot loads back and restores the same state into a fresh Performance."""
    perf = Performance(SPEC)
    perf.apply(Change("slot.2.weight", 0.75), 0.0)
    perf.apply(Change("config.bpm", 122), 0.0)
    perf.apply(Change("playback", "play"), 0.0)
    path = tmp_path / "sub" / "state.json"
    save_snapshot(path, perf.snapshot())
    loaded = load_snapshot(path)
    assert loaded is not None
    fresh = Performance(SPEC)
    assert fresh.restore(loaded) == []
    assert fresh.snapshot() == perf.snapshot()


def test_save_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """Saving over an old file replaces it whole; no temporary file is left behind."""
    path = tmp_path / "state.json"
    save_snapshot(path, {"n": 1})
    inode_before = path.stat().st_ino
    save_snapshot(path, {"n": 2})
    assert json.loads(path.read_text()) == {"n": 2}
    assert path.stat().st_ino != inode_before  # a new file was renamed over the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_save_keeps_the_old_file(tmp_path: Path) -> None:
    """A snapshot that cannot be written (NaN is not JSON) leaves the previous file intact."""
    path = tmp_path / "state.json"
    save_snapshot(path, {"n": 1})
    with pytest.raises(ValueError):
        save_snapshot(path, {"n": float("nan")})
    assert json.loads(path.read_text()) == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_write_error_removes_the_temp_file(tmp_path: Path) -> None:
    """If the rename fails (target is a directory), the temporary file is cleaned up."""
    path = tmp_path / "state.json"
    path.mkdir()
    (path / "x").write_text("keep me non-empty")
    with pytest.raises(OSError):
        save_snapshot(path, {"n": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_missing_file_means_fresh_start(tmp_path: Path) -> None:
    """No state file: None, nothing logged as a problem."""
    assert load_snapshot(tmp_path / "absent.json") is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"slots": [', "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b"", "not valid JSON"),
    ],
)
def test_corrupt_file_is_logged_set_aside_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, why: str
) -> None:
    """A corrupt state file: a warning, the file moved to .corrupt, and a fresh start."""
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="bridge.state"):
        assert load_snapshot(path) is None
    assert why in caplog.text and "starting fresh" in caplog.text
    assert not path.exists()
    assert (tmp_path / "state.json.corrupt").read_bytes() == content


def test_undecodable_file_is_a_fresh_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not UTF-8 are reported and ignored."""
    path = tmp_path / "state.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with caplog.at_level(logging.WARNING, logger="bridge.state"):
        assert load_snapshot(path) is None
    assert "unreadable" in caplog.text
