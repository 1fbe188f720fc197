"""A tiny deterministic test engine (a fixture, not a product engine). No I/O.

It plays a sine whose frequency follows the first prompt's text (so a test can hear that a
prompt arrived) and whose amplitude follows the config's density; it keeps every update it
was given, and generates a chunk only when pulled, like the embedded engine.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from bridge.core.types import (
    AudioChunk,
    Control,
    Playback,
    SetConfig,
    SetPrompts,
    Update,
)

RATE = 48_000


def frequency_of(text: str) -> float:
    """A deterministic frequency in 220..880 Hz for a prompt text."""
    return 220.0 + zlib.crc32(text.encode()) % 660


class SineEngine:
    name = "sine"

    def __init__(self, chunk_seconds: float = 0.1, frequency: float = 440.0) -> None:
        self.frames = int(chunk_seconds * RATE)
        self.frequency = frequency
        self.amplitude = 0.5
        self.phase = 0.0
        self.applied: list[Update] = []
        self.started = False
        self.closed = asyncio.Event()

    async def start(self) -> None:
        self.started = True

    async def apply(self, update: Update) -> None:
        self.applied.append(update)
        if isinstance(update, SetPrompts) and update.prompts:
            self.frequency = frequency_of(update.prompts[0].text)
        elif isinstance(update, SetConfig) and update.config.density is not None:
            self.amplitude = 0.1 + 0.8 * update.config.density
        elif isinstance(update, Control) and update.action in (
            Playback.STOP,
            Playback.RESET_CONTEXT,
        ):
            self.phase = 0.0

    async def chunks(self) -> AsyncIterator[AudioChunk]:
        while not self.closed.is_set():
            yield self.render()
            await asyncio.sleep(0)

    def render(self) -> AudioChunk:
        step = 2 * np.pi * self.frequency / RATE
        phases = self.phase + step * np.arange(self.frames)
        self.phase = float((phases[-1] + step) % (2 * np.pi))
        mono = (self.amplitude * np.sin(phases)).astype(np.float32)
        return AudioChunk(np.stack([mono, mono], axis=1), RATE)

    async def close(self) -> None:
        self.closed.set()

    def on_news(self, callback: Callable[[], None]) -> None:
        """A sine filters nothing."""

    def status(self) -> dict[str, Any]:
        return {"engine": self.name, "frequency": self.frequency}


def create(**options: Any) -> SineEngine:
    return SineEngine(**options)
