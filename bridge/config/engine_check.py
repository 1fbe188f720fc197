"""Does a compiled mapping fit the engine that will play it? Pure (no files, no engine).

Keys and pads (``notes``/``drums`` bindings) need an engine with note conditioning
(``Supports.notes``/``drums``, e.g. magenta); on any other engine each such binding is a
problem naming the engine and its line, reported by ``check --engine``, at ``run`` start
and on hot reload (the previous mapping keeps running).
"""

from __future__ import annotations

from bridge.core.mapping import NOTE_TARGETS, MappingSet
from bridge.engines.base import Supports
from bridge.errors import Problem


def engine_problems(mapping: MappingSet, engine: str, supports: Supports) -> list[Problem]:
    """One problem per binding the engine called ``engine`` cannot play."""
    takes = {"notes": supports.notes, "drums": supports.drums}
    problems = []
    for b in mapping.bindings:
        if b.target in NOTE_TARGETS and not takes[b.target]:
            what = "note conditioning" if b.target == "notes" else "drum conditioning"
            problems.append(
                Problem(
                    b.file,
                    b.line,
                    "target",
                    f"{b.target} needs an engine with {what}; the {engine} engine has none "
                    "(use --engine magenta)",
                )
            )
    return problems
