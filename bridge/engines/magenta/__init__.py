"""The ``magenta`` engine: Magenta RealTime 2 (open weights) in this process.

Needs the optional extra ``promptbridge[magenta]`` (magenta-rt 2.0: MLX on Apple Silicon,
JAX elsewhere) and its weights (``mrt models init``; ``mrt checkpoints download
mrt2_small``). Importing this package does not import magenta-rt: that happens when an
engine is created, so ``check`` and ``--help`` work without it.

* ``create(**options)``: one engine with its own model (``run``, ``render``).
* ``serve_factory(**options)``: load one model now, return a factory of engines that
  share it (``serve``: one model per process, not one per connection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.engines.base import Supports
from bridge.engines.magenta import controls
from bridge.engines.magenta.engine import MagentaEngine
from bridge.engines.magenta.system import (
    MagentaUnavailable,
    ModelHost,
    ModelOptions,
    choose_backend,
    load_system,
    missing_weights,
    system_class,
)

SUPPORTS = Supports(
    controls=frozenset(controls.SUPPORTED), resets=frozenset(), notes=True, drums=True
)
__all__ = ["SUPPORTS", "MagentaEngine", "create", "serve_factory"]


def preflight(options: ModelOptions) -> None:
    """Fail now, in one line, when the package, its backend or the weights are missing
    (not minutes later at ``start``, after the audio device and controllers opened)."""
    system_class(choose_backend(options.backend))
    why = missing_weights(options)
    if why is not None:
        raise MagentaUnavailable(why)


def _host(options: ModelOptions, cls: Any) -> ModelHost:
    return ModelHost(lambda: load_system(options, cls))


def _describe(options: ModelOptions) -> dict[str, Any]:
    return {"size": options.size, "backend": choose_backend(options.backend)}


def create(
    size: str = "mrt2_small",
    backend: str = "auto",
    checkpoint: str | None = None,
    home: str | None = None,
    frames: int = 25,
    look_ahead: int = 1,
    model_class: Any = None,
) -> MagentaEngine:
    """An engine with its own model, loaded (on its worker thread) by ``start()``.

    ``model_class`` replaces the package's class (None: ``MagentaRT2Mlx``/``Jax`` by
    backend); the tests pass a fake with the same signatures, built the same way.
    """
    options = ModelOptions(size, backend, checkpoint, home)
    if model_class is None:
        preflight(options)
    return MagentaEngine(
        _host(options, model_class),
        frames=frames,
        look_ahead=look_ahead,
        describe=_describe(options),
    )


def serve_factory(
    size: str = "mrt2_small",
    backend: str = "auto",
    checkpoint: str | None = None,
    home: str | None = None,
    frames: int = 25,
    look_ahead: int = 1,
    model_class: Any = None,
) -> Callable[[], MagentaEngine]:
    """Load one model now (raising MagentaUnavailable here), then engines that share it."""
    options = ModelOptions(size, backend, checkpoint, home)
    host = _host(options, model_class)
    host.measure_blocking(min(frames, 25))  # at most a second of audio to time
    describe = _describe(options)

    def factory() -> MagentaEngine:
        return MagentaEngine(
            host, frames=frames, look_ahead=look_ahead, own_host=False, describe=describe
        )

    return factory
