"""The embedded engine (``synth``): offline, CPU-only, deterministic music from prompts. No I/O.

``create(chunk_seconds=0.05, seed=None, quantize="beat")`` returns a ``SynthEngine`` implementing
``bridge.engines.base.Engine``. See docs/engine.md for what every control does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bridge.engines.base import FULL
from bridge.engines.synth.engine import DEFAULT_CHUNK, Quantize, Synth, SynthEngine

__all__ = ["SUPPORTS", "Synth", "SynthEngine", "create"]

# Every control of the protocol; rendered on demand, so its playout is never stretched.
SUPPORTS = replace(FULL, on_demand=True)


def create(
    chunk_seconds: float = DEFAULT_CHUNK,
    seed: int | None = None,
    quantize: Quantize = "beat",
    **_: Any,
) -> SynthEngine:
    """Build the embedded engine; other engines' options (url, key, ...) are ignored."""
    return SynthEngine(chunk_seconds=chunk_seconds, seed=seed, quantize=quantize)
