"""The player's side of the output: the device child, the pump thread, the headless clock.

Process, pipe and thread I/O. ``DeviceLink`` starts the device child
(``bridge.audio.child``) and runs the pump thread, which keeps ``queue`` seconds of
the stream queued in the shared ring (``Playout.content``), hands what the child played
back (``Playout.heard``) and sleeps until the child says it took a block (an eventfd).
The controls (gain, pause, fade speed) go to the child through the shared memory: its
output stage applies them at the next device block.

When the child reports its stream died, exits, or stops calling back for
``STALL_SECONDS``, the output is *lost*: the pump goes on at real time without a device
(``Playout.local``: the set continues, recording included) and starts a new child every
``REOPEN_EVERY`` s until the same output opens again; the new child fades in.
``ClockSink`` is ``--output none``: a thread that renders at real time into nowhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.audio import shm
from bridge.audio.devices import OutputDevice
from bridge.errors import DeviceError

log = logging.getLogger(__name__)

Render = Callable[[npt.NDArray[np.float32], int], None]


@dataclass(frozen=True, slots=True)
class Playout:
    """The player's side of the pump: what it calls, from the pump thread."""

    content: Render  # fill [frames, 2] with the stream (before the output stage)
    local: Render  # fill [frames, width]: the output stage run here (no device)
    heard: Callable[[npt.NDArray[np.float32]], None]  # stereo frames the device played
    lost: Callable[[float], None]  # the device went away at this output gain


NONE_BLOCK = 512  # block size of the clock without a device (~10.7 ms at 48 kHz)
PUMP_BLOCK = 256  # frames rendered per step by the pump thread
REOPEN_EVERY = 0.5  # seconds between attempts to reopen a lost output
CHILD_TIMEOUT = 15.0  # seconds a device child may take to answer
STALL_SECONDS = 2.0  # a device that pulls no frame for this long is lost
WATCH_EVERY = 0.25  # the pump wakes at least this often to run the stall watchdog


class DeviceChild:
    """One device process; a reader thread keeps its answers so nobody waits on the pipe."""

    def __init__(self, ring: shm.SharedRing, spec: str, channel_map: str, rate: int) -> None:
        argv = [*(str(fd) for fd in ring.fds), spec, channel_map, str(rate)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.audio.child", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # JACK prints a line per failed connect while polling
            pass_fds=ring.fds,
            text=True,
        )
        self.reply: dict[str, Any] | None = None
        self.ended = threading.Event()  # the stream died or the process is gone
        self.replied = threading.Event()
        threading.Thread(target=self._read, name="audio-child", daemon=True).start()

    @property
    def ok(self) -> bool:
        return "ok" in (self.reply or {}) and not self.ended.is_set()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if self.reply is None:
                    self.reply = message
                    self.replied.set()
                elif "lost" in message:
                    self.ended.set()
        self.proc.stdout.close()
        if self.reply is None:
            self.reply = {"error": f"audio process exited ({self.proc.wait()})"}
            self.replied.set()
        self.ended.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask for a clean close; kill it when the server is gone and close hangs."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.ended.wait(2)  # the reader closes stdout at EOF
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


