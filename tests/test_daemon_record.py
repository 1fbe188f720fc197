"""Recording started and stopped by a control (here: the status API) while the set plays."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np

from bridge.core.types import Change
from bridge.parts import recording_path
from tests.daemon_helpers import NO_JACK, Daemon, free_port, headless_run, status, wait_status


def test_record_control_writes_a_new_timestamped_wav(tmp_path: Path) -> None:
    """record=start opens a WAV in the XDG data dir, record=stop closes it with audio."""
    port = free_port()
    daemon = Daemon(
        headless_run(tmp_path, "--status", f"127.0.0.1:{port}"),
        env={"XDG_DATA_HOME": str(tmp_path / "data"), **NO_JACK},
    )
    try:
        daemon.wait_for("audio flowing", timeout=30)
        status(port, [Change("record", "start")])
        wait_status(port, lambda s: s["audio"]["recording"] is not None)
        time.sleep(1.5)
        status(port, [Change("record", "stop")])
        snap = wait_status(port, lambda s: s["audio"]["recording"] is None)
        assert snap["performance"]["recording"] is False
    finally:
        assert daemon.stop() == 0, daemon.log()
    (wav_path,) = (tmp_path / "data" / "promptbridge" / "recordings").glob("set-*.wav")
    with wave.open(str(wav_path)) as wav:
        frames = wav.getnframes()
        data = np.frombuffer(wav.readframes(frames), dtype=np.int16)
    assert frames > 48_000  # more than a second of what was played
    assert np.abs(data).max() > 300


def test_recording_path_sits_beside_the_configured_file(tmp_path: Path) -> None:
    """With --record set.wav, a control-started recording is set-<time>.wav beside it."""
    path = recording_path(str(tmp_path / "set.wav"), now=1_700_000_000.0)
    assert path.parent == tmp_path
    assert path.name.startswith("set-2023111") and path.suffix == ".wav"
