"""``promptbridge demo``: the newcomer's first command. Plays a scripted performance.

A MIDI file of knob moves shipped in the package (bridge/data/demo.mid) goes through the
whole pipeline (mapper → performance → outbox → synth engine → jitter buffer → output) on
the generic profile. It plays to the default sound device, or, when there is none, records
to ``demo.wav``; it says what it is doing as it goes. No API key, controller or sound card
is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import time
from pathlib import Path

from bridge.cli import setup_logging
from bridge.commands.run import make_engine
from bridge.config import default_mapping
from bridge.core.types import Change
from bridge.daemon import Daemon, Parts
from bridge.engines import supports_of
from bridge.io.midifile import Timed, demo_script_path, read_script
from bridge.rig import RigSettings

log = logging.getLogger("promptbridge.demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=64.0, help="how long to play (64)")
    parser.add_argument(
        "--record",
        metavar="FILE.wav",
        help="also write what is played (default demo.wav when no device)",
    )
    parser.add_argument("--output", help="audio output (index, name, substring, or none)")
    parser.add_argument("--latency", choices=["low", "balanced", "safe"], default="low")
    parser.add_argument("--script", help="another MIDI file of knob moves to perform")
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )


def _pick_output(requested: str | None) -> str:
    if requested:
        return requested
    from bridge.audio.player import default_output_available

    return "default" if default_output_available() else "none"


def _say(started: float, text: str) -> None:
    print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)


# Targets worth a line of their own; slot weights and sweeps are already narrated.
_ANNOUNCED = ("playback", "config.mute_bass", "config.mute_drums")


def _announced(change: Change) -> bool:
    return change.target in _ANNOUNCED


async def _perform(daemon: Daemon, script: list[Timed], seconds: float) -> None:
    started = time.monotonic()
    for item in script:
        if item.at > seconds:
            break
        delay = started + item.at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if item.text:
            _say(started, item.text)
            for number in re.findall(r"slot (\d+)", item.text):
                text = daemon.current(f"slot.{number}.text")
                print(f"{'':9}slot {number} is {text!r}", flush=True)
        elif item.event is not None:
            daemon.on_midi(item.event)
    remaining = started + seconds - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)
    _say(started, "done")
    daemon.stop()


async def _main(args: argparse.Namespace) -> int:
    output = _pick_output(args.output)
    record = args.record or ("demo.wav" if output == "none" else None)
    settings = RigSettings(
        engine="synth",
        output=output,
        record=record,
        latency=args.latency,
        chunk_seconds=0.5,
        virtual_port=False,
    )
    mapping = default_mapping()
    from bridge.commands.run import make_parts_audio

    engine = make_engine(settings)
    player, recorder = make_parts_audio(settings, steer=not supports_of(engine).on_demand)
    parts = Parts(engine=engine, player=player, recorder=recorder)
    daemon = Daemon(settings, mapping, parts)
    started = time.monotonic()
    where = "the default sound device" if output == "default" else f"output {output!r}"
    if output == "none":
        where = "no sound device (none found)"
    _say(started, f"demo: embedded synth engine, generic profile, playing to {where}")
    if record:
        _say(started, f"recording to {record}")

    def narrate(change: Change) -> None:
        if _announced(change):  # say where the control left the target, not the raw value
            _say(started, f"  -> {change.target} = {daemon.current(change.target)}")

    daemon.on_change.append(narrate)
    path = Path(args.script) if args.script else demo_script_path()
    script = read_script(path)
    performer = asyncio.create_task(_perform(daemon, script, args.seconds))
    code = await daemon.run()
    performer.cancel()
    if record:
        _say(started, f"wrote {record}")
    return code


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
