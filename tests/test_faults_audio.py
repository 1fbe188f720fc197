"""The audio server restarts under the running daemon: the output is reopened, the set goes on.

The daemon runs as a child process on a private JACK dummy server; the test stops that
jackd (as a crash or a ``systemctl restart`` would), starts it again under the same name,
and listens to the new server with a JACK client. Process, JACK and network I/O.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import JackRecorder, JackServer, _wait_accepting, start_jackd
from tests.daemon_helpers import Daemon, free_port, status, wait_status

pytestmark = [pytest.mark.jack, pytest.mark.slow]


def restart(server: JackServer) -> JackServer:
    """Start a jackd with the same name and settings as ``server`` (which has stopped)."""
    with open(server.log, "ab") as out:
        proc = subprocess.Popen(
            [
                "jackd",
                "--no-realtime",
                "-n",
                server.name,
                "-d",
                "dummy",
                "-r",
                str(server.rate),
                "-p",
                "256",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    again = JackServer(name=server.name, rate=server.rate, proc=proc, log=server.log)
    _wait_accepting(server.name, proc)
    return again


def listen(server: JackServer, seconds: float) -> np.ndarray:
    """Record what the daemon plays on ``server`` for ``seconds`` (a fresh JACK client)."""
    import jack

    client = jack.Client("pbfaults", servername=server.name, no_start_server=True)
    rec = JackRecorder(client=client, ports=[client.inports.register(f"in_{i}") for i in (1, 2)])
    client.set_process_callback(rec.process)
    client.activate()
    try:
        rec.connect("PortAudio")
        time.sleep(0.3)  # the connection settles
        # A server that has just restarted may take a moment to run its clients' cycles:
        # record only once this client's process callback is being called.
        deadline = time.monotonic() + 5.0
        while not len(rec.samples()) and time.monotonic() < deadline:
            time.sleep(0.05)
        rec.clear()
        time.sleep(seconds)
        return rec.samples()
    finally:
        rec.park.close(client)


def silent_windows(samples: np.ndarray, size: int = 2400) -> int:
    """How many 50 ms windows carry no sound at all."""
    mono = samples.mean(axis=1)
    n = len(mono) // size
    rms = np.sqrt((mono[: n * size].reshape(n, size) ** 2).mean(axis=1))
    return int((rms < 1e-4).sum())


def played(port: int) -> float:
    return float(status(port)["audio"]["played_seconds"])


def test_jackd_restart_reopens_the_output_and_the_set_continues(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """jackd stops under the daemon: it logs the loss once, keeps time without a device
    (played seconds go on), reopens the same output within a second of the server's
    return, plays continuous sound there again, and still exits 0 on SIGTERM, with no
    PortAudio abort (the device lives in a child process)."""
    server = start_jackd()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    port = free_port()
    args = ["run", "--engine", "synth", "--output", "system", "--latency", "low"]
    args += ["--chunk-seconds", "0.5", "--autoplay", "--no-virtual-port", "--midi-api", "jack"]
    args += ["--state-file", str(tmp_path / "state.json"), "--status", f"127.0.0.1:{port}"]
    daemon = Daemon(args)
    try:
        daemon.wait_for("audio flowing", timeout=30)
        before = listen(server, 1.5)
        assert np.sqrt((before**2).mean()) > 0.01, "no sound before the restart"

        mark = daemon.mark()
        server.stop()
        daemon.wait_for("audio output system lost", start=mark, timeout=5)
        snap = wait_status(port, lambda s: s["audio"]["output_lost"] is True, timeout=5)
        assert snap["audio"]["output_losses"] == 1
        t0 = played(port)
        time.sleep(1.5)
        assert played(port) - t0 > 1.2, "the set stopped while the device was gone"

        server = restart(server)
        started = time.monotonic()
        daemon.wait_for("audio output system reopened", start=mark, timeout=10)
        assert time.monotonic() - started < 2.0
        after = listen(server, 2.0)
        assert np.sqrt((after**2).mean()) > 0.01, "no sound after the restart"
        assert silent_windows(after) == 0, "a dropout after the output was reopened"
        snap = status(port)
        assert snap["audio"]["output_lost"] is False and snap["audio"]["output_losses"] == 1
        assert daemon.proc.poll() is None

        daemon.signal(signal.SIGTERM)
        code = daemon.proc.wait(timeout=10)
        assert code == 0, daemon.log()
        assert "Assertion" not in daemon.log() and "Traceback" not in daemon.log()
    finally:
        daemon.stop()
        server.stop()


def test_a_device_that_stops_pulling_audio_is_replaced(
    jack_server: JackServer, jack_recorder: JackRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The device process freezes (SIGSTOP: no frames pulled, no word said): the player's
    watchdog on the frame counter declares the output lost within ~2 s, kills it, opens
    the same output again, and the sine is heard there again."""
    import os

    from bridge.audio.player import Player
    from bridge.core.types import AudioChunk

    caplog.set_level("INFO")
    t = np.arange(48_000 * 8) / 48_000
    mono = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sine = np.stack([mono, mono], axis=1)
    player = Player(output="system", latency="low")
    player.start()
    try:
        frozen_pid = player.device_pid
        assert frozen_pid is not None
        fed = 0

        def feed_until(cond: Any, timeout: float) -> bool:
            nonlocal fed
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if cond():
                    return True
                if player.wants_more() and fed < len(sine):
                    player.feed(AudioChunk(sine[fed : fed + 4800]))
                    fed += 4800
                time.sleep(0.01)
            return False

        feed_until(lambda: False, 0.8)
        os.kill(frozen_pid, signal.SIGSTOP)
        assert feed_until(lambda: player.stats()["output_losses"] == 1, 5)
        assert feed_until(lambda: not player.stats()["output_lost"], 5)
        # the frozen process was killed and reaped, not left behind
        assert player.device_pid != frozen_pid
        with pytest.raises(ChildProcessError):
            os.waitpid(frozen_pid, os.WNOHANG)
        messages = [r.getMessage() for r in caplog.records]
        assert any("stopped pulling audio" in m for m in messages), messages
        assert any("reopened" in m for m in messages), messages
        jack_recorder.connect("PortAudio")
        jack_recorder.clear()
        feed_until(lambda: False, 1.0)
        heard = jack_recorder.samples()
        assert np.sqrt((heard[-24_000:] ** 2).mean()) > 0.1, "no sound from the new device"
    finally:
        player.close()
