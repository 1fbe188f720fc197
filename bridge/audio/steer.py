"""Playout-rate steering: how fast to play the buffer so it neither runs dry nor grows.

Pure: no I/O, no clock (time is frames rendered). NetEQ's accelerate / preemptive expand
for music: a small continuous time-stretch (``bridge.audio.stretch``) steered by the
buffer level.

Rules:
1. The level is the *trough*: the lowest fill seen over the last ``TROUGH_SECONDS``.
   Delivery is bursty (Lyria sends ~2 s chunks); the trough is what an underrun is
   made of, and it does not jump up with each chunk.
2. Trough under the target: play slower, down to ``1 - limit`` (reached when the trough
   is at ``FULL_AT`` of the target). Over the high mark: play faster, up to
   ``1 + limit`` (reached at twice the high mark). In between: exactly 1.0.
3. The speed moves towards that goal by at most ``SLEW`` per second (no audible step)
   and lands exactly on 1.0 when the goal is 1.0.
"""

from __future__ import annotations

import numpy as np

STRETCH_LIMIT = 0.04  # default ±4 %: a 2 % slow-down is inaudible, silence is not
TROUGH_SECONDS = 4.0
BUCKET_SECONDS = 0.25
FULL_AT = 0.5
SLEW = 0.02  # per second: 0 → 4 % in 2 s


def goal(level: float, target: float, high: float, limit: float) -> float:
    """The speed rule 2 asks for, given the trough level, target and high mark (seconds)."""
    if level < target:
        return 1.0 - limit * min(1.0, (target - level) / (target * (1.0 - FULL_AT)))
    if level > high:
        return 1.0 + limit * min(1.0, (level - high) / high)
    return 1.0


def slew(speed: float, wanted: float, seconds: float) -> float:
    """Move ``speed`` towards ``wanted`` by at most ``SLEW * seconds`` (rule 3)."""
    most = SLEW * seconds
    if abs(wanted - speed) <= most:
        return wanted
    return speed + most if wanted > speed else speed - most


class Steering:
    """The trough tracker and the current speed, advanced once per rendered block."""

    def __init__(self, rate: int, limit: float = STRETCH_LIMIT) -> None:
        self.rate = rate
        self.limit = limit
        self.speed = 1.0
        self.low = 1.0  # range of speeds used so far (for the status)
        self.high = 1.0
        self.stretched = 0  # frames played at a speed other than 1.0
        self._bucket = round(BUCKET_SECONDS * rate)
        self._minima = np.full(round(TROUGH_SECONDS / BUCKET_SECONDS), np.inf)
        self._slot = 0
        self._into = 0  # frames into the current bucket

    def trough(self) -> float:
        """The lowest fill (frames) seen over the window (rule 1)."""
        return float(self._minima.min())

    def update(self, fill: int, frames: int, target: int, high: int) -> float:
        """Account for a block of ``frames`` rendered at buffer ``fill``; returns the
        speed for the next block. ``target`` and ``high`` are in frames."""
        self._into += frames
        if self._into >= self._bucket:
            self._into = 0
            self._slot = (self._slot + 1) % len(self._minima)
            self._minima[self._slot] = fill
        else:
            self._minima[self._slot] = min(self._minima[self._slot], fill)
        if self.speed != 1.0:
            self.stretched += frames
        if self.limit <= 0.0:
            return 1.0
        wanted = goal(self.trough(), max(target, 1), max(high, target, 1), self.limit)
        self.speed = slew(self.speed, wanted, frames / self.rate)
        self.low, self.high = min(self.low, self.speed), max(self.high, self.speed)
        return self.speed

    def reset(self) -> None:
        """Forget the trough (after a flush: the old level means nothing)."""
        self._minima.fill(np.inf)
