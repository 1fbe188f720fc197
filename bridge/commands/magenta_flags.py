"""The magenta engine's flags, shared by ``run`` (as rig keys), ``serve`` and ``render``.

Each flag's destination is the rig key of the same name (``magenta_size`` ...), so
``run`` merges them over the rig file like every other flag; ``options(source)`` turns
a rig or parsed arguments into the engine's ``create(**options)``, leaving out what was
not given (the engine's defaults apply). No I/O.
"""

from __future__ import annotations

import argparse
from typing import Any

# rig key / flag destination → the engine's option name
OPTIONS = {
    "magenta_size": "size",
    "magenta_backend": "backend",
    "magenta_checkpoint": "checkpoint",
    "magenta_home": "home",
    "magenta_frames": "frames",
    "magenta_look_ahead": "look_ahead",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--magenta-size", choices=["mrt2_small", "mrt2_base"], help="magenta: model size")
    a("--magenta-backend", choices=["auto", "mlx", "jax"], help="magenta: auto = mlx on a Mac")
    a("--magenta-checkpoint", metavar="PATH", help="magenta: checkpoint file (.safetensors)")
    a("--magenta-home", metavar="DIR", help="magenta: weights folder (default $MAGENTA_HOME)")
    a(
        "--magenta-frames",
        type=int,
        metavar="N",
        help="magenta: 40 ms frames per model call, the control granularity (default 25)",
    )
    a(
        "--magenta-look-ahead",
        type=int,
        metavar="N",
        help="magenta: calls generated ahead of playback (default 1)",
    )


def options(source: Any) -> dict[str, Any]:
    """The magenta engine's options from a RigSettings or an argparse Namespace."""
    out = {}
    for key, name in OPTIONS.items():
        value = getattr(source, key, None)
        if value is not None:
            out[name] = value
    return out
