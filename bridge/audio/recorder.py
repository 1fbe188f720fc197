"""A WAV writer whose header is always current: the file is valid after SIGTERM or SIGKILL.

Does file I/O (and nothing else). Each ``write()`` appends the samples with one unbuffered
``write(2)`` and then rewrites the RIFF and data sizes, so whatever reached the kernel is
a complete, playable file: a kill between the two leaves a header that counts slightly
fewer bytes than the file holds, which every reader accepts.

Formats: ``int16`` (PCM, clipped to full scale) or ``float32`` (IEEE float, with the
``fact`` chunk the spec requires for non-PCM data). Any OSError (disk full, file too
large, I/O error) is turned into one clear ``RecorderError`` and the file is closed; the
player catches it and keeps playing.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from bridge.core.types import CHANNELS, SAMPLE_RATE
from bridge.errors import DeviceError

SampleFormat = Literal["int16", "float32"]
_PCM, _FLOAT = 1, 3


class RecorderError(DeviceError):
    """Recording failed (disk full, no permission, ...). Playback is not affected."""


def _header(fmt: SampleFormat, rate: int, channels: int, data_bytes: int) -> bytes:
    """RIFF/WAVE header for ``data_bytes`` of sample data (the data chunk header last)."""
    width = 2 if fmt == "int16" else 4
    block = channels * width
    if fmt == "int16":
        fmt_chunk = struct.pack(
            "<4sIHHIIHH", b"fmt ", 16, _PCM, channels, rate, rate * block, block, 16
        )
        extra = b""
    else:
        fmt_chunk = struct.pack(
            "<4sIHHIIHHH", b"fmt ", 18, _FLOAT, channels, rate, rate * block, block, 32, 0
        )
        extra = struct.pack("<4sII", b"fact", 4, data_bytes // block)
    riff_size = 4 + len(fmt_chunk) + len(extra) + 8 + data_bytes
    return (
        struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE")
        + fmt_chunk
        + extra
        + struct.pack("<4sI", b"data", data_bytes)
    )


class WavRecorder:
    """Append float32 ``[frames, channels]`` blocks to ``path`` as a WAV file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int = SAMPLE_RATE,
        channels: int = CHANNELS,
        fmt: SampleFormat = "int16",
    ) -> None:
        if fmt not in ("int16", "float32"):
            raise RecorderError(f"record format must be int16 or float32 (got {fmt!r})")
        self.path = Path(path)
        self.rate = rate
        self.channels = channels
        self.fmt: SampleFormat = fmt
        self.frames = 0
        self._data_bytes = 0
        self._width = 2 if fmt == "int16" else 4
        try:
            # buffering=0: every write is a syscall, so nothing waits in a user-space buffer
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 - kept open
        except OSError as exc:
            raise RecorderError(f"cannot record to {self.path}: {exc.strerror}") from None
        self._header_len = len(_header(fmt, rate, channels, 0))
        self._guard(lambda: self._file.write(_header(fmt, rate, channels, 0)))

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, samples: npt.NDArray[np.float32]) -> None:
        """Append samples (clipped to -1..1), then make the header count them."""
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise ValueError(f"samples must be [frames, {self.channels}] (got {samples.shape})")
        data = self._encode(samples)
        self._guard(lambda: self._append(data))
        self.frames += int(samples.shape[0])

    def _encode(self, samples: npt.NDArray[np.float32]) -> bytes:
        clipped = np.clip(samples, -1.0, 1.0)
        if self.fmt == "int16":
            return (clipped * 32767.0).round().astype("<i2").tobytes()
        return clipped.astype("<f4").tobytes()

    def _append(self, data: bytes) -> None:
        self._file.seek(self._header_len + self._data_bytes)
        self._write_all(data)
        self._data_bytes += len(data)
        # the header goes last: a kill in between leaves a valid (shorter) file
        self._file.seek(0)
        self._write_all(_header(self.fmt, self.rate, self.channels, self._data_bytes))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._file.write(view)
            if n is None or n <= 0:  # pragma: no cover - raw files raise instead
                raise OSError(5, "short write")
            view = view[n:]

    def _guard(self, action: Callable[[], object]) -> None:
        """Run a file action; any OSError closes the file and becomes a RecorderError."""
        try:
            action()
        except OSError as exc:
            self._file.close()
            reason = exc.strerror or str(exc)
            raise RecorderError(
                f"recording to {self.path} stopped after {self.frames / self.rate:.1f} s: {reason}"
            ) from None

    def close(self) -> None:
        """Close the file (the header is already current)."""
        if not self._file.closed:
            self._file.close()


Recorder = WavRecorder  # the name the daemon's glue uses
