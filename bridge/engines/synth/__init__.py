"""The embedded engine (``synth``): offline, CPU-only, deterministic music from prompts. No I/O.

``create(chunk_seconds=2.0, seed=None)`` returns a ``SynthEngine`` implementing
``bridge.engines.base.Engine``. See docs/engine.md for what every control does.
"""

from __future__ import annotations

from typing import Any

from bridge.engines.synth.engine import Synth, SynthEngine

__all__ = ["Synth", "SynthEngine", "create"]


def create(
    chunk_seconds: float = 2.0, seed: int | None = None, bar_resets: bool = False, **_: Any
) -> SynthEngine:
    """Build the embedded engine; other engines' options (url, key, ...) are ignored."""
    return SynthEngine(chunk_seconds=chunk_seconds, seed=seed, bar_resets=bar_resets)
