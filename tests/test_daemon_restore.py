"""Start-up from the saved state: announced in one line, or ignored with ``--fresh``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bridge.audio.player import Player
from bridge.config import loads
from bridge.daemon import Daemon, Parts
from bridge.engines import create_engine
from bridge.rig import RigSettings
from bridge.state import save_snapshot

PERFORMANCE = """
[[slots]]
text = "minimal techno"
weight = 1.0
[[slots]]
text = "dub chords"

[[scenes]]
name = "drop"
weights = { 2 = 1.5 }
"""


async def _start_and_stop(daemon: Daemon) -> int:
    """Run the daemon until its engine is up and the state was read, then stop it."""
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.started.wait(), 10)
    daemon.stop()
    return await task


def _daemon(state: Path, fresh: bool) -> Daemon:
    parts = Parts(engine=create_engine("synth", chunk_seconds=0.25), player=Player(output="none"))
    return Daemon(RigSettings(), loads(PERFORMANCE, "set"), parts, state_path=state, fresh=fresh)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    save_snapshot(
        path,
        {
            "slots": [{"slot": 1, "weight": 0.5}, {"slot": 2, "weight": 1.5}],
            "config": {"bpm": 97},
            "scene": "drop",
            "playback": "paused",
        },
    )
    return path


def test_restored_state_is_announced_in_one_line(
    saved: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "promptbridge")
    daemon = _daemon(saved, fresh=False)
    assert asyncio.run(_start_and_stop(daemon)) == 0
    lines = [r.getMessage() for r in caplog.records if "restored from" in r.getMessage()]
    assert lines == [
        f"restored from {saved}: paused, 2 slots up (minimal techno 0.5, dub chords 1.5), "
        "bpm 97, scene 'drop'"
    ]
    assert daemon.perf.config.bpm == 97


def test_fresh_ignores_the_saved_state(saved: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "promptbridge")
    daemon = _daemon(saved, fresh=True)
    assert asyncio.run(_start_and_stop(daemon)) == 0
    assert daemon.perf.config.bpm is None and daemon.perf.get("slot.2.weight") == 0.0
    assert any("--fresh" in r.getMessage() for r in caplog.records)


def test_the_status_says_why_there_is_no_controller(saved: Path) -> None:
    """A rig with no controller configured says so (the page shows it, not an empty list)."""
    daemon = _daemon(saved, fresh=True)
    assert asyncio.run(_start_and_stop(daemon)) == 0
    snapshot = daemon.snapshot()
    assert snapshot["controllers"] == {}
    assert snapshot["controllers_reason"].startswith("no controller configured")
