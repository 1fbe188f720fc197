"""A preallocated float32 ring buffer for one writer thread and one reader thread. No I/O.

The PortAudio callback reads from it without locks or allocation; the asyncio loop (or
a writer thread) writes. Positions are ever-growing frame counters; each side only
advances its own counter *after* copying, and CPython's GIL makes the int stores atomic,
so the reader never sees frames that are not written yet and the writer never overwrites
frames not read yet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class Ring:
    """``capacity`` frames of ``channels`` float32 samples."""

    def __init__(self, capacity: int, channels: int = 2) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0 frames (got {capacity})")
        self.capacity = capacity
        self.channels = channels
        self._data = np.zeros((capacity, channels), dtype=np.float32)
        self._written = 0  # total frames ever written (writer only)
        self._read = 0  # total frames ever read (reader only)

    @property
    def fill(self) -> int:
        """Frames written and not read yet."""
        return self._written - self._read

    @property
    def free(self) -> int:
        return self.capacity - self.fill

    def write(self, frames: npt.NDArray[np.float32]) -> int:
        """Copy as many frames as fit; returns how many were written."""
        n = min(int(frames.shape[0]), self.free)
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = frames[:first]
        if n > first:
            self._data[: n - first] = frames[first:n]
        self._written += n
        return n

    def read_into(self, out: npt.NDArray[np.float32], n: int) -> int:
        """Copy up to ``n`` frames into ``out[:n]``; returns how many were copied."""
        n = min(n, self.fill)
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        np.copyto(out[:first], self._data[start : start + first])
        if n > first:
            np.copyto(out[first:n], self._data[: n - first])
        self._read += n
        return n

    def clear_reader(self) -> None:
        """Drop everything unread (reader side only: a flush after stop)."""
        self._read = self._written
