"""A streaming WSOLA time-stretcher for playout rates near 1 (pitch kept). Pure numpy, no I/O.

Chosen over Signalsmith Stretch (``python-stretch``) by measurement: see docs/playout.md
(same pitch accuracy at ±4 %, a third of the added latency, no aarch64 build problem,
bit-exact pass-through at exactly 1.0).

Theory of operation (Verhelst & Roelands' WSOLA, pulled one output hop at a time):

* Output is built from Hann-windowed input frames of ``WINDOW`` samples overlap-added
  every ``HOP`` (= WINDOW/2, where the windows sum to exactly 1).
* The nominal input position advances by ``HOP * speed`` per output hop (``speed`` < 1
  plays slower, > 1 faster). The frame actually taken is the one within ``TOLERANCE`` of
  it whose start best matches (normalised cross-correlation, on a mono mix decimated by
  ``DECIMATE`` then refined at full rate) the natural continuation of the previous frame,
  so every splice is waveform-aligned: no pitch change, no click.
* At exactly 1.0 with the continuation in reach, no search runs: the input comes out
  unchanged, delayed by ``latency`` frames.

``pull(out, frames, source)`` fills ``out`` from its queue of finished frames, asking
``source(buf, n) -> got`` for input as needed; it returns how many it could fill (fewer
when the input runs dry). ``held`` is the input it holds and has not played yet.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

WINDOW = 2048  # 43 ms at 48 kHz: longer than the lowest bass period we align
HOP = WINDOW // 2
TOLERANCE = 480  # ±10 ms of search: a period of 100 Hz; >= HOP * 4 % for the drift
DECIMATE = 4  # the coarse search runs at 12 kHz
REFINE = DECIMATE * 2  # ± frames searched at full rate around the coarse best

Source = Callable[[npt.NDArray[np.float32], int], int]
F32 = npt.NDArray[np.float32]


class Wsola:
    """One stereo stream; ``speed`` may change between calls."""

    def __init__(self) -> None:
        self.speed = 1.0
        self._win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float32)[
            :, None
        ]
        self._cap = WINDOW * 4 + 2 * TOLERANCE
        self._in = np.zeros((self._cap, 2), dtype=np.float32)
        self._acc = np.zeros((WINDOW, 2), dtype=np.float32)
        self._out = np.zeros((HOP * 16, 2), dtype=np.float32)
        self._target = np.zeros(HOP, dtype=np.float32)  # mono scratch for the search
        self._region = np.zeros(2 * TOLERANCE + HOP + 1, dtype=np.float32)
        self.reset()

    @property
    def latency(self) -> int:
        """Frames between an input frame and its output at speed 1.0."""
        return WINDOW - HOP

    @property
    def held(self) -> int:
        """Input frames taken from the source and not played yet (about: at speed 1.0)."""
        if not self._started:
            return self._len
        return max(0, self._len - self._prev - HOP + self._queued)

    def reset(self) -> None:
        """Forget everything (a flush): the next output starts from fresh input."""
        self._len = 0  # valid input frames in _in
        self._nominal = float(HOP)  # where the next frame should start, in _in
        self._prev = 0  # where the last frame started (its continuation: _prev + HOP)
        self._acc.fill(0.0)
        self._queued = 0  # finished output frames waiting in _out
        self._head = 0  # first unread frame of _out
        self._started = False

    def pull(self, out: F32, frames: int, source: Source) -> int:
        """Fill ``out[:frames]`` with stretched audio; returns how many frames it filled."""
        done = 0
        while done < frames:
            if self._queued == 0 and not self._step(source):
                break
            n = min(frames - done, self._queued)
            out[done : done + n] = self._out[self._head : self._head + n]
            self._head += n
            self._queued -= n
            done += n
        return done

    def can_make(self, frames: int, source_fill: int) -> bool:
        """Whether ``frames`` output frames can be made with ``source_fill`` more input."""
        hops = max(0, -(-(frames - self._queued) // HOP))
        if hops == 0:
            return True
        if not self._started:
            need = (hops - 1) * HOP + WINDOW
        elif self._exact():  # no search: only the next frames themselves are needed
            need = self._prev + hops * HOP + WINDOW
        else:
            last = self._nominal + (hops - 1) * HOP * self.speed
            need = max(round(last) + TOLERANCE, self._prev + hops * HOP) + WINDOW
        return need <= self._len + source_fill

    def _exact(self) -> bool:
        """At exactly 1.0 with the continuation in reach: the next frame follows on."""
        return self.speed == 1.0 and abs(round(self._nominal) - self._prev - HOP) <= TOLERANCE

    # --- one output hop ---------------------------------------------------------------
    def _step(self, source: Source) -> bool:
        """Overlap-add one more frame; False when the input ran dry (nothing consumed)."""
        follow = self._prev + HOP
        exact = self._exact()
        if not self._started:
            at = 0
        elif exact:
            at = follow
        else:
            at = -1
        lo = max(0, round(self._nominal) - TOLERANCE)
        need = (at if at >= 0 else max(round(self._nominal) + TOLERANCE, follow)) + WINDOW
        if not self._fill(need, source):
            return False
        if at < 0:
            at = self._search(lo, round(self._nominal) + TOLERANCE, follow)
        self._acc += self._in[at : at + WINDOW] * self._win
        if self._head:
            # keep unread output at the front (it is at most a hop)
            self._out[: self._queued] = self._out[self._head : self._head + self._queued]
            self._head = 0
        self._out[self._queued : self._queued + HOP] = self._acc[:HOP]
        self._queued += HOP
        self._acc[:HOP] = self._acc[HOP:]
        self._acc[HOP:] = 0.0
        self._prev = at
        self._nominal = (at if exact or not self._started else self._nominal) + HOP * self.speed
        self._started = True
        self._compact()
        return True

    def _fill(self, need: int, source: Source) -> bool:
        """Make ``_in`` hold ``need`` frames; False (and take nothing) if the source is short."""
        if need > self._cap:
            return False
        while self._len < need:
            got = source(self._in[self._len : need], need - self._len)
            if got <= 0:
                return False
            self._len += got
        return True

    def _search(self, lo: int, hi: int, follow: int) -> int:
        """The frame start in [lo, hi] whose opening best matches the continuation."""
        span = HOP  # compare the part that overlaps the previous frame's tail
        a_in, t_buf, r_buf = self._in, self._target, self._region
        target = np.add(a_in[follow : follow + span, 0], a_in[follow : follow + span, 1], out=t_buf)
        size = hi + span - lo
        region = np.add(a_in[lo : lo + size, 0], a_in[lo : lo + size, 1], out=r_buf[:size])
        coarse = _best(region[::DECIMATE], target[::DECIMATE]) * DECIMATE
        a = max(0, coarse - REFINE)
        b = min(hi - lo, coarse + REFINE)
        fine = _best(region[a : b + span], target)
        return lo + a + fine

    def _compact(self) -> None:
        """Drop input no future frame can start at (keeps ``_in`` small, no allocation)."""
        keep = min(self._prev + HOP, max(0, round(self._nominal) - TOLERANCE))
        if keep < WINDOW:
            return
        self._in[: self._len - keep] = self._in[keep : self._len]
        self._len -= keep
        self._prev -= keep
        self._nominal -= keep


def _best(region: npt.NDArray[np.float32], target: npt.NDArray[np.float32]) -> int:
    """Offset in ``region`` where ``target`` correlates best (normalised by energy).

    ``np.correlate`` directly: a few hundred lags of a few hundred samples cost less
    than FFTs (or a product over a strided view) would."""
    n = len(target)
    count = len(region) - n + 1
    if count <= 1:
        return 0
    corr = np.correlate(region, target, "valid")
    energy = np.cumsum(np.square(region, dtype=np.float64))
    # energy of region[j : j + n] for each lag j (the first lag has no predecessor)
    window = energy[n - 1 : n - 1 + count].copy()
    window[1:] -= energy[: count - 1]
    np.maximum(window, 1e-12, out=window)
    return int(np.argmax(corr / np.sqrt(window)))


class PassThrough:
    """``Wsola``'s interface with no stretching and no look-ahead: the input as it comes.

    For a playout that is never steered (limit 0): a local engine renders on demand, and
    the 21 ms a WSOLA window holds back would be a fifth of its knob-to-ear latency.
    """

    speed = 1.0
    held = 0
    latency = 0

    def reset(self) -> None:
        """Nothing is held, so nothing to forget."""

    def can_make(self, frames: int, source_fill: int) -> bool:
        return frames <= source_fill

    def pull(self, out: F32, frames: int, source: Source) -> int:
        return source(out[:frames], frames)
