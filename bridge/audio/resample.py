"""Sample-rate conversion of incoming chunks to the device rate (soxr). Pure computation.

Chunks at the engine rate (48 kHz) go through one streaming resampler, so the filter
state carries across chunk boundaries (no click at each chunk); a chunk at any other
rate is converted on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from bridge.core.types import SAMPLE_RATE


class Resampler:
    """Converts stereo float32 chunks to ``rate``."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._stream: Any = None
        if rate != SAMPLE_RATE:
            self._stream = soxr.ResampleStream(SAMPLE_RATE, rate, 2, dtype="float32")

    def convert(self, samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
        """``samples`` at ``rate`` → at the device rate (unchanged when they match)."""
        if rate == self.rate:
            return samples
        if rate == SAMPLE_RATE and self._stream is not None:
            out: npt.NDArray[np.float32] = self._stream.resample_chunk(samples)
            return out
        return np.asarray(soxr.resample(samples, rate, self.rate), dtype=np.float32)
