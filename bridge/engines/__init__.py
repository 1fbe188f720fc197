"""Engines by name, imported lazily (like mido's backends): ``create_engine("synth")``.

Every engine implements ``bridge.engines.base.Engine``; the daemon never knows which
engine it drives.
"""

from __future__ import annotations

import importlib
from typing import Any

from bridge.engines.base import Engine

# name -> "module:factory". Factories take keyword options and return an Engine.
ENGINES: dict[str, str] = {
    "synth": "bridge.engines.synth:create",
    "lyria": "bridge.engines.lyria:create",
}


def create_engine(name: str, **options: Any) -> Engine:
    """Build the engine called ``name`` with its options (a ValueError lists the names)."""
    try:
        target = ENGINES[name]
    except KeyError:
        allowed = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown engine {name!r} (allowed: {allowed})") from None
    module_name, factory = target.split(":")
    module = importlib.import_module(module_name)
    engine: Engine = getattr(module, factory)(**options)
    return engine
