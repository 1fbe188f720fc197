"""``promptbridge learn``: write a controller profile by moving its controls. Device and file I/O.

On a terminal it asks for each control in turn ("move the control for slot 1 weight"),
tells 7-bit / 14-bit / NRPN / relative encoders (and their encoding) apart from the first
values (``bridge.core.learn``), and writes a commented profile with tomlkit, checked with
``bridge.config.check_files`` before it says "written". Enter skips a control, ``q``
finishes early. ``--detect`` prints every incoming event as a ``[controls]`` line instead.
With no matching input yet, it says so and waits (``--wait`` seconds, Ctrl-C to give up)
for the controller to be plugged in.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.core.learn import Collector, Detected, detect_line
from bridge.errors import ConfigError, DeviceError

HELP = "write a controller profile by moving its controls"
# the controls asked for after the slot weights: (target, what the user is told, extra keys)
EXTRA_ASKS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("config.density", "density", {}),
    ("config.brightness", "brightness", {}),
    ("master_volume", "master volume", {}),
    ("playback", "play/pause (a button or pad)", {"value": "toggle"}),
)
WAIT_SECONDS = 300.0  # time to find the USB cable; Ctrl-C gives up sooner
POLL_SECONDS = 0.25  # how often the port list is read while waiting
# generic client names under which the real device name is the port part
_GENERIC_CLIENTS = ("rtmidiout client", "rtmidi output client", "a2j", "system", "midi")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="FILE.toml", help="the profile to write")
    parser.add_argument(
        "--midi-in", metavar="PATTERN", help="input to learn from (substring or re:REGEX)"
    )
    parser.add_argument("--index", type=int, default=0, help="which of identical inputs (0-based)")
    parser.add_argument(
        "--wait",
        type=float,
        default=WAIT_SECONDS,
        metavar="SECONDS",
        help=f"wait this long for the controller to be plugged in (default {WAIT_SECONDS:g}; "
        "0: do not wait)",
    )
    parser.add_argument("--midi-api", choices=("auto", "alsa", "jack"), default="auto")
    parser.add_argument(
        "--detect", action="store_true", help="print each incoming event as a line to paste"
    )
    parser.add_argument(
        "--osc", metavar="HOST:PORT", help="learn a surface's OSC addresses instead of MIDI"
    )
    parser.add_argument("--slots", type=int, default=8, help="prompt slots to ask for (0..64)")
    parser.add_argument("--name", help="controller name in the profile (default: from the port)")
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.6,
        metavar="SECONDS",
        help="a control is learned after it has been still this long (default 0.6)",
    )


def asks(slots: int) -> list[tuple[str, str, dict[str, Any]]]:
    """What learn asks for, in order: slot weights, then the extras."""
    return [(f"slot.{n}.weight", f"slot {n} weight", {}) for n in range(1, slots + 1)] + list(
        EXTRA_ASKS
    )


def port_pattern(port: str) -> str:
    """A stable match for a port: the client name (ALSA numbers and generic names dropped)."""
    client, _, rest = port.partition(":")
    name = client
    if client.strip().lower() in _GENERIC_CLIENTS and rest:
        name = rest
    return re.sub(r"\s+\d+:\d+$", "", name).strip() or port


def control_name(target: str) -> str:
    """slot.3.weight → slot3_weight; config.density → density; playback → play_pause."""
    if target == "playback":
        return "play_pause"
    if target.startswith("slot."):
        _, n, field = target.split(".")
        return f"slot{n}_{field}"
    return target.removeprefix("config.")


def render_profile(
    name: str,
    port: str,
    learned: Sequence[tuple[str, Detected, dict[str, Any]]],
    slot_texts: Sequence[str] = (),
    source_port: str = "",
) -> str:
    """The profile as TOML text, with comments saying what was detected."""
    import tomlkit

    channel = Counter(d.channel for _, d, _ in learned).most_common(1)[0][0] if learned else 0
    doc = tomlkit.document()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc.add(tomlkit.comment(f"Written by `promptbridge learn` on {stamp}"))
    if source_port:
        doc.add(tomlkit.comment(f"from MIDI input {source_port!r}."))
    doc.add(tomlkit.comment("Edit the slot texts, then: promptbridge check THIS_FILE"))
    doc.add(tomlkit.nl())
    doc.add("name", f"{name} (learned)")
    ctl = tomlkit.table()
    ctl.add("name", name)
    ctl.add("port", port)
    ctl.add("channel", channel + 1)
    doc.add("controller", ctl)
    doc.add("controls", _controls(learned, channel))
    doc.add("slots", _slots(learned, slot_texts))
    binds = tomlkit.aot()
    for target, _, extra in learned:
        bind = tomlkit.table()
        bind.add("control", control_name(target))
        bind.add("target", target)
        for key, value in extra.items():
            bind.add(key, value)
        binds.append(bind)
    doc.add("bind", binds)
    return tomlkit.dumps(doc)


def _controls(learned: Sequence[tuple[str, Detected, dict[str, Any]]], channel: int) -> Any:
    import tomlkit

    table = tomlkit.table()
    for target, det, _ in learned:
        fields = det.fields()
        if det.channel == channel:
            fields.pop("channel")  # the controller's channel applies
        inline = tomlkit.inline_table()
        inline.update(fields)
        key = control_name(target)
        table.add(key, inline)
        table[key].comment(det.note)
    return table


def _slots(learned: Sequence[tuple[str, Detected, dict[str, Any]]], texts: Sequence[str]) -> Any:
    import tomlkit

    used = [int(t.split(".")[1]) for t, _, _ in learned if t.startswith("slot.")]
    aot = tomlkit.aot()
    for n in range(1, max(used, default=0) + 1):
        slot = tomlkit.table()
        slot.add("text", texts[n - 1] if n <= len(texts) else f"Prompt for slot {n}")
        slot.add("weight", 1.0 if n == 1 else 0.0)
        aot.append(slot)
    return aot


def _default_texts() -> list[str]:
    """The shipped generic profile's slot texts, so a learned profile plays at once."""
    try:
        from bridge.config import default_mapping

        return [s.text for s in default_mapping().performance.slots]
    except Exception:  # the profile is still useful without them
        return []


