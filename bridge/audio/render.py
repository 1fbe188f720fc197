"""The real-time render state machine: what the buffered stream sounds like, block by block.

Pure: no I/O, no threads, no clock (numpy on mostly preallocated arrays; the frame
counter is its time). ``feed`` is called by one thread (the asyncio loop), ``render`` by
another (the pump); they share only the ``Ring`` and plain numbers, each written by one
side. Gain, pause and routing are the output stage's (``bridge.audio.stage``), after this.

The live stream is played through a time-stretcher (``stretch``) whose speed the
``steer`` rules set from the buffer level: slower when it runs low, faster when it
stays high, exactly 1.0 in between (with a limit of 0, no stretcher and no look-ahead). States:

* BUFFERING: silence until the buffer holds ``start_frames`` (the jitter target), then
  PLAYING, fading in from 0 over the fade. The steering sees no level meanwhile (nothing
  is played from the buffer, so it has no trough to steer by).
* PLAYING: the stretched stream. When it cannot make one more block plus a crossfade,
  an underrun is coming: count it, then LOOPING (concealment on and a loop fits the
  history) or FADING.
* LOOPING: the last bar of the stream, looped and ducked (``conceal``). As soon as the
  stream can make a block again (plus ``RESUME_SECONDS``): MERGING. After the longest
  concealment (``conceal_max``) has faded out: BUFFERING.
* MERGING: an equal-power crossfade from the loop back into the stream; then PLAYING.
* FADING: the last frames of the stream under a fade to 0 that ends within them (no
  cut, no click); then BUFFERING (the behaviour with concealment off). The stretcher's
  look-ahead (< 50 ms) is dropped there: after silence and a fade-in, nobody hears the
  skip, and the buffer reads empty as it is.

A ``flush`` request (STOP, context reset) drops everything unread at the next block and
goes BUFFERING (silence, never a loop).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bridge.audio import conceal, jitter, steer
from bridge.audio.ring import Ring
from bridge.audio.stage import MAX_BLOCK
from bridge.audio.stretch import PassThrough, Wsola

BUFFERING, PLAYING, LOOPING, MERGING, FADING = range(5)
RESUME_SECONDS = 0.02  # stream the loop waits for beyond one block and a crossfade
F32 = npt.NDArray[np.float32]


class Renderer:
    """The buffer, the stretcher, the looper and the content envelope."""

    def __init__(
        self,
        capacity: int,
        rate: int,
        fade: float,
        stretch_limit: float = steer.STRETCH_LIMIT,
        conceal_max: float | None = 20.0,
    ) -> None:
        self.ring = Ring(capacity)
        self.rate = rate
        self.state = BUFFERING
        self.env = 0.0
        self.underruns = 0
        self.start_frames = MAX_BLOCK
        self.target_frames = MAX_BLOCK  # the steering's target and high mark (loop side)
        self.high_frames = MAX_BLOCK
        self.bpm: float | None = None
        self.episodes = 0  # concealment episodes
        self.concealed = 0  # frames of loop played
        self.steering = steer.Steering(rate, stretch_limit)
        # never steered: no stretcher, so no look-ahead either
        self.stretch: Wsola | PassThrough = Wsola() if stretch_limit > 0 else PassThrough()
        self._loop = conceal.Looper(rate, conceal_max or 0.0, MAX_BLOCK)
        self._conceal = conceal_max is not None and conceal_max > 0
        self._xfade = self._loop.xfade
        self._resume = self._xfade + round(RESUME_SECONDS * rate)
        self._merged = 0
        self._step = jitter.fade_step(fade, rate)
        self._fade_step = 1.0
        self._flush = False
        self._block = 256  # the device's block, as last asked for (a typical one till then)
        self._scratch = np.zeros((MAX_BLOCK, 2), dtype=np.float32)
        self._ramp = np.zeros(MAX_BLOCK, dtype=np.float32)
        self._idx = np.arange(1, MAX_BLOCK + 1, dtype=np.float32)

    # --- the loop side ---------------------------------------------------------------
    def feed(self, samples: F32) -> int:
        """Queue stereo frames; returns how many fitted."""
        return self.ring.write(samples)

    @property
    def fill(self) -> int:
        """Frames buffered and not played yet (the stretcher's look-ahead included)."""
        return self.ring.fill + self.stretch.held

    @property
    def waiting(self) -> bool:
        """Buffering with too little to start the next device block: more must come
        whatever the high mark says. With a small preset the start may need more than
        the mark (a block, a crossfade and the resume margin): asking for no more there
        would wait forever."""
        return self.state == BUFFERING and not self._startable(self._block)

    @property
    def concealing(self) -> bool:
        return self.state in (LOOPING, MERGING)

    def flush(self) -> None:
        """Drop everything buffered, at the start of the next block."""
        self._flush = True

    # --- the audio thread ------------------------------------------------------------
    def render(self, buf: F32, frames: int) -> None:
        """Fill ``buf[:frames]`` (stereo, ``frames`` <= ``MAX_BLOCK``)."""
        if self._flush:
            self._drop()
        self._block = frames
        state = self.state
        if state == BUFFERING:
            self._buffering(buf, frames)
        elif state == PLAYING:
            self._playing(buf, frames)
        elif state in (LOOPING, MERGING):
            self._concealing(buf, frames)
        else:
            self._fading(buf, frames)
        self._envelope(buf, frames)
        if state != BUFFERING or self.state != BUFFERING:
            self._steer(frames)

    def _steer(self, frames: int) -> None:
        """Set the speed from the level of a buffer that is being played. A block of
        buffering silence consumed nothing: its level (the engine not started yet, a
        refill after a flush) is no trough, and counting it slowed the first seconds of
        every start by up to 4 % (the heard tempo with them)."""
        self.stretch.speed = self.steering.update(
            self.fill, frames, self.target_frames, self.high_frames
        )

    def _drop(self) -> None:
        self.ring.clear_reader()
        self.stretch.reset()
        self.steering.reset()
        self._flush = False
        if self.state != BUFFERING:
            self.state, self.env = BUFFERING, 0.0

    def _can(self, frames: int) -> bool:
        return self.stretch.can_make(frames, self.ring.fill)

    def _live(self, buf: F32, frames: int) -> int:
        """Pull stretched stream into ``buf[:frames]`` (zeros past what it had)."""
        got = self.stretch.pull(buf, frames, self.ring.read_into)
        buf[got:frames] = 0.0
        self._loop.remember(buf[:got])
        return got

    def _startable(self, frames: int) -> bool:
        """Enough buffered to start playing with a block of ``frames``."""
        if self.ring.fill < max(self.start_frames, frames + self._resume):
            return False
        return self._can(frames + self._xfade)

    def _buffering(self, buf: F32, frames: int) -> None:
        if not self._startable(frames):
            buf[:frames] = 0.0
            return
        self.state = PLAYING  # the envelope fades in from 0
        self._playing(buf, frames)

    def _playing(self, buf: F32, frames: int) -> None:
        if self._can(frames + self._xfade):
            self._live(buf, frames)
            return
        self.underruns += 1  # an underrun is coming: conceal it rather than cut
        length = conceal.bar_frames(self.bpm, self.rate, self._loop.history)
        if self._conceal and length > 0:
            tail = self._scratch[: self._xfade]
            tail[self.stretch.pull(tail, self._xfade, self.ring.read_into) :] = 0.0
            self._loop.begin(tail, length)
            self.state = LOOPING
            self.episodes += 1
            self._concealing(buf, frames)
            return
        self.state = FADING
        # fixed for the whole fade, so it ends within the crossfade's worth still there
        self._fade_step = max(self.env, 1e-6) / self._xfade
        self._fading(buf, frames)

    def _concealing(self, buf: F32, frames: int) -> None:
        self._loop.render(buf, frames)
        self.concealed += frames
        if self.state == LOOPING:
            if self._loop.finished:
                self._silent()  # the long outage faded out
                return
            if not self._can(frames + self._resume):
                return
            self.state, self._merged = MERGING, 0
        live = self._scratch[:frames]
        self._live(live, frames)
        self._loop.crossfade(buf, live, frames, self._merged)
        buf[:frames] = live
        self._merged += frames
        if self._merged >= self._xfade:
            self.state = PLAYING

    def _fading(self, buf: F32, frames: int) -> None:
        self._live(buf, frames)

    def _envelope(self, buf: F32, frames: int) -> None:
        """Multiply by a linear ramp from the current level towards the state's."""
        if self.state == FADING:
            target, step = 0.0, self._fade_step
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
        if self.state == FADING and env == 0.0:
            self._silent()

    def _silent(self) -> None:
        self.state, self.env = BUFFERING, 0.0
        self.stretch.reset()
