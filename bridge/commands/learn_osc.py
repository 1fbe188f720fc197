"""``promptbridge learn --osc HOST:PORT``: bind a surface's own OSC addresses. Network and
file I/O.

Asks for the same controls as MIDI learn (slot weights, then the extras), one at a time:
the first address that arrives (and was not learned before) is the control; it is
learned once it has been still for ``--quiet`` seconds. A number target gets a scaled
binding (the surface's 0..1 into the target's range), a button target (play/pause) a
button binding. The result is a mapping file with an ``[osc]`` table (bridge.config.osc),
checked with ``check_files`` before it says "written". Enter skips a control, ``q``
finishes early.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError


def render(learned: Sequence[tuple[str, str, dict[str, Any]]], source: str) -> str:
    """The learned bindings as a mapping file (a comment per binding says what moved)."""
    import tomlkit

    doc = tomlkit.document()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc.add(tomlkit.comment(f"Written by `promptbridge learn --osc` on {stamp}, from {source}."))
    doc.add(tomlkit.comment("Use it beside your performance: --mapping this.toml"))
    doc.add(tomlkit.nl())
    doc.add("use", "generic")  # the slots the targets name; replace with your own set
    table = tomlkit.table()
    for address, target, extra in learned:
        if extra:
            entry = tomlkit.inline_table()
            entry.update({"target": target, **extra})
            table.add(address, entry)
        else:
            table.add(address, target)
    doc.add("osc", table)
    return tomlkit.dumps(doc)


def learn_one(reader: Any, label: str, quiet: float, known: set[str], typed: Any) -> Any:
    """(address, values seen) for one control, or "skip" / "quit". ``typed(timeout)`` is a
    line typed on the terminal, or None."""
    print(f"move the control for {label} (Enter = skip, q = finish)", flush=True)
    address: str | None = None
    values: list[Any] = []
    last = 0.0
    while True:
        for got, args in reader.poll(0.01):
            if got in known or (address is not None and got != address):
                continue
            address, last = got, time.monotonic()
            values += args
        if address is not None and time.monotonic() - last >= quiet:
            return address, values
        line = typed(0.0) if address is None else None
        if line is not None:
            return "quit" if line.strip().lower() == "q" else "skip"


def run_osc(
    args: argparse.Namespace, asks: Sequence[tuple[str, str, dict[str, Any]]], typed: Any
) -> int:
    """Learn every control of ``asks`` (target, label, extra keys) from OSC; write the file."""
    from bridge.io.osc import OscReader
    from bridge.status.server import parse_address

    try:
        host, port = parse_address(args.osc)
    except ValueError as exc:
        raise ConfigError(f"--osc: {exc}".replace("status address", "address")) from None
    reader = OscReader(host, port)
    learned: list[tuple[str, str, dict[str, Any]]] = []
    try:
        print(f"learning OSC on udp://{host}:{reader.port}", flush=True)
        for target, label, extra in asks:
            got = learn_one(reader, label, args.quiet, {a for a, _, _ in learned}, typed)
            if got == "quit":
                break
            if isinstance(got, str):
                print("  skipped", flush=True)
                continue
            address, _ = got
            learned.append((address, target, dict(extra)))
            print(f"  learned: {address} → {target}", flush=True)
    finally:
        reader.close()
    if not learned:
        print("nothing learned; no file written", flush=True)
        return 1
    from bridge.commands.learn import write_checked

    text = render(learned, f"udp://{host}:{port}")
    return write_checked(Path(args.out), text, f"{len(learned)} OSC bindings")