def _typed_line(timeout: float) -> str | None:
    """A line typed on stdin within ``timeout`` seconds, else None (never blocks longer)."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        return None
    line = sys.stdin.readline()
    return line if line else "q"  # EOF: finish


def _learn_one(reader: Any, label: str, quiet: float, skip: frozenset[Any]) -> Collector | str:
    """Wait for one control; returns its Collector, or "skip" / "quit"."""
    print(
        f"move the control for {label} (turn encoders slowly LEFT; Enter = skip, q = finish)",
        flush=True,
    )
    reader.poll(time.monotonic())  # whatever was still moving before the question
    col = Collector(quiet=quiet, skip=skip)
    while True:
        now = time.monotonic()
        for event in reader.poll(now):
            col.add(event, now)
        if col.done(now):
            return col
        typed = _typed_line(0.005)
        if typed is not None and not col.events:
            return "quit" if typed.strip().lower() == "q" else "skip"


def _interactive(args: argparse.Namespace, reader: Any) -> int:
    learned: list[tuple[str, Detected, dict[str, Any]]] = []
    skip: frozenset[Any] = frozenset()
    for target, label, extra in asks(args.slots):
        got = _learn_one(reader, label, args.quiet, skip)
        if got == "quit":
            break
        if isinstance(got, str):
            print("  skipped", flush=True)
            continue
        det = got.result()
        if det is None:
            print("  nothing usable arrived; skipped", flush=True)
            continue
        skip |= got.keys()
        learned.append((target, det, extra))
        print(f"  learned: {det.note} {det.fields()}", flush=True)
    if not learned:
        print("nothing learned; no file written", flush=True)
        return 1
    return _write(args, reader.port, learned)


def _write(args: argparse.Namespace, port: str, learned: list[Any]) -> int:
    pattern = args.midi_in or port_pattern(port)
    name = args.name or port_pattern(port)
    text = render_profile(name, pattern, learned, _default_texts(), source_port=port)
    return write_checked(Path(args.out), text, f"{len(learned)} controls")


def write_checked(out: Path, text: str, what: str) -> int:
    """Write a learned file atomically, then check it as ``check`` would (exit code)."""
    from bridge.config import check_files

    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    problems = check_files([out])
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"wrote {out} ({what})", flush=True)
    return 1 if problems else 0


def _detect(reader: Any) -> int:
    print(f"listening to {reader.port}; move controls (Ctrl-C to stop)", flush=True)
    try:
        while True:
            for event in reader.poll(time.monotonic()):
                line = detect_line(event)
                if line:
                    print(line, flush=True)
            time.sleep(0.005)
    except KeyboardInterrupt:
        return 0


def _wait_for_input(reader: Any, pattern: str, index: int, wait: float) -> str:
    """The input ``pattern`` matches: waits (saying so) until it is plugged in, for at
    most ``wait`` seconds; Ctrl-C gives up."""
    port = reader.find(pattern, index)
    if port is not None:
        return str(port)
    what = "a MIDI input" if pattern == "*" else f"a MIDI input matching {pattern!r}"
    listing = "; ".join(reader.inputs()) or "none"
    if wait <= 0:
        raise DeviceError(f"no {what.removeprefix('a ')}; inputs: {listing}")
    deadline = time.monotonic() + wait
    try:
        print(
            f"waiting for {what} (inputs now: {listing}); "
            "plug the controller in, or Ctrl-C to give up",
            flush=True,
        )
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            port = reader.find(pattern, index)
            if port is not None:
                return str(port)
    except KeyboardInterrupt:
        raise DeviceError(f"gave up waiting for {what}") from None
    raise DeviceError(f"no {what.removeprefix('a ')} appeared within {wait:g} s")


def run(args: argparse.Namespace) -> int:
    if not args.detect and not args.out:
        raise ConfigError("learn needs --out FILE.toml (or --detect to print events)")
    if not 0 <= args.slots <= 64:
        raise ConfigError(f"--slots must be in range 0..64 (got {args.slots})")
    if args.wait < 0:
        raise ConfigError(f"--wait must be 0 or more seconds (got {args.wait:g})")
    if not args.detect and not sys.stdin.isatty():
        raise ConfigError("learn asks questions: run it on a terminal (or use --detect)")
    if args.osc:
        from bridge.commands.learn_osc import run_osc

        return run_osc(args, asks(args.slots), _typed_line)
    from bridge.io.midi import MidiReader

    reader = MidiReader(api=args.midi_api)
    try:
        reader.open(_wait_for_input(reader, args.midi_in or "*", args.index, args.wait))
        if args.detect:
            return _detect(reader)
        print(f"learning from {reader.port}", flush=True)
        return _interactive(args, reader)
    finally:
        reader.close()