class RealTimeClock:
    """Deadlines every ``period`` seconds; does not race to catch up after a suspend."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.deadline = time.monotonic()

    def delay(self) -> float:
        """Seconds to wait before the next block (0 when late)."""
        self.deadline += self.period
        delay = self.deadline - time.monotonic()
        if delay < -1.0:  # suspended for a long time: do not race to catch up
            self.deadline = time.monotonic()
        return max(0.0, delay)


class ClockSink:
    """``--output none``: a thread that renders blocks at real time into nowhere."""

    def __init__(self, render: Render, rate: int) -> None:
        self._render = render
        self._rate = rate
        self._stop = threading.Event()
        self._out = np.zeros((NONE_BLOCK, 2), dtype=np.float32)
        self._thread = threading.Thread(target=self._run, name="clock-sink", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        clock = RealTimeClock(NONE_BLOCK / self._rate)
        while not self._stop.is_set():
            self._render(self._out, NONE_BLOCK)
            self._stop.wait(clock.delay())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class DeviceLink:
    """The shared ring, the device child, the pump thread and the reopening."""

    def __init__(
        self, playout: Playout, spec: str, channel_map: tuple[int, ...], queue: float
    ) -> None:
        self._playout = playout
        self._queue_seconds = queue
        self._queue = 0  # frames, set at the device's rate by open()
        self._spec = spec
        self._map = ",".join(str(c) for c in channel_map)
        self._ring = shm.SharedRing()
        self._scratch = np.zeros((NONE_BLOCK, max(channel_map)), dtype=np.float32)
        self._heard = np.zeros((shm.FRAMES, 2), dtype=np.float32)
        self._fence = shm.fence_factory()  # used by the pump thread only
        self._child: DeviceChild | None = None
        self._rate = 0
        self.latency = 0.0
        self._xruns_before = 0  # xruns counted by children that are gone
        self._gaps_before = 0  # and gaps
        self._progress = (0, time.monotonic())  # (device blocks the child had played, when)
        self.lost = False
        self.losses = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audio-pump", daemon=True)

    @property
    def xruns(self) -> int:
        return self._xruns_before + int(self._ring.hdr[shm.XRUNS])

    @property
    def gaps(self) -> int:
        """Device blocks the pump left short (of ``xruns``)."""
        return self._gaps_before + int(self._ring.hdr[shm.GAPS])

    @property
    def output_gain(self) -> float:
        """The gain the device applies now (its fades included)."""
        return float(self._ring.ctl[shm.ENV])

    def control(self, gain: float, paused: bool, step: float) -> None:
        """What the child's output stage aims for from its next device block."""
        ctl = self._ring.ctl
        ctl[shm.STEP] = step
        ctl[shm.GAIN] = gain
        ctl[shm.PAUSED] = 1.0 if paused else 0.0

    def flush(self) -> None:
        """Have the child drop the stream frames queued for it."""
        self._ring.hdr[shm.FLUSH_REQ] += 1

    @property
    def queued(self) -> int:
        """Frames handed to the device child that it has not played yet."""
        hdr = self._ring.hdr
        return max(0, int(hdr[shm.WRITTEN]) - int(hdr[shm.READ]))

    @property
    def child_pid(self) -> int | None:
        """The device process's pid (None while the output is lost)."""
        child = self._child
        return None if child is None else child.proc.pid

    def open(self) -> tuple[int, OutputDevice]:
        """Start the first child and wait for it: (rate, device) or DeviceError."""
        child = self._spawn(0)
        if not child.replied.wait(CHILD_TIMEOUT):
            child.stop(0.1)
            raise DeviceError(f"audio output {self._spec!r} did not open within {CHILD_TIMEOUT} s")
        reply = child.reply or {}
        if "ok" not in reply:
            child.stop(0.5)
            raise DeviceError(str(reply.get("error", "audio output failed to open")))
        self._child = child
        self._progress = (0, time.monotonic())
        self._rate = int(reply["rate"])
        frames = round(self._queue_seconds * self._rate)
        self._queue = min(max(frames, 2 * PUMP_BLOCK), shm.FRAMES - PUMP_BLOCK)
        self._ring.ctl[shm.QUEUE] = self._queue
        self.latency = float(reply.get("latency") or 0.0)  # the device's, as it reports it
        return self._rate, OutputDevice(**reply["ok"])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._ring.signal()
        self._thread.join(timeout=2)
        if self._child is not None:
            self._child.stop()
            self._child = None
        self._ring.close()

    def _spawn(self, rate: int) -> DeviceChild:
        self._ring.reset()
        return DeviceChild(self._ring, self._spec, self._map, rate)

    # --- the pump thread ------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            child = self._child
            if child is not None and not child.ended.is_set():
                self._pump()
            else:
                self._without_device(child)

    def _pump(self) -> None:
        """Keep ``queue`` frames queued for the child; it plays them at device time."""
        hdr = self._ring.hdr
        self._drain_heard()
        written, read = int(hdr[shm.WRITTEN]), int(hdr[shm.READ])
        self._watch(int(hdr[shm.CALLBACKS]))
        if written - read >= self._queue:
            self._ring.wait(WATCH_EVERY)  # until the device took a block
            return
        start = written % shm.FRAMES
        n = min(PUMP_BLOCK, shm.FRAMES - start)
        self._playout.content(self._ring.data[start : start + n], n)
        self._fence()  # the frames must be visible to the child before the counter
        hdr[shm.WRITTEN] = written + n  # published after the copy: the child never reads ahead

    def _drain_heard(self) -> None:
        """Hand what the child played to the player (the recording, the played counter)."""
        hdr = self._ring.hdr
        w, r = int(hdr[shm.HEARD_W]), int(hdr[shm.HEARD_R])
        self._fence()  # the frames only after the counter that published them
        while w > r:
            n = min(w - r, self._heard.shape[0])
            shm.read_frames(self._ring.heard, r, self._heard, n)
            self._playout.heard(self._heard[:n])
            r += n
        hdr[shm.HEARD_R] = r

    def _watch(self, blocks: int) -> None:
        """A device that stops calling back (but never says so) counts as lost too."""
        now = time.monotonic()
        if blocks != self._progress[0]:
            self._progress = (blocks, now)
        elif now - self._progress[1] > STALL_SECONDS and self._child is not None:
            log.warning("audio output %s stopped pulling audio", self._spec)
            self._child.ended.set()

    def _lose(self, dead: DeviceChild) -> None:
        self._xruns_before += int(self._ring.hdr[shm.XRUNS])
        self._gaps_before += int(self._ring.hdr[shm.GAPS])
        dead.stop(0.5)
        self._drain_heard()
        self._playout.lost(self.output_gain)
        self._child = None
        self.lost = True
        self.losses += 1
        log.warning(
            "audio output %s lost; playing on without it, reopening when it is back", self._spec
        )

    def _without_device(self, dead: DeviceChild | None) -> None:
        """The output is gone: play on at real time into nowhere; retry every 0.5 s."""
        if dead is not None:
            self._lose(dead)
        since = time.monotonic()
        clock = RealTimeClock(NONE_BLOCK / self._rate)
        trial: DeviceChild | None = None
        next_try = tried_at = since
        while not self._stop.is_set():
            now = time.monotonic()
            if trial is None and now >= next_try:
                trial, tried_at = self._spawn(self._rate), now
            if trial is not None and (trial.replied.is_set() or now - tried_at > CHILD_TIMEOUT):
                if trial.ok:
                    self._resume(trial, time.monotonic() - since)
                    return
                trial.stop(0.5)  # failed, or hung while the server is half up: kill it
                trial, next_try = None, time.monotonic() + REOPEN_EVERY
            self._playout.local(self._scratch, NONE_BLOCK)
            self._stop.wait(clock.delay())
        if trial is not None:  # closing while a reopen was under way
            trial.stop(0.5)

    def _resume(self, child: DeviceChild, gone: float) -> None:
        self._child = child
        self._progress = (0, time.monotonic())
        self.lost = False  # the new child's output stage fades in from silence
        log.info("audio output %s reopened after %.1f s", self._spec, gone)
