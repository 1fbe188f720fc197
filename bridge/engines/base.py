"""The engine interface: what the daemon drives, whatever makes the music. No I/O here.

An engine is started once, receives wire-level ``Update``s (prompts, whole config,
playback), and yields ``AudioChunk``s from ``chunks()``. The consumer pulls: an engine
must not run unboundedly ahead of the consumer (the player's backpressure relies on it).
``status()`` returns a JSON-able dict and never contains secrets; ``on_news`` registers
the callback an engine calls when ``status()`` has news the daemon acts on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

from bridge.core.types import AudioChunk, Update


@runtime_checkable
class Engine(Protocol):
    name: str

    async def start(self) -> None:
        """Open the session (or load the model). Raises a BridgeError on failure."""

    async def apply(self, update: Update) -> None:
        """Apply one update; never blocks for long (engines queue or apply in place)."""

    def chunks(self) -> AsyncIterator[AudioChunk]:
        """The continuous stream of audio. Ends only after ``close()``."""
        ...

    async def close(self) -> None:
        """Stop and release everything (a websocket engine closes with code 1000)."""

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot for logs and the status API. Never contains secrets."""
        ...

    def on_news(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) whenever ``status()`` holds news the daemon must
        act on: a prompt the model filtered. The daemon waits for it instead of polling."""
