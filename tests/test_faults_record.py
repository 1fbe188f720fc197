"""The disk fills while the daemon records: the recording stops with one clear line, the
playback goes on, the WAV holds what reached the disk. Process and file I/O.

A real write error without filling a real disk: the daemon child inherits a file-size
limit (RLIMIT_FSIZE), so its writes past the limit fail with EFBIG, through the same
code path as ENOSPC (Python ignores SIGXFSZ, so the write returns an error rather than
killing the process). No sound card needed (``--output none`` plays at real time).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from tests.daemon_helpers import Daemon, free_port, status, wait_status

LIMIT = 300_000  # bytes a file of the daemon may grow to: ~1.5 s of 16-bit stereo 48 kHz
NO_JACK = {"JACK_NO_START_SERVER": "1", "JACK_DEFAULT_SERVER": "pb-no-such-server"}


def limited_daemon(args: list[str], limit: int) -> Daemon:
    """Start the daemon with a file-size limit (set around the fork, then restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        return Daemon(args, env=NO_JACK)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.slow
def test_disk_full_while_recording_stops_the_recording_not_the_playback(tmp_path: Path) -> None:
    """Recording hits the limit after ~1.5 s: exactly one ERROR line saying which file and
    why, the status shows the error, audio keeps being played at real time, the WAV file
    is valid and holds the audio written before the error, and SIGTERM still exits 0."""
    wav_path = tmp_path / "set.wav"
    port = free_port()
    args = ["run", "--engine", "synth", "--output", "none", "--latency", "low", "--autoplay"]
    args += ["--chunk-seconds", "0.5", "--midi-api", "jack", "--no-virtual-port"]
    args += ["--state-file", str(tmp_path / "state.json"), "--status", f"127.0.0.1:{port}"]
    args += ["--record", str(wav_path)]
    daemon = limited_daemon(args, LIMIT)
    try:
        daemon.wait_for("audio flowing", timeout=30)
        line = daemon.wait_for(r"ERROR.*recording to", timeout=15)
        assert str(wav_path) in line and "stopped after" in line, line
        assert "File too large" in line, line
        snap = wait_status(port, lambda s: s["audio"]["record_error"] is not None, timeout=5)
        assert "File too large" in snap["audio"]["record_error"]
        t0 = float(snap["audio"]["played_seconds"])
        time.sleep(2.0)
        later = status(port)
        assert later["audio"]["played_seconds"] - t0 > 1.7, "playback stopped with the disk"
        assert later["engine"]["state"] != "failed"
        assert later["performance"]["recording"] is False  # the page shows it stopped
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=10) == 0, daemon.log()
    finally:
        daemon.stop()
    log = daemon.log()
    errors = [ln for ln in log.splitlines() if " ERROR " in ln and "MIDI" not in ln]
    assert len(errors) == 1, errors
    assert "Traceback" not in log
    size = wav_path.stat().st_size
    assert 100_000 < size <= LIMIT
    with wave.open(str(wav_path)) as wav:
        assert wav.getframerate() == 48_000 and wav.getnchannels() == 2
        # the header counts what reached the disk (a block may be cut short by the limit)
        assert 44 + wav.getnframes() * 4 <= size
        assert wav.getnframes() * 4 > size - 44 - 48_000


def test_record_to_a_full_device_at_start_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """``--record /dev/full`` (ENOSPC on the first write): one ``promptbridge:`` line
    saying the disk is full, exit code 1, no traceback."""
    args = ["run", "--engine", "synth", "--output", "none", "--midi-api", "jack"]
    args += ["--state-file", str(tmp_path / "s.json"), "--record", "/dev/full"]
    out = subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **NO_JACK},
    )
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("promptbridge:")]
    assert out.returncode == 1, out.stdout + out.stderr
    assert len(lines) == 1 and "No space left on device" in lines[0], out.stderr
    assert "Traceback" not in out.stdout + out.stderr
