"""Loading the real Magenta RT 2 system, and the one worker thread that runs it.

The only importer of ``magenta_rt`` (lazily: ``promptbridge[magenta]`` is optional).
``load_system(options)`` picks the backend (MLX on Apple Silicon, JAX elsewhere), points
the package at ``MAGENTA_HOME``, checks that the weights are there and builds
``MagentaRT2Mlx``/``MagentaRT2Jax`` with the model's own arguments. Anything missing
becomes one ``MagentaUnavailable`` line that says how to install or download it.

``ModelHost`` owns one loaded system and one dedicated worker thread: MLX streams are
thread-local and MusicCoCa's TFLite interpreters are not thread-safe, so load, embed,
tokenize and generate all run on that same thread, never on the event loop. Does file
and thread I/O; no asyncio beyond ``run_in_executor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bridge.errors import BridgeError

SIZES = ("mrt2_small", "mrt2_base")
BACKENDS = ("auto", "mlx", "jax")
CLASSES = {"mlx": "MagentaRT2Mlx", "jax": "MagentaRT2Jax"}
FRAME_RATE = 25  # frames per second: one frame is 40 ms, 1920 samples at 48 kHz
INSTALL = "pip install 'promptbridge[magenta]'"
T = TypeVar("T")


class MagentaUnavailable(BridgeError):
    """magenta-rt, its backend or its weights are missing (the message says how to fix it)."""


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """What to load. ``home`` overrides $MAGENTA_HOME; ``checkpoint`` a path or file name."""

    size: str = "mrt2_small"
    backend: str = "auto"
    checkpoint: str | None = None
    home: str | None = None

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)} (got {self.size!r})")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (got {self.backend!r})")


def choose_backend(backend: str, system: str | None = None, machine: str | None = None) -> str:
    """``auto`` → mlx on macOS arm64 (real time), jax elsewhere (offline on NVIDIA/CPU)."""
    if backend != "auto":
        return backend
    system = system or platform.system()
    machine = machine or platform.machine()
    return "mlx" if system == "Darwin" and machine == "arm64" else "jax"


def magenta_home(home: str | None = None) -> Path:
    """The weights root the package uses: ``$MAGENTA_HOME/magenta-rt-v2``."""
    base = home or os.environ.get("MAGENTA_HOME") or Path.home() / "Documents" / "Magenta"
    return Path(base).expanduser() / "magenta-rt-v2"


def checkpoint_path(options: ModelOptions) -> Path:
    """Where the raw safetensors checkpoint the Python classes load is expected."""
    if options.checkpoint:
        given = Path(options.checkpoint).expanduser()
        if given.is_absolute() or given.exists():
            return given.resolve()
        return magenta_home(options.home) / "checkpoints" / given
    return magenta_home(options.home) / "checkpoints" / f"{options.size}.safetensors"


def missing_weights(options: ModelOptions) -> str | None:
    """Why the weights are not usable (one line with the download commands), or None."""
    ckpt = checkpoint_path(options)
    resources = magenta_home(options.home) / "resources"
    fetch = f"run `mrt models init` and `mrt checkpoints download {options.size}`"
    if not resources.is_dir():
        return f"Magenta RT resources not found in {resources}: {fetch}"
    if not ckpt.is_file():
        return f"Magenta RT checkpoint not found at {ckpt}: {fetch}"
    return None


def system_class(backend: str) -> Any:
    """The package's system class for ``backend`` (imported here, lazily)."""
    try:
        package = importlib.import_module("magenta_rt")
    except ImportError:
        raise MagentaUnavailable(
            f"the magenta engine needs magenta-rt 2.0: {INSTALL}, then fetch the weights "
            "with `mrt models init` and `mrt checkpoints download mrt2_small`"
        ) from None
    try:
        return getattr(package, CLASSES[backend])
    except ImportError as exc:  # the package's own hint names the missing backend extra
        raise MagentaUnavailable(
            f"magenta engine, {backend} backend: {exc} (or {INSTALL})"
        ) from None


def load_system(options: ModelOptions, cls: Any = None) -> Any:
    """Build the system (seconds to minutes: call it on the worker thread).

    ``cls`` None: the package's class for the backend (the real path).
    """
    if options.home:
        # paths.py reads MAGENTA_HOME when first imported; set_magenta_home covers a
        # package that is already imported.
        os.environ["MAGENTA_HOME"] = str(Path(options.home).expanduser())
    if cls is None:
        cls = system_class(choose_backend(options.backend))
    why = missing_weights(options)
    if why is not None:
        raise MagentaUnavailable(why)
    if options.home and "magenta_rt" in sys.modules:
        with contextlib.suppress(ImportError, AttributeError):
            importlib.import_module("magenta_rt.paths").set_magenta_home(magenta_home(options.home))
    # An absolute path: the package joins it onto its checkpoints dir, which keeps it.
    return cls(size=options.size, checkpoint=str(checkpoint_path(options)))


class ModelHost:
    """One loaded system and the one thread that may touch it (shared by connections)."""

    def __init__(self, loader: Callable[[], Any]) -> None:
        self._loader = loader
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="magenta")
        self.system: Any = None
        self.load_seconds: float | None = None
        self.ms_per_step: float | None = None

    def load_blocking(self) -> Any:
        """Load on the worker thread and wait (``serve`` start, before the loop runs)."""
        return self._executor.submit(self._load).result()

    def measure_blocking(self, frames: int) -> float:
        """Load if needed, then measure ms per step on the worker thread, and wait."""
        system = self.load_blocking()
        self.ms_per_step = self._executor.submit(measure, system, frames).result()
        return self.ms_per_step

    async def load(self) -> Any:
        """Load on the worker thread without blocking the loop (once; later calls reuse)."""
        return await self.run(self._load)

    def _load(self) -> Any:
        if self.system is None:
            started = time.perf_counter()
            self.system = self._loader()
            self.load_seconds = time.perf_counter() - started
        return self.system

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the model's thread; the loop stays free meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        """Let the worker finish its current call and end (never blocks the caller)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def measure(system: Any, frames: int) -> float:
    """Milliseconds per generated frame (step), from one unconditioned call of ``frames``.

    Run on the model's thread at start: the first call also pays for warm-up, so this
    errs on the slow side, which is the side a warning should err on.
    """
    started = time.perf_counter()
    system.generate(frames=frames)
    return (time.perf_counter() - started) * 1000.0 / max(1, frames)
