"""The tempo of the stream, measured while nobody said it: the loop length of concealment.

Starts worker threads (one at a time, one-shot) so the measurement runs off the asyncio
loop and off the audio thread; no other I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt


class TempoGuess:
    """Measures the tempo of the fed audio in a worker thread while no bpm is set.

    Every ``EVERY`` seconds of audio, the last ``SPAN`` seconds (mono, 12 kHz) go to
    ``bridge.analysis.tempo`` off the loop and off the audio thread; ``found(bpm)`` gets
    the result (the player makes it the loop length until ``set_bpm`` gives one).
    """

    EVERY = 8.0
    SPAN = 6.0
    DECIMATE = 4

    def __init__(self, found: Callable[[float | None], None]) -> None:
        self.bpm: float | None = None
        self._found = found
        self._parts: list[npt.NDArray[np.float32]] = []
        self._frames = 0
        self._busy = False

    def add(self, samples: npt.NDArray[np.float32], rate: int) -> None:
        self._parts.append(samples[:: self.DECIMATE].mean(axis=1))
        self._frames += len(samples)
        if self._frames < self.EVERY * rate or self._busy:
            return
        mono = np.concatenate(self._parts)[-round(self.SPAN * rate / self.DECIMATE) :]
        self._parts, self._frames, self._busy = [mono], 0, True
        args = (mono, rate // self.DECIMATE)
        threading.Thread(target=self._measure, args=args, name="tempo", daemon=True).start()

    def _measure(self, mono: npt.NDArray[np.float32], rate: int) -> None:
        from bridge.analysis import tempo

        try:
            bpm = tempo(mono, rate)
            self.bpm = bpm if 40.0 <= bpm <= 240.0 else None
            self._found(self.bpm)
        finally:
            self._busy = False
