"""The daemon under systemd: READY once audio flows, watchdog pings, journald-style logs."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import time
from pathlib import Path

import pytest

from bridge.logs import configure
from tests.daemon_helpers import NO_JACK, Daemon, headless_run
from tests.fakekeys import fake_key


def test_ready_after_audio_and_watchdog_pings_from_the_loop(tmp_path: Path) -> None:
    """With NOTIFY_SOCKET and WATCHDOG_USEC set, the daemon sends READY=1 only after its
    first audio, then WATCHDOG=1 at half the watchdog interval, and STOPPING=1 at exit."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(20)
        daemon = Daemon(
            headless_run(tmp_path, "--log-level", "info"),
            env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", **NO_JACK},
        )
        try:
            messages: list[tuple[float, str]] = []
            deadline = time.monotonic() + 20
            while (
                time.monotonic() < deadline
                and sum(m.startswith("WATCHDOG") for _, m in messages) < 3
            ):
                messages.append((time.monotonic(), sock.recv(4096).decode()))
            ready = [m for _, m in messages if m.startswith("READY=1")]
            assert ready == ["READY=1\nSTATUS=streaming from synth"], messages
            assert "audio flowing" in daemon.log()
            ready_at = next(t for t, m in messages if m.startswith("READY=1"))
            pings = [t for t, m in messages if m == "WATCHDOG=1" and t > ready_at]
            assert len(pings) >= 2
            gaps = [b - a for a, b in itertools.pairwise(pings)]
            # every WATCHDOG_USEC/2 = 0.5 s; systemd would act only after a full 1 s
            assert max(gaps) < 1.0, gaps
            daemon.stop()
            assert sock.recv(4096).decode().startswith(("WATCHDOG", "STOPPING"))
        finally:
            daemon.stop()


def test_journald_lines_carry_priority_and_no_timestamp(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under journald (JOURNAL_STREAM set) a line is '<prio>logger: message'."""
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    configure("info")
    logging.getLogger("promptbridge.test").warning("buffer low")
    logging.getLogger("promptbridge.test").info("hello")
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == ["<4>promptbridge.test: buffer low", "<6>promptbridge.test: hello"]


def test_json_log_format_is_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    """--log-format json: each line is a JSON object with level, logger and message."""
    configure("info", fmt="json")
    logging.getLogger("promptbridge.test").error(
        f"{fake_key('SyD-secret-looking-key-1234567890abc')} leaked?"
    )
    record = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert record["level"] == "error" and record["logger"] == "promptbridge.test"
    assert "AIza" not in record["msg"] and "***" in record["msg"]
