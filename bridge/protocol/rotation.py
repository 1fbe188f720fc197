"""Session rotation and crossfade arithmetic. Pure: no I/O, time passed in as ``now``.

Google's service ends every session at about 600 s without warning, and a fresh session
needs seconds to its first audio. The engine therefore opens the next session *before* the
cap, lets it pre-roll, and crossfades from the old stream to the new one. This module
holds the arithmetic: when a rotation is due, how long a new start must wait (starts too
close together get filtered by the service), and the equal-power crossfade itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def rotation_due(started_at: float, now: float, rotate_after: float) -> bool:
    """True once a session has lived ``rotate_after`` seconds."""
    return now - started_at >= rotate_after


def stagger_wait(last_start: float | None, now: float, stagger: float) -> float:
    """Seconds to wait so that two session starts are at least ``stagger`` apart."""
    if last_start is None:
        return 0.0
    return max(0.0, last_start + stagger - now)


def stalled(last_chunk_at: float, now: float, watchdog: float) -> bool:
    """True when no chunk has arrived for ``watchdog`` seconds (while one was expected)."""
    return now - last_chunk_at >= watchdog


@dataclass
class Crossfade:
    """An equal-power crossfade over ``total`` frames, fed in pieces of any size.

    ``mix(old, new)`` takes equally long pieces of both streams and returns their blend; the
    gains follow cos/sin of a quarter turn, so uncorrelated streams keep constant power.
    """

    total: int
    position: int = 0

    @property
    def done(self) -> bool:
        return self.position >= self.total

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.position)

    def gains(self, frames: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Old and new gains for the next ``frames`` frames (past the end: 0 and 1)."""
        index = np.arange(self.position, self.position + frames, dtype=np.float64)
        theta = np.clip(index / max(1, self.total), 0.0, 1.0) * (np.pi / 2)
        return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)

    def mix(
        self, old: npt.NDArray[np.float32], new: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        if old.shape != new.shape:
            raise ValueError(f"crossfade pieces differ in shape: {old.shape} vs {new.shape}")
        g_old, g_new = self.gains(old.shape[0])
        self.position += old.shape[0]
        out: npt.NDArray[np.float32] = old * g_old[:, None] + new * g_new[:, None]
        return out
