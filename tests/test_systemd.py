"""systemd notify: datagrams reach a real unix socket; outside systemd nothing is sent."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from bridge.io.systemd import Notifier


def test_ready_and_watchdog_reach_the_notify_socket(tmp_path: Path) -> None:
    """READY=1 (with STATUS) and WATCHDOG=1 arrive as datagrams on NOTIFY_SOCKET."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(2)
        notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"})
        assert notifier.watchdog_interval == 5.0
        assert notifier.ready("streaming")
        assert server.recv(1024) == b"READY=1\nSTATUS=streaming"
        assert notifier.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"


def test_without_systemd_every_call_is_a_no_op() -> None:
    """With no NOTIFY_SOCKET the notifier reports False and raises nothing."""
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None


def test_service_show_renders_a_notify_unit(tmp_path: Path) -> None:
    """`promptbridge service show` prints a Type=notify unit running the given rig."""
    rig = tmp_path / "rig.toml"
    rig.write_text('engine = "synth"\n')
    out = subprocess.run(
        [sys.executable, "-m", "bridge", "service", "show", "--rig", str(rig)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Type=notify" in out
    assert "WatchdogSec=" in out
    assert f"run --rig {rig.resolve()}" in out


def test_service_install_writes_the_unit(tmp_path: Path) -> None:
    """`service install --unit-dir` writes promptbridge.service there."""
    rig = tmp_path / "rig.toml"
    rig.write_text("")
    units = tmp_path / "units"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "service",
            "install",
            "--rig",
            str(rig),
            "--unit-dir",
            str(units),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Restart=on-failure" in (units / "promptbridge.service").read_text()
