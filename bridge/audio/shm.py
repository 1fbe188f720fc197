"""The ring shared by the player's pump thread and the device child: layout, fence, wake-ups.

Does memory I/O only (an anonymous memfd mapped in both processes, an eventfd). One
writer (the pump) and one reader (the device callback), each advancing its own counter
after copying; a full fence orders the copy against the counter on weakly ordered CPUs.

Layout: ``HDR`` int64 counters (``WRITTEN``, ``READ``, ``XRUNS``, ``CALLBACKS``), then
``FRAMES`` x ``width`` float32 samples. The child writes the eventfd after every device
block, so the pump sleeps until there is room instead of on a timer.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import select
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FRAMES = 8192  # frames in the shared ring
HDR = 8  # int64 slots before the samples
WRITTEN, READ, XRUNS, CALLBACKS = 0, 1, 2, 3


class SharedRing:
    """The memfd, its views and the wake-up eventfd; ``fds`` are inherited by the child."""

    def __init__(self, width: int, fd: int | None = None, efd: int | None = None) -> None:
        self.width = width
        owner = fd is None
        self.fd = os.memfd_create("promptbridge-audio") if fd is None else fd
        self.efd = os.eventfd(0, os.EFD_NONBLOCK) if efd is None else efd
        size = HDR * 8 + FRAMES * width * 4
        if owner:
            os.ftruncate(self.fd, size)
        self._mm = mmap.mmap(self.fd, size)
        self.hdr: npt.NDArray[np.int64] = np.frombuffer(self._mm, dtype=np.int64, count=HDR)
        self.data: npt.NDArray[np.float32] = np.frombuffer(
            self._mm, dtype=np.float32, offset=HDR * 8
        ).reshape(FRAMES, width)

    @property
    def fds(self) -> tuple[int, int]:
        return self.fd, self.efd

    def reset(self) -> None:
        """A fresh ring for a fresh child."""
        self.hdr[:] = 0

    def signal(self) -> None:
        """Wake whoever waits in ``wait`` (the child after each block; ``close``)."""
        with contextlib.suppress(OSError):
            os.eventfd_write(self.efd, 1)

    def wait(self, timeout: float) -> None:
        """Sleep until ``signal`` (or ``timeout`` seconds: the watchdog must still run)."""
        ready, _, _ = select.select([self.efd], [], [], timeout)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(self.efd)

    def close(self) -> None:
        # drop the views first: an mmap with live numpy views cannot close
        self.hdr = np.zeros(HDR, dtype=np.int64)
        self.data = np.zeros((0, self.width), dtype=np.float32)
        with contextlib.suppress(OSError, BufferError):
            self._mm.close()
        for fd in (self.fd, self.efd):
            with contextlib.suppress(OSError):
                os.close(fd)


def fence_factory() -> Callable[[], None]:
    """A full memory barrier between the two processes sharing the ring (one per thread).

    x86 keeps stores in order, but ARM (the Raspberry Pi) may make the counter visible
    before the frames it covers. Python has no fence, but releasing then re-acquiring a
    private lock is a release (sem_post) followed by an acquire (sem_wait): no memory
    access moves across the pair. Held by one thread only, it never blocks (~0.1 µs).
    """
    lock = threading.Lock()
    lock.acquire()

    def fence() -> None:
        lock.release()
        lock.acquire()

    return fence
