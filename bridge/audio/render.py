"""The real-time render state machine: what the buffered stream sounds like, block by block.

Pure: no I/O, no threads, no clock (numpy on preallocated arrays; the frame counter is
its time). ``feed`` is called by one thread (the asyncio loop), ``render`` by another (the
pump); they share only the ``Ring`` and plain numbers, each written by one side.

States (a table, ``_NEXT``):

* BUFFERING: silence until the buffer holds ``start_frames`` (the jitter target), then
  PLAYING, fading in from 0 over the fade.
* PLAYING: read the buffer. When it holds less than one block plus the ``reserve``, an
  underrun is coming: count it and go CONCEALING.
* CONCEALING: play the reserve out under a fade to 0 that ends within it (no cut, no
  click), then BUFFERING again.

A ``flush`` request (STOP, context reset) drops everything unread at the next block.
Gain, pause and routing are the output stage's (``bridge.audio.stage``), after this.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bridge.audio import jitter
from bridge.audio.ring import Ring
from bridge.audio.stage import MAX_BLOCK

BUFFERING, PLAYING, CONCEALING = 0, 1, 2


class Renderer:
    """The buffer and its content envelope; ``render`` is the audio thread's one call."""

    def __init__(self, capacity: int, rate: int, fade: float) -> None:
        self.ring = Ring(capacity)
        self.rate = rate
        self.state = BUFFERING
        self.env = 0.0
        self.underruns = 0
        self.start_frames = MAX_BLOCK
        self._step = jitter.fade_step(fade, rate)
        self._reserve = jitter.reserve_frames(rate)
        self._conceal_step = 1.0
        self._flush = False
        self._ramp = np.zeros(MAX_BLOCK, dtype=np.float32)
        self._idx = np.arange(1, MAX_BLOCK + 1, dtype=np.float32)

    # --- the loop side ---------------------------------------------------------------
    def feed(self, samples: npt.NDArray[np.float32]) -> int:
        """Queue stereo frames; returns how many fitted."""
        return self.ring.write(samples)

    @property
    def fill(self) -> int:
        """Frames buffered and not played yet."""
        return self.ring.fill

    def flush(self) -> None:
        """Drop everything buffered, at the start of the next block."""
        self._flush = True

    # --- the audio thread ------------------------------------------------------------
    def render(self, buf: npt.NDArray[np.float32], frames: int) -> None:
        """Fill ``buf[:frames]`` (stereo, ``frames`` <= ``MAX_BLOCK``)."""
        if self._flush:
            self.ring.clear_reader()
            self._flush = False
        got = self._consume(buf, frames)
        buf[got:frames] = 0.0
        self._envelope(buf, frames)

    def _consume(self, buf: npt.NDArray[np.float32], frames: int) -> int:
        """Advance the state; returns the frames read into ``buf``."""
        ring = self.ring
        if self.state == BUFFERING:
            if ring.fill < max(self.start_frames, frames + self._reserve):
                return 0
            self.state = PLAYING  # the envelope fades in from 0
        if self.state == PLAYING:
            if ring.fill >= frames + self._reserve:
                return ring.read_into(buf, frames)
            # underrun coming: play the reserve out under a fade instead of cutting
            self.underruns += 1
            self.state = CONCEALING
            # fixed for the whole fade, so it ends within the reserve we still hold
            self._conceal_step = max(self.env, 1e-6) / self._reserve
        return ring.read_into(buf, frames)

    def _envelope(self, buf: npt.NDArray[np.float32], frames: int) -> None:
        """Multiply by a linear ramp from the current level towards the state's."""
        if self.state == CONCEALING:
            target, step = 0.0, self._conceal_step
        elif self.state == BUFFERING:
            target, step = 0.0, self._step
        else:
            target, step = 1.0, self._step
        env = self.env
        if env == target:
            if env != 1.0:
                buf[:frames] *= env
        else:
            ramp = self._ramp[:frames]
            np.multiply(self._idx[:frames], step if target > env else -step, out=ramp)
            ramp += env
            if target > env:
                np.minimum(ramp, target, out=ramp)
            else:
                np.maximum(ramp, target, out=ramp)
            buf[:frames] *= ramp[:, None]
            env = float(ramp[-1])
        self.env = env
        if self.state == CONCEALING and env == 0.0:
            self.state = BUFFERING
