"""The ring shared by the player's pump thread and the device child: layout, fence, wake-ups.

Does memory I/O only (an anonymous memfd mapped in both processes, an eventfd). One
writer (the pump) and one reader (the device callback), each advancing its own counter
after copying; a full fence orders the copy against the counter on weakly ordered CPUs.

Layout: ``HDR`` int64 counters, ``CTL`` float64 controls, then two stereo float32 rings:
``data`` (``FRAMES``: the stream, pump → child) and ``heard`` (``HEARD_FRAMES``: what the
child played, post-gain, child → pump, for the recording). Counters: ``WRITTEN``/``READ``
of ``data``, ``HEARD_W``/``HEARD_R`` of ``heard``, device ``XRUNS`` (blocks the device or
the pump was late for), ``GAPS`` (of those, blocks the pump left short: silence put into
the stream however much the player holds), device ``CALLBACKS``
(the watchdog's pulse: it ticks while paused too), ``FLUSH_REQ``/``FLUSH_DONE`` (the child
drops what is queued). Controls, written by the player and read by the child's output
stage every device block: ``GAIN``, ``PAUSED``, ``STEP`` (pause fade speed), ``QUEUE``
(the frames the pump keeps queued: the child wakes it below ``REFILL`` of that); ``ENV``
is the gain the child applies now. The child writes the eventfd after every device block,
so the pump sleeps until there is room instead of on a timer.
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

FRAMES = 8192  # frames in the stream ring
# The child wakes the pump only when the queue (``QUEUE``, the latency preset's) has
# drained below REFILL of it, so the pump tops it up in one go, not once per device block:
# with a 64 ms queue about 47 times a second (not 187 at 256 frames), and 43 ms stay
# queued for a late pump.
REFILL = 2 / 3
HEARD_FRAMES = 48_000  # frames in the heard ring: the pump may stall ~1 s without loss
HDR = 9  # int64 counters
CTL = 8  # float64 controls
WRITTEN, READ, XRUNS, CALLBACKS, FLUSH_REQ, FLUSH_DONE, HEARD_W, HEARD_R, GAPS = range(HDR)
GAIN, PAUSED, STEP, ENV, QUEUE = range(5)


class SharedRing:
    """The memfd, its views and the wake-up eventfd; ``fds`` are inherited by the child.

    Made with no arguments by the player (which owns both fds), and from the inherited
    fds by the child.
    """

    def __init__(self, fd: int | None = None, efd: int | None = None) -> None:
        owner = fd is None
        self.fd = os.memfd_create("promptbridge-audio") if fd is None else fd
        self.efd = os.eventfd(0, os.EFD_NONBLOCK) if efd is None else efd
        heard_at = (HDR + CTL) * 8 + FRAMES * 8
        size = heard_at + HEARD_FRAMES * 8
        if owner:
            os.ftruncate(self.fd, size)
        self._mm = mmap.mmap(self.fd, size)
        self.hdr: npt.NDArray[np.int64] = np.frombuffer(self._mm, dtype=np.int64, count=HDR)
        self.ctl: npt.NDArray[np.float64] = np.frombuffer(
            self._mm, dtype=np.float64, count=CTL, offset=HDR * 8
        )
        self.data: npt.NDArray[np.float32] = np.frombuffer(
            self._mm, dtype=np.float32, count=FRAMES * 2, offset=(HDR + CTL) * 8
        ).reshape(FRAMES, 2)
        self.heard: npt.NDArray[np.float32] = np.frombuffer(
            self._mm, dtype=np.float32, count=HEARD_FRAMES * 2, offset=heard_at
        ).reshape(HEARD_FRAMES, 2)

    @property
    def fds(self) -> tuple[int, int]:
        return self.fd, self.efd

    def reset(self) -> None:
        """Fresh rings for a fresh child (the controls stay)."""
        self.hdr[:] = 0
        self.ctl[ENV] = 0.0

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
        self.ctl = np.zeros(CTL, dtype=np.float64)
        self.data = np.zeros((0, 2), dtype=np.float32)
        self.heard = np.zeros((0, 2), dtype=np.float32)
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


def read_frames(
    ring: npt.NDArray[np.float32], pos: int, out: npt.NDArray[np.float32], n: int
) -> None:
    """Copy ``n`` frames from ``ring`` at ever-growing position ``pos`` into ``out[:n]``."""
    cap = ring.shape[0]
    start = pos % cap
    first = min(n, cap - start)
    out[:first] = ring[start : start + first]
    out[first:n] = ring[: n - first]


def write_frames(
    ring: npt.NDArray[np.float32], pos: int, frames: npt.NDArray[np.float32], n: int
) -> None:
    """Copy ``frames[:n]`` into ``ring`` at ever-growing position ``pos``."""
    cap = ring.shape[0]
    start = pos % cap
    first = min(n, cap - start)
    ring[start : start + first] = frames[:first]
    ring[: n - first] = frames[first:n]
