"""The ``promptbridge`` command line: one module per subcommand in ``bridge.commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Commands are imported lazily so ``promptbridge check`` does not
load numpy, PortAudio or rtmidi. A BridgeError becomes one line on stderr and exit 1
(a traceback only with ``--debug``); a command-line mistake becomes
``promptbridge: error: ...`` and a one-line hint to ``--help``, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from bridge import __version__
from bridge.errors import BridgeError

# name -> module under bridge.commands (the order is the order of --help)
COMMANDS: dict[str, str] = {
    "run": "run",
    "demo": "demo",
    "check": "check",
    "devices": "devices",
    "learn": "learn",
    "serve": "serve",
    "render": "render",
    "status": "status",
    "service": "service",
}

HELPS: dict[str, str] = {
    "run": "run the daemon: controllers in, model session, sound out",
    "demo": "play a scripted performance on the embedded engine (no key, no controller)",
    "check": "validate mapping, performance and rig files",
    "devices": "list MIDI inputs/outputs and audio outputs",
    "learn": "write a controller profile by moving its controls",
    "serve": "serve an in-process engine over the Lyria RealTime protocol",
    "render": "render prompts and controls to a WAV file",
    "status": "print the live status of a running daemon",
    "service": "install or show the systemd unit for a headless rig",
}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: argparse would print the whole usage (11 lines for
    ``run``) before the one line that says what is wrong."""

    def error(self, message: str) -> NoReturn:
        # Sub-parsers are built with this class too (add_subparsers uses type(parent)),
        # so ``self.prog`` names the command: the hint points at its own --help.
        self.exit(
            2, f"promptbridge: error: {message}\nhint: {self.prog} --help lists the options\n"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="promptbridge",
        description="Play a live AI music model with MIDI controllers.",
    )
    parser.add_argument("--version", action="version", version=f"promptbridge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=HELPS[name], description=HELPS[name])
        module.add_arguments(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def _load(module_name: str):  # type: ignore[no-untyped-def]
    """Import a command module; a command whose module is absent is simply not offered."""
    try:
        return importlib.import_module(f"bridge.commands.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bridge.commands.{module_name}":
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the command whose options were wrong (its --help is the useful one)
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        result: int = args._module.run(args)
        return result
    except BridgeError as exc:
        if args.debug:
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"promptbridge: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader left (`check --show ... | head`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Configure the root logger once (commands call this; journald-friendly by default)."""
    from bridge.logs import configure

    configure(level=level, fmt=fmt)
    logging.getLogger("websockets").setLevel(logging.WARNING)
