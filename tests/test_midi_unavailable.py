"""No MIDI system running: advice instead of libjack's noise, in ``devices``, ``learn``, ``run``.

Real subprocesses with ``JACK_DEFAULT_SERVER`` naming a server that does not exist (and
no ALSA sequencer on these machines): libjack would print "Cannot connect to server
socket..." and "JackShmReadWritePtr::~..." on the C stderr; the commands must print only
their own one-line explanation of what was tried and what to start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bridge.io.cstderr import quiet_c_stderr

ROOT = Path(__file__).resolve().parents[1]
JACK_NOISE = ("Cannot connect", "JackShm", "jack server is not running", "ALSA lib")


def no_server_env() -> dict[str, str]:
    absent = f"pb-absent-{uuid.uuid4().hex[:8]}"
    return {**os.environ, "JACK_DEFAULT_SERVER": absent, "JACK_NO_START_SERVER": "1"}


def promptbridge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )  # fmt: skip


def assert_quiet(stderr: str) -> None:
    noise = [line for line in stderr.splitlines() if line.startswith(JACK_NOISE)]
    assert not noise, stderr


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="ALSA MIDI works here")
def test_devices_without_a_jack_server_gives_advice_and_no_jack_noise() -> None:
    """`devices` says once which MIDI systems it tried and what to start; stderr is empty."""
    env = no_server_env()
    res = promptbridge("devices", env=env)
    assert res.returncode == 0
    assert res.stderr == ""
    server = env["JACK_DEFAULT_SERVER"]
    assert res.stdout.splitlines()[:2] == [
        "MIDI inputs and outputs:",
        "  (unavailable: no MIDI system is available; tried "
        "ALSA: no sequencer device /dev/snd/seq (load it: sudo modprobe snd-seq); "
        f"JACK: no JACK server named {server!r} is running (start one with jackd or qjackctl, "
        "or install PipeWire's JACK support, pipewire-jack))",
    ]


def test_learn_without_a_jack_server_is_one_line_of_advice() -> None:
    """`learn --midi-api jack` with no server: exit 1 and one line, no libjack noise."""
    res = promptbridge("learn", "--detect", "--midi-api", "jack", env=no_server_env())
    assert res.returncode == 1
    assert_quiet(res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "promptbridge: no MIDI system is available; tried JACK: no JACK server named"
    ), res.stderr


def test_run_without_a_jack_server_logs_advice_and_no_jack_noise(tmp_path: Path) -> None:
    """`run` keeps playing without controllers; its log says why, libjack says nothing."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "run", "--engine", "synth", "--output", "none",
         "--state-file", str(tmp_path / "state.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env=no_server_env(),
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if "MIDI unavailable" in line or not line:
                break
        proc.send_signal(signal.SIGTERM)
        seen.append(proc.stderr.read())
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    stderr = "".join(seen)
    assert_quiet(stderr)
    advice = "MIDI unavailable, continuing without controllers: no MIDI system is available; "
    assert advice in stderr and "JACK: no JACK server named" in stderr, stderr


def test_quiet_c_stderr_drops_library_noise_and_keeps_the_rest(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """What is written on fd 2 inside the block: noise lines go, other lines stay, in order."""
    with quiet_c_stderr():
        os.write(2, b"Cannot connect to server socket err = No such file or directory\n")
        os.write(2, b"a warning that matters\n")
        os.write(2, b"JackShmReadWritePtr::~JackShmReadWritePtr - Init not done for -1\n")
        os.write(2, b"ALSA lib seq_hw.c:466:(snd_seq_hw_open) open /dev/snd/seq failed\n")
        os.write(2, b"and another\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "a warning that matters\nand another\nafter\n"
