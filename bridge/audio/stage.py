"""The output stage: master gain, pause/stop fades and channel routing, per device block.

Pure: no I/O, no threads, no clock (numpy on preallocated arrays only, so it may run in a
real-time audio callback). It is the last thing the audio passes before the sound card,
so a volume knob is heard one device block after the change reaches it, not after the
jitter buffer.

Rules:
1. ``process(out, frames, source)`` asks ``source`` for ``frames`` stereo frames, applies
   the gain envelope and copies them to the mapped device outputs (1-based; silence on
   the others; one output = the mono sum).
2. The envelope moves linearly from where it is towards the wanted gain (``gain``, or 0
   while paused): a change set before a block starts at that block's first sample, and
   never jumps (no zipper noise, no click). Gain changes move by ``gain_step`` per sample
   (full scale in ``jitter.GAIN_SECONDS``); a pause or resume moves by its own fade
   ``step`` until the envelope arrives.
3. Paused and faded out, the stage *holds*: ``source`` is not called, so nothing buffered
   is consumed; resuming ramps up from silence on the very next sample of the buffer.
4. ``restart()`` drops the envelope to 0 (a device that reopens starts mid-signal: it
   fades in).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

MAX_BLOCK = 8192  # larger device blocks are split (no allocation per block)

Source = Callable[[npt.NDArray[np.float32], int], None]


class OutputStage:
    """Gain envelope + pause hold + routing for one output of ``width`` channels."""

    def __init__(
        self, channel_map: Sequence[int], width: int, gain: float, step: float, gain_step: float
    ) -> None:
        self.map = tuple(channel_map)
        self.width = width
        self.gain = gain
        self.step = step
        self.gain_step = gain_step
        self.paused = False
        self.env = 0.0
        self._fading = True  # the first fade-in uses the fade step
        self._buf = np.zeros((MAX_BLOCK, 2), dtype=np.float32)
        self._ramp = np.zeros(MAX_BLOCK, dtype=np.float32)
        self._idx = np.arange(1, MAX_BLOCK + 1, dtype=np.float32)

    def control(self, gain: float, paused: bool, step: float) -> None:
        """Set what the next block aims for (rule 2)."""
        if paused != self.paused:
            self._fading = True
        self.gain, self.paused, self.step = gain, paused, step

    @property
    def holding(self) -> bool:
        """Paused and silent: the buffer is kept, not played (rule 3)."""
        return self.paused and self.env == 0.0

    def restart(self, env: float = 0.0) -> None:
        """Go on from ``env`` (0: fade in from silence) from the next block on (rule 4)."""
        self.env = env
        self._fading = True

    def process(
        self, out: npt.NDArray[np.float32], frames: int, source: Source
    ) -> npt.NDArray[np.float32]:
        """Fill ``out[:frames]`` (``[frames, width]``); returns the stereo frames played.

        ``frames`` must be <= ``MAX_BLOCK`` (callers split larger blocks).
        """
        buf = self._buf[:frames]
        if self.holding:
            buf.fill(0.0)
        else:
            source(buf, frames)
            self._envelope(buf, frames)
        self._route(out[:frames], buf)
        return buf

    def _envelope(self, buf: npt.NDArray[np.float32], frames: int) -> None:
        target = 0.0 if self.paused else self.gain
        env = self.env
        if env == target:
            self._fading = False
            if env != 1.0:
                buf *= env
            return
        ramp = self._ramp[:frames]
        rising = target > env
        step = self.step if self._fading else self.gain_step
        np.multiply(self._idx[:frames], step if rising else -step, out=ramp)
        ramp += env
        if rising:
            np.minimum(ramp, target, out=ramp)
        else:
            np.maximum(ramp, target, out=ramp)
        buf *= ramp[:, None]
        end = float(ramp[-1])
        # float32 holds 0.8 as 0.80000001: arrived is arrived, else the ramp never ends
        if abs(end - target) < 1e-6:
            end, self._fading = target, False
        self.env = end

    def _route(self, out: npt.NDArray[np.float32], buf: npt.NDArray[np.float32]) -> None:
        if self.map == (1, 2) and self.width == 2:
            np.copyto(out, buf)
            return
        out.fill(0.0)
        if len(self.map) == 1:
            col = self.map[0] - 1
            np.add(buf[:, 0], buf[:, 1], out=out[:, col])
            out[:, col] *= 0.5
        else:
            out[:, self.map[0] - 1] = buf[:, 0]
            out[:, self.map[1] - 1] = buf[:, 1]
