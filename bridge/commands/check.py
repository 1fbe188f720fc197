"""``promptbridge check FILE...``: validate profiles, performances and rig files. Reads files.

Prints one line per problem, ``FILE:LINE: key.path: message (got X; allowed Y)``, and
exits 0 when every file is valid, 1 otherwise (no traceback). A file whose top-level
keys are mostly rig settings (``engine``, ``output``, ...; a misspelt key counts for the
kind it is closest to) is checked as a rig file, with what ``run`` would refuse about it;
anything else as a mapping (profile or performance, with the files it ``use``s). A bare
name checks a shipped profile (``promptbridge check nanokontrol2``).

``--show`` loads the files as ``run`` would (one merged set; a rig file contributes the
mappings it names) and prints the result: slots, scenes, decks, config and bindings by
control, each binding with the file and line it came from. With ``--engine NAME`` a
mapping is also checked against what that engine can play (keys and pads need magenta).
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
        "--show",
        action="store_true",
        help="print the merged set (slots, scenes, decks, bindings by control) as run loads it",
    )
    parser.add_argument(
        "--engine", help="also check that this engine can play the mapping (e.g. lyria)"
    )


def _is_rig(path: Path) -> bool:
    from bridge.config.reader import parse_toml
    from bridge.config.schema import TOP_KEYS
    from bridge.rig import looks_like_rig

    try:
        data = parse_toml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return False
    if isinstance(data, Problem):  # the mapping loader reports it
        return False
    return looks_like_rig(list(data), TOP_KEYS)


def check_one(name: str, engine: str | None = None) -> list[Problem]:
    from bridge.config import check_files

    path = Path(name)
    if path.is_file() and _is_rig(path):
        from bridge.rig import check_rig_file, load_rig

        return check_rig_file(path) or _rig_engine_problems(load_rig(path), path)
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


def show(names: list[str]) -> int:
    """Merge the files as ``run`` does and print the set; problems instead when invalid."""
    from bridge.config import load_mapping
    from bridge.config.show import describe
    from bridge.rig import check_rig_file, load_rig, mapping_refs

    refs: list[Path | str] = []
    for name in names:
        path = Path(name)
        if path.is_file() and _is_rig(path):
            problems = check_rig_file(path)
            if problems:
                print("\n".join(map(str, problems)))
                return 1
            refs += mapping_refs(load_rig(path), path)
        else:
            refs.append(path if path.is_file() else name)
    try:
        mapping = load_mapping(refs) if refs else None
    except ConfigError as exc:
        print("\n".join(map(str, exc.problems)))
        return 1
    if mapping is None:  # a rig that names no mapping: run plays the generic profile
        from bridge.config import default_mapping

        mapping = default_mapping()
    print("\n".join(describe(mapping)))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.show:
        return show(args.files)
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
