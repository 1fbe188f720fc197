"""``promptbridge status``: print the live status of a running daemon. Network I/O.

Connects to the daemon's status API (``promptbridge run --status HOST:PORT``), optionally
sends changes (``--set slot.1.weight=1.5``), and prints the snapshot as a terminal
summary (or raw JSON with ``--json``; ``--watch`` keeps printing). The address and token
come from the flags, else ``--rig FILE``'s ``status`` / ``status_token``, else
``127.0.0.1:8780``; the token may also come from ``PROMPTBRIDGE_STATUS_TOKEN`` (safer
than a flag, which other users can see in ``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from bridge.core.types import Change, ChangeValue
from bridge.errors import ConfigError

DEFAULT_ADDRESS = "127.0.0.1:8780"
TOKEN_ENV = "PROMPTBRIDGE_STATUS_TOKEN"
BAR = 16  # characters of a weight bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a(
        "--status",
        metavar="HOST:PORT",
        help=f"the daemon's status address (default {DEFAULT_ADDRESS})",
    )
    a("--rig", help="take the status address and token from this rig file")
    a("--token", help=f"status token (prefer the {TOKEN_ENV} environment variable)")
    a(
        "--set",
        dest="changes",
        action="append",
        default=[],
        metavar="TARGET=VALUE",
        help="apply a change first, e.g. slot.1.weight=1.5 or playback=pause (repeatable)",
    )
    a("--json", action="store_true", help="print the raw snapshot as JSON")
    a("--watch", action="store_true", help="keep printing snapshots until Ctrl-C")
    a("--timeout", type=float, default=5.0, help="seconds to wait for the daemon (default 5)")


def parse_change(text: str) -> Change:
    """``TARGET=VALUE`` → Change; VALUE is JSON when it parses (1.5, true, null), else text."""
    target, sep, raw = text.partition("=")
    if not sep or not target.strip():
        raise ConfigError(f"--set {text!r}: expected TARGET=VALUE, e.g. slot.1.weight=1.5")
    try:
        value: ChangeValue = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, list | dict):
        raise ConfigError(f"--set {text!r}: VALUE must be a number, text, true/false or null")
    return Change(target.strip(), value, source="cli")


def _address_and_token(args: argparse.Namespace) -> tuple[str, int, str | None]:
    from bridge.status.server import parse_address

    address, token = args.status, args.token or os.environ.get(TOKEN_ENV) or None
    if args.rig:
        from bridge.rig import load_rig

        rig = load_rig(args.rig)
        address = address or rig.status
        token = token or rig.status_token
    try:
        host, port = parse_address(address or DEFAULT_ADDRESS)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"  # a daemon listening everywhere answers on loopback too
    return host, port, token


def run(args: argparse.Namespace) -> int:
    from bridge.status import client
    from bridge.status.server import check_target

    changes = [parse_change(c) for c in args.changes]
    for change in changes:
        reason = check_target(change.target)
        if reason:
            raise ConfigError(f"--set {change.target}: {reason}")
    host, port, token = _address_and_token(args)
    if not args.watch:
        snapshot = asyncio.run(client.fetch(host, port, token, changes, args.timeout))
        print(json.dumps(snapshot, indent=1) if args.json else render(snapshot))
        return 0

    async def watch() -> None:
        stream = client.snapshots(host, port, token, changes, args.timeout, idle=None)
        async for snapshot in stream:
            if args.json:
                print(json.dumps(snapshot), flush=True)
            else:
                clear = "\x1b[H\x1b[2J" if sys.stdout.isatty() else ""
                print(clear + render(snapshot) + "\n", flush=True)

    asyncio.run(watch())
    return 0


# --- rendering (pure) -----------------------------------------------------------------
def render(snapshot: dict[str, Any]) -> str:
    """A terminal summary of a daemon snapshot (tolerant of missing parts)."""
    perf = snapshot.get("performance", snapshot)
    lines = [_headline(snapshot, perf), "", "slots"]
    lines += [_slot_line(s) for s in perf.get("slots", [])] or ["  (none)"]
    lines += ["", "config   " + _config_line(perf.get("config", {}))]
    lines += [
        f"mix      crossfader {_num(perf.get('crossfader'))}  "
        f"master volume {_num(perf.get('master_volume'))}  "
        f"recording {'on' if perf.get('recording') else 'off'}"
    ]
    lines += _health_lines(snapshot)
    return "\n".join(lines)


def _headline(snapshot: dict[str, Any], perf: dict[str, Any]) -> str:
    engine = snapshot.get("engine", {})
    scene = perf.get("scene")
    parts = [
        f"PromptBridge: {perf.get('playback', '?')}",
        f"scene {scene!r}" if scene else "no scene",
        f"bank {snapshot.get('bank', perf.get('bank', 1))}",
        f"engine {engine.get('engine', '?')} {engine.get('state', '')}".rstrip(),
    ]
    return " · ".join(parts)


def _slot_line(slot: dict[str, Any]) -> str:
    hi = slot.get("hi") or 1.0
    effective = float(slot.get("effective") or 0.0)
    filled = round(BAR * min(1.0, max(0.0, effective / hi)))
    bar = "█" * filled + "·" * (BAR - filled)
    text = str(slot.get("text", ""))[:28]
    mark = "  FILTERED" if slot.get("filtered") else ""
    weight = _num(slot.get("weight"))
    return f"  {slot.get('slot', '?'):>2} {text:<28} {bar} {weight} → {_num(effective)}{mark}"


def _config_line(config: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        return "auto" if value is None else _num(value) if isinstance(value, float) else str(value)

    return "  ".join(f"{name} {show(value)}" for name, value in config.items())


def _health_lines(snapshot: dict[str, Any]) -> list[str]:
    audio, engine = snapshot.get("audio", {}), snapshot.get("engine", {})
    process, controllers = snapshot.get("process", {}), snapshot.get("controllers", {})
    lines = []
    if audio:
        lines.append(
            f"audio    buffer {_num(audio.get('fill_seconds'))}"
            f"/{_num(audio.get('target_seconds'))} s"
            f"  underruns {audio.get('underruns', 0)}  device {audio.get('device', '?')}"
        )
    share = snapshot.get("latency") or {}
    if share.get("share_ms") is not None:
        wire = share.get("knob_to_wire") or {}
        lines.append(
            f"latency  bridge's share {share['share_ms']:.0f} ms: knob-to-wire p95 "
            f"{wire.get('p95_ms') or 0:.0f} ms + buffer {share.get('buffer_ms') or 0:.0f} ms"
        )
    if engine:
        lines.append(
            f"engine   reconnects {engine.get('reconnects', 0)}"
            f"  sessions {engine.get('sessions', '-')}"
            + (f"  last error: {engine['last_error']}" if engine.get("last_error") else "")
        )
        for item in engine.get("filtered_prompts", []):
            lines.append(f"filtered {item.get('text')!r}: {item.get('reason', '')}")
        lines.extend(_model_lines(engine))
    if controllers:
        present = ", ".join(
            f"{n} {'connected' if on else 'MISSING'}" for n, on in controllers.items()
        )
        lines.append(f"midi     {present}")
    if process:
        lines.append(
            f"process  cpu {process.get('cpu_percent', '?')} %  rss {process.get('rss_mb', '?')} MB"
            f"  uptime {process.get('uptime', '?')} s"
        )
    return ["", *lines] if lines else []


def _model_lines(engine: dict[str, Any]) -> list[str]:
    """An in-process model's speed and the controls it lacks (magenta)."""
    lines = []
    if engine.get("ms_per_step") is not None:
        slow = "  SLOWER THAN REAL TIME" if engine.get("real_time") is False else ""
        lines.append(f"model    {_num(engine['ms_per_step'])} ms per 40 ms step{slow}")
    if engine.get("unsupported"):
        used = engine.get("unsupported_in_use") or []
        note = f"  (set but ignored: {', '.join(used)})" if used else ""
        lines.append(f"ignored  {', '.join(engine['unsupported'])}{note}")
    return lines


def _num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"
