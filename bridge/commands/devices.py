"""``promptbridge devices``: list MIDI inputs and outputs and audio outputs. Device I/O only.

Each part is listed even if another is unavailable (no PortAudio, no MIDI API): that
part says why in one line instead.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bridge.errors import DeviceError

HELP = "list MIDI inputs/outputs and audio outputs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--midi-api",
        choices=("auto", "alsa", "jack"),
        default="auto",
        help="MIDI API (default: auto; MIDO_BACKEND is honoured)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def collect(midi_api: str) -> dict[str, Any]:
    """Everything ``devices`` shows, as plain data (errors as strings)."""
    out: dict[str, Any] = {}
    try:
        from bridge.io.midi import list_ports

        ins, outs = list_ports(midi_api)
        out["midi_inputs"], out["midi_outputs"] = ins, outs
    except DeviceError as exc:
        out["midi_error"] = str(exc)
    try:
        from bridge.audio.player import list_outputs

        out["audio_outputs"] = [
            {
                "index": d.index,
                "name": d.name,
                "hostapi": d.hostapi,
                "channels": d.channels,
                "default_rate": d.default_rate,
            }
            for d in list_outputs()
        ]
    except DeviceError as exc:
        out["audio_error"] = str(exc)
    return out


def render(data: dict[str, Any]) -> list[str]:
    """The human listing: one heading per part, one line per device."""
    lines = []
    if "midi_error" in data:  # once, not under both headings
        lines += ["MIDI inputs and outputs:", f"  (unavailable: {data['midi_error']})"]
    else:
        for key, title in (("midi_inputs", "MIDI inputs"), ("midi_outputs", "MIDI outputs")):
            lines.append(f"{title}:")
            ports = data[key]
            lines += [f"  {i}: {name}" for i, name in enumerate(ports)] or ["  (none)"]
    lines.append("Audio outputs (index: name [host API, channels, default rate]):")
    if "audio_error" in data:
        lines.append(f"  (unavailable: {data['audio_error']})")
    else:
        devices = data["audio_outputs"]
        lines += [
            f"  {d['index']}: {d['name']} [{d['hostapi']}, {d['channels']} ch, "
            f"{d['default_rate']:g} Hz]"
            for d in devices
        ] or ["  (none; use --output none to record without a sound card)"]
    return lines


def run(args: argparse.Namespace) -> int:
    data = collect(args.midi_api)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(render(data)))
    return 0
