"""Helpers for end-to-end tests: the real ``promptbridge`` as a child process. Process I/O.

``Daemon`` starts ``python -m bridge <args>`` with the test's JACK server in its
environment, collects its log lines in a thread, and can wait for a line, read the live
status snapshot over the status API, send signals, and stop it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from bridge.status.client import snapshots


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """A running ``promptbridge`` child process and its captured log."""

    def __init__(
        self, args: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None
    ) -> None:
        self.args = list(args)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20.0, start: int = 0) -> str:
        """The first log line (from index ``start``) matching ``pattern``; fail on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines[start:]:
                    if regex.search(line):
                        return line
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader collect the last lines
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) before {pattern!r}:\n{self.log()}"
                )
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout} s:\n{self.log()}")

    def mark(self) -> int:
        with self._lock:
            return len(self.lines)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return int(self.proc.returncode)


# A synth daemon with no sound card and no MIDI system (JACK is pointed at a server that
# does not exist): what the service, record and fault tests need around the daemon itself.
NO_JACK = {"JACK_NO_START_SERVER": "1", "JACK_DEFAULT_SERVER": "absent"}


def headless_run(state_dir: Any, *extra: str) -> list[str]:
    """``promptbridge run`` arguments for a headless synth daemon playing at once."""
    return [
        "run", "--engine", "synth", "--output", "none", "--midi-api", "jack",
        "--chunk-seconds", "0.25", "--latency", "low", "--autoplay",
        "--state-file", str(state_dir / "state.json"), *extra,
    ]  # fmt: skip


def status(port: int, changes: Sequence[Any] = (), timeout: float = 5.0) -> dict[str, Any]:
    """One snapshot from the daemon's status API (after sending ``changes``)."""

    async def first() -> dict[str, Any]:
        async for snap in snapshots("127.0.0.1", port, changes=changes, timeout=timeout):
            return snap
        raise AssertionError("no snapshot")

    return asyncio.run(first())


def poll_status(port: int, predicate: Any, timeout: float = 10.0) -> tuple[bool, dict[str, Any]]:
    """Poll the status API until ``predicate(snapshot)`` holds: (whether it did, the last)."""
    deadline = time.monotonic() + timeout
    snap: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            snap = status(port)
        except Exception:  # the daemon may still be starting its status server
            time.sleep(0.1)
            continue
        if predicate(snap):
            return True, snap
        time.sleep(0.1)
    return False, snap


def wait_status(port: int, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
    """Poll the status API until ``predicate(snapshot)`` holds; fail with the last one."""
    held, snap = poll_status(port, predicate, timeout)
    if not held:
        raise AssertionError(f"status never satisfied the condition; last: {snap}")
    return snap


def slot_weight(snap: dict[str, Any], number: int) -> float:
    return float(snap["performance"]["slots"][number - 1]["weight"])
