"""``promptbridge check FILE...``: validate profiles, performances and rig files. Reads files.

Prints one line per problem, ``FILE:LINE: key.path: message (got X; allowed Y)``, and
exits 0 when every file is valid, 1 otherwise (no traceback). A file whose keys are
all rig settings (``engine``, ``output``, ...) is checked as a rig file; anything else as
a mapping (profile or performance, with the files it ``use``s). A bare name checks a
shipped profile (``promptbridge check nanokontrol2``). With ``--engine NAME`` a mapping
is also checked against what that engine can play (keys and pads need magenta).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError, Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="TOML files (or profile names)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    parser.add_argument(
        "--engine", help="also check that this engine can play the mapping (e.g. lyria)"
    )


def _is_rig(path: Path) -> bool:
    from bridge.config.reader import parse_toml
    from bridge.config.schema import TOP_KEYS
    from bridge.rig import FIELDS

    try:
        data = parse_toml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return False
    if isinstance(data, Problem):  # the mapping loader reports it
        return False
    keys = set(data)
    return bool(keys) and keys <= set(FIELDS) and not keys & set(TOP_KEYS)


def check_one(name: str, engine: str | None = None) -> list[Problem]:
    from bridge.config import check_files

    path = Path(name)
    if path.is_file() and _is_rig(path):
        from bridge.rig import load_rig

        try:
            rig = load_rig(path)
        except ConfigError as exc:
            return exc.problems
        return _rig_engine_problems(rig, path)
    problems = check_files([name])
    if problems or engine is None:
        return problems
    return _engine_problems(name, engine)


def _engine_problems(name: str, engine: str) -> list[Problem]:
    from bridge.config import load_mapping
    from bridge.config.engine_check import engine_problems
    from bridge.engines import ENGINES, supports

    if engine not in ENGINES:
        return [
            Problem(
                "", None, "--engine", f"unknown engine {engine!r} (allowed: {', '.join(ENGINES)})"
            )
        ]
    return engine_problems(load_mapping([name]), engine, supports(engine))


def _rig_engine_problems(rig: Any, path: Path) -> list[Problem]:
    """The rig's mappings against the rig's engine (keys need magenta). A mapping that does
    not load is left to its own ``check``: this only adds what the engine cannot play."""
    from bridge.commands.run import mapping_from
    from bridge.config.engine_check import engine_problems
    from bridge.engines import supports

    if not rig.mappings:
        return []
    try:
        mapping = mapping_from(rig, path)
    except ConfigError:
        return []
    name = "auto (lyria or synth)" if rig.engine == "auto" else rig.engine
    return engine_problems(mapping, name, supports(rig.engine))


def run(args: argparse.Namespace) -> int:
    failed = 0
    for name in args.files:
        problems = check_one(name, getattr(args, "engine", None))
        for problem in problems:
            print(problem)
        if problems:
            failed += 1
        elif not args.quiet:
            print(f"{name}: ok", file=sys.stderr)
    return 1 if failed else 0
