"""Engines by name, imported lazily (like mido's backends): ``create_engine("synth")``.

Every engine implements ``bridge.engines.base.Engine``; the daemon never knows which
engine it drives.
"""

from __future__ import annotations

import importlib
from typing import Any

from bridge.engines.base import FULL, Engine, Supports

# name -> "module:factory". Factories take keyword options and return an Engine.
ENGINES: dict[str, str] = {
    "synth": "bridge.engines.synth:create",
    "lyria": "bridge.engines.lyria:create",
    "magenta": "bridge.engines.magenta:create",
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


def supports_of(engine: Engine) -> Supports:
    """What a built engine acts on (by its name; test engines get ``FULL``)."""
    return supports(engine.name)


def supports(name: str) -> Supports:
    """What the engine called ``name`` acts on: its module's ``SUPPORTS``, else ``FULL``.

    Imports the engine's module, never its optional library (magenta-rt loads only when
    an engine is created), so ``check`` can ask without the extra installed.
    """
    target = ENGINES.get(name)
    if target is None:
        return FULL
    module = importlib.import_module(target.split(":")[0])
    found = getattr(module, "SUPPORTS", FULL)
    return found if isinstance(found, Supports) else FULL
