"""The WAV recorder: valid after SIGKILL, float and int formats, real write errors."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.audio.recorder import RecorderError, WavRecorder


def read_wav(path: Path) -> tuple[int, int, int, np.ndarray]:
    """A strict little WAV reader: (format tag, rate, channels, samples as float)."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    riff_size = struct.unpack("<I", raw[4:8])[0]
    assert riff_size + 8 <= len(raw)
    pos, fmt, data = 12, None, None
    while pos + 8 <= riff_size + 8:
        tag, size = struct.unpack("<4sI", raw[pos : pos + 8])
        body = raw[pos + 8 : pos + 8 + size]
        assert len(body) == size, f"chunk {tag!r} is truncated"
        if tag == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif tag == b"data":
            data = body
        pos += 8 + size
    assert fmt is not None and data is not None
    tag, channels, rate, _, block, _bits = fmt
    assert len(data) % block == 0
    dtype = "<i2" if tag == 1 else "<f4"
    samples = np.frombuffer(data, dtype=dtype).reshape(-1, channels).astype(np.float64)
    if tag == 1:
        samples /= 32767
    return tag, rate, channels, samples


def ramp(n: int, start: int = 0) -> np.ndarray:
    x = ((np.arange(start, start + n) % 1000) / 1000).astype(np.float32)
    return np.stack([x, -x], axis=1)


@pytest.mark.parametrize("fmt", ["int16", "float32"])
def test_every_write_leaves_a_valid_file(tmp_path: Path, fmt: str) -> None:
    """After each block the file on disk is complete and holds every frame so far."""
    path = tmp_path / "rec.wav"
    rec = WavRecorder(path, fmt=fmt)  # type: ignore[arg-type]
    for i in range(3):
        rec.write(ramp(4800, i * 4800))
        tag, rate, channels, samples = read_wav(path)  # read while still open
        assert (tag, rate, channels) == ((1 if fmt == "int16" else 3), 48_000, 2)
        assert len(samples) == 4800 * (i + 1)
    rec.close()
    tol = 1 / 32767 if fmt == "int16" else 1e-7
    assert np.max(np.abs(samples - ramp(14_400))) <= tol


def test_int16_file_reads_with_the_stdlib(tmp_path: Path) -> None:
    """Python's wave module reads the int16 file: 48 kHz stereo, all frames."""
    path = tmp_path / "rec.wav"
    rec = WavRecorder(path)
    rec.write(ramp(1000))
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (
            48_000,
            2,
            2,
            1000,
        )
    rec.close()


def test_valid_after_sigkill(tmp_path: Path) -> None:
    """A process killed with SIGKILL while recording leaves a valid file of what it wrote."""
    path = tmp_path / "killed.wav"
    progress = tmp_path / "progress"
    script = textwrap.dedent(
        f"""
        import numpy as np, time
        from bridge.audio.recorder import WavRecorder
        rec = WavRecorder({str(path)!r})
        block = np.full((480, 2), 0.25, dtype=np.float32)
        n = 0
        while True:
            rec.write(block)
            n += 1
            open({str(progress)!r}, "w").write(str(n))
            time.sleep(0.001)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = progress.read_text() if progress.exists() else ""
            if text.isdigit() and int(text) >= 50:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the child never wrote 50 blocks")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    _, _, _, samples = read_wav(path)
    assert len(samples) >= 50 * 480 and len(samples) % 480 == 0
    assert np.allclose(samples, 0.25, atol=1 / 32767)


def test_disk_full_is_one_clear_error() -> None:
    """/dev/full returns ENOSPC for real: a RecorderError naming the file and the cause."""
    with pytest.raises(RecorderError) as err:
        WavRecorder("/dev/full")
    text = str(err.value)
    assert "/dev/full" in text and "No space left on device" in text and "\n" not in text


def test_unwritable_path_is_one_clear_error(tmp_path: Path) -> None:
    """A directory that does not exist gives a clear error, not a traceback."""
    with pytest.raises(RecorderError, match=r"cannot record to .*No such file"):
        WavRecorder(tmp_path / "nope" / "x.wav")


def test_write_error_mid_recording_stops_recording_not_playback(tmp_path: Path) -> None:
    """A file-size limit hit mid-set (EFBIG, a real write error) stops the recording with
    a clear error; the headless player keeps playing, and the file stays valid."""
    path = tmp_path / "limited.wav"
    script = textwrap.dedent(
        f"""
        import resource, signal, time, json
        import numpy as np
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))
        from bridge.audio.player import Player
        from bridge.core.types import AudioChunk
        p = Player(output="none", latency="low")
        p.start()
        p.start_recording({str(path)!r})
        block = np.full((4800, 2), 0.1, dtype=np.float32)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:
            if p.wants_more():
                p.feed(AudioChunk(block))
            time.sleep(0.005)
        s = p.stats()
        p.close()
        print(json.dumps(s))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    import json

    stats = json.loads(out.stdout.strip().splitlines()[-1])
    assert stats["played_seconds"] > 1.2  # playback went on for the whole run
    assert stats["underruns"] == 0
    assert "recording to" in stats["record_error"] and "File too large" in stats["record_error"]
    assert "File too large" in out.stderr  # logged once, as an error
    _, _, _, samples = read_wav(path)
    assert 0 < len(samples) * 4 <= 64_000
