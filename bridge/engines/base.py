"""The engine interface: what the daemon drives, whatever makes the music. No I/O here.

An engine is started once, receives wire-level ``Update``s (prompts, whole config,
playback), and yields ``AudioChunk``s from ``chunks()``. The consumer pulls: an engine
must not run unboundedly ahead of the consumer (the player's backpressure relies on it).
``status()`` returns a JSON-able dict and never contains secrets; ``on_news`` registers
the callback an engine calls when ``status()`` has news the daemon acts on. ``Supports``
says what an engine acts on (an engine module declares ``SUPPORTS``; ``FULL`` when it
does not).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bridge.core.types import CONFIG_SPECS, AudioChunk, Change, Update


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


@dataclass(frozen=True, slots=True)
class Supports:
    """What an engine acts on, so the core and ``check`` need not guess.

    ``controls``: the generation config fields (CONFIG_SPECS names) the engine honours.
    ``resets``: the fields whose change only takes effect with RESET_CONTEXT (the outbox
    sends one after them; an engine that ignores bpm and scale needs none).
    ``notes``/``drums``: it takes keys and pads (``notes``/``drums`` bindings) through
    ``apply_note`` (see ``NoteSink``).
    ``on_demand``: it renders faster than real time whenever asked (the embedded engine),
    so the daemon tops the player's buffer up at once and plays it unstretched: a slower
    playout would not raise the buffer (backpressure caps it), only lower the tempo heard.
    """

    controls: frozenset[str] = frozenset(CONFIG_SPECS)
    resets: frozenset[str] = frozenset({"bpm", "scale"})
    notes: bool = False
    drums: bool = False
    on_demand: bool = False


# The Lyria protocol's full set of controls: every engine that does not say otherwise.
FULL = Supports()


@runtime_checkable
class NoteSink(Protocol):
    """An engine that takes keys and pads: ``notes.on``/``notes.off``/``drums.hit`` Changes
    whose value is the MIDI note number. Never blocks (the engine queues them)."""

    def apply_note(self, change: Change) -> None: ...
