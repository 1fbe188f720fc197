"""``promptbridge run``: the daemon on real devices. Builds the parts and runs the loop.

Settings come from ``--rig FILE`` with flags winning; with no mapping the generic profile
is used; the engine is lyria when an API key is configured, else synth (the log says
which and why).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
from pathlib import Path
from typing import Any

from bridge.cli import setup_logging
from bridge.commands import magenta_flags
from bridge.config import default_mapping, load_mapping
from bridge.core.mapping import MappingSet
from bridge.daemon import Daemon, Parts, check_engine
from bridge.engines import create_engine, supports_of
from bridge.engines.base import Engine
from bridge.errors import ConfigError, Problem, SecretError
from bridge.rig import RigSettings, mapping_refs, merge, parse_rig, read_rig_text, rig_problems

log = logging.getLogger("promptbridge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_rig_arguments(parser)
    parser.add_argument(
        "--fresh",
        dest="_fresh",
        action="store_true",
        help="start from the mapping files, ignoring the saved state (it is overwritten)",
    )


def add_rig_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``run`` and ``demo``; each overrides the rig file's field."""
    a = parser.add_argument
    a("--rig", help="rig TOML file (engine, output, mappings, ...); flags win over it")
    a(
        "--mapping",
        dest="mappings",
        action="append",
        metavar="FILE",
        help="controller profile or performance file (repeatable; a bare name is a shipped "
        "profile, e.g. nanokontrol2); default: generic",
    )
    a(
        "--engine",
        choices=["auto", "synth", "lyria", "magenta"],
        help="auto = lyria when an API key is configured, else synth; magenta = Magenta RT "
        "on this machine (promptbridge[magenta])",
    )
    a("--url", help="Lyria-protocol websocket URL (Google's, or `promptbridge serve`)")
    a("--model", help="model name for the lyria engine (default models/lyria-realtime-exp)")
    a("--api-key-file", help="file holding the API key (must not be readable by others)")
    a("--api-key-env", help="environment variable holding the API key")
    _midi_arguments(parser)
    _audio_arguments(parser)
    _engine_arguments(parser)
    _service_arguments(parser)


def _midi_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--midi-api", choices=["auto", "alsa", "jack"], help="MIDI system (MIDO_BACKEND honored)")
    a(
        "--midi-in",
        action="append",
        metavar="PATTERN",
        help="input port pattern overriding the profile's match (repeatable; re:REGEX)",
    )
    a(
        "--no-virtual-port",
        dest="virtual_port",
        action="store_const",
        const=False,
        help="do not open the virtual 'PromptBridge' MIDI input",
    )


def _audio_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--output", help="audio output: index, exact name or substring; 'none' for no device")
    a("--channels", type=_channels, help="output channels, 1-based, e.g. 3,4")
    a("--latency", choices=["low", "balanced", "safe"], help="jitter-buffer preset")
    a("--gain", type=float, help="master gain 0..2")
    a("--stretch-limit", type=float, help="most the playout rate may move, 0..0.1 (0 = off)")
    a(
        "--no-conceal",
        dest="conceal",
        action="store_const",
        const=False,
        help="silence, not a loop of the last bar, when the stream runs dry",
    )
    a("--conceal-max", type=float, help="seconds a loop may stand in before fading out")
    a("--record", metavar="FILE.wav", help="write exactly what is played to a WAV file")


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--autoplay", action="store_const", const=True, help="press PLAY at start")
    a("--chunk-seconds", type=float, help="synth engine chunk length (0.02..4 s)")
    a(
        "--quantize",
        choices=["bar", "beat", "off"],
        help="bpm, scale, scenes, play/stop land on the heard grid's next bar or beat "
        "(the synth's mutes too with bar)",
    )
    a("--rotate-after", type=float, help="lyria: open the next session after N seconds")
    a(
        "--no-rotate",
        dest="rotate",
        action="store_const",
        const=False,
        help="lyria: never rotate sessions (your own `promptbridge serve` has no time cap)",
    )
    magenta_flags.add_arguments(parser)


def _service_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--state-file", help="where prompts/config/scene are saved (default: XDG state dir)")
    a("--status", metavar="HOST:PORT", help="serve the status API and page (loopback)")
    a("--status-token", help="token required by the status API (needed off loopback)")
    a("--osc", metavar="HOST:PORT", help="OSC in/out on this UDP address (loopback by default)")
    a(
        "--osc-allow",
        dest="osc_allow",
        action="append",
        metavar="ADDR",
        help="host or network allowed to send OSC from off loopback (repeatable)",
    )
    a(
        "--osc-client",
        dest="osc_clients",
        action="append",
        metavar="HOST:PORT",
        help="send OSC feedback to this surface (repeatable; surfaces may also /register)",
    )
    a("--clock-out", metavar="PATTERN", help="send MIDI clock to outputs matching PATTERN")
    a("--link", choices=["off", "follow", "lead"], help="Ableton Link (needs the [link] extra)")
    a("--log-level", choices=["debug", "info", "warning", "error"])
    a("--log-format", choices=["text", "json"])


def _channels(text: str) -> tuple[int, ...]:
    try:
        channels = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 3,4 (got {text!r})") from None
    if not channels or min(channels) < 1:
        raise argparse.ArgumentTypeError(f"channels are 1-based (got {text!r})")
    return channels


def settings_from(args: argparse.Namespace) -> tuple[RigSettings, Path | None]:
    rig_path = Path(args.rig) if args.rig else None
    text = read_rig_text(rig_path) if rig_path else ""
    base = parse_rig(text, str(rig_path)) if rig_path else RigSettings()
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    if overrides.get("mappings"):
        overrides["mappings"] = tuple(overrides["mappings"])
    for key in ("midi_in", "osc_allow", "osc_clients"):
        if overrides.get(key):
            overrides[key] = tuple(overrides[key])
    settings = merge(base, overrides)
    # The same whole-rig checks as `promptbridge check`, so both refuse the same files.
    problems = rig_problems(settings, str(rig_path) if rig_path else "command line", text)
    if problems:
        raise ConfigError(problems)
    return settings, rig_path


def mapping_from(settings: RigSettings, rig_path: Path | None) -> MappingSet:
    if not settings.mappings:
        return default_mapping()
    return load_mapping(mapping_refs(settings, rig_path))


def state_path(settings: RigSettings) -> Path:
    if settings.state_file:
        return Path(settings.state_file).expanduser()
    root = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(root) / "promptbridge" / "state.json"


def make_engine(settings: RigSettings) -> Engine:
    """The engine by name; ``auto`` picks lyria only when a key is configured."""
    from bridge.secrets import load_api_key

    name = settings.engine
    key: str | None = None
    if name in ("auto", "lyria"):
        try:
            env = None
            if settings.api_key_env:
                env = {"GEMINI_API_KEY": os.environ.get(settings.api_key_env, "")}
            key = load_api_key(settings.api_key_file, env)
        except SecretError:
            if name == "lyria" or settings.api_key_file:
                raise
            key = None
        local = settings.url.startswith(("ws://127.", "ws://localhost", "ws://[::1]"))
        if name == "auto":
            name = "lyria" if key else "synth"
            why = "an API key is configured" if key else "no API key is configured"
            log.info("engine: %s (%s)", name, why)
        elif key is None and not local:
            raise SecretError(
                "the lyria engine needs an API key: set GEMINI_API_KEY or "
                "api_key_file in the rig (see README, 'API key')"
            )
    if name == "lyria":
        return create_engine(
            "lyria",
            url=settings.url,
            model=settings.model,
            api_key=key,
            # no rotation = a rotation that is never due (the watchdog still replaces a
            # stalled session)
            rotate_after=settings.rotate_after if settings.rotate else math.inf,
            crossfade=settings.crossfade,
        )
    if name == "magenta":
        return create_engine("magenta", **magenta_flags.options(settings))
    # the synth's mutes land on its next beat, or bar when quantize = "bar" is asked for
    quantize = "bar" if settings.quantize == "bar" else "beat"
    return create_engine("synth", chunk_seconds=settings.chunk_seconds, quantize=quantize)


def make_parts_audio(settings: RigSettings, steer: bool = True) -> tuple[Any, Any]:
    """The player (and recorder, with --record) the settings ask for; ``steer=False``
    for an engine rendering on demand: its playout is not stretched (``Supports``)."""
    from bridge.audio.player import Player

    recorder = None
    if settings.record:
        from bridge.audio.recorder import Recorder

        recorder = Recorder(settings.record)
    player = Player(
        output=settings.output,
        latency=settings.latency,
        channels=settings.channels or None,
        gain=settings.gain,
        recorder=recorder,
        stretch_limit=settings.stretch_limit if steer else 0.0,
        conceal=settings.conceal,
        conceal_max=settings.conceal_max,
    )
    return player, recorder


def make_parts(settings: RigSettings, mapping: MappingSet) -> Parts:
    engine = make_engine(settings)
    player, recorder = make_parts_audio(settings, steer=not supports_of(engine).on_demand)
    hub = make_hub(settings, mapping)
    status = make_status_factory(settings) if settings.status else None
    clock_out, link = make_sync_parts(settings)
    return Parts(
        engine=engine,
        player=player,
        hub=hub,
        recorder=recorder,
        status=status,
        osc=make_osc_factory(settings) if settings.osc else None,
        clock_out=clock_out,
        link=link,
    )


def make_sync_parts(settings: RigSettings) -> tuple[Any, Any]:
    """The MIDI clock sender and the Link peer the settings ask for (or None)."""
    clock_out = link = None
    if settings.clock_out:
        from bridge.io.clock_out import ClockOut

        clock_out = ClockOut(settings.clock_out, settings.midi_api, settings.virtual_port)
    if settings.link != "off":
        from bridge.io.ableton import LinkSession

        link = LinkSession()  # DeviceError (how to install the extra) when it is missing
    return clock_out, link


def make_hub(settings: RigSettings, mapping: MappingSet) -> Any:
    from bridge.io.midi import MidiHub

    hub = MidiHub(api=settings.midi_api, virtual="PromptBridge" if settings.virtual_port else None)
    for index, controller in enumerate(mapping.controllers):
        if settings.midi_in:
            pattern = settings.midi_in[min(index, len(settings.midi_in) - 1)]
            hub.add_controller(controller.name, pattern, output=controller.output)
        else:
            hub.add_controller(controller)
    return hub


def make_status_factory(settings: RigSettings) -> Any:
    from bridge.status.server import StatusServer, parse_address

    try:
        host, port = parse_address(settings.status or "")
    except ValueError as exc:
        raise ConfigError(f"--status {settings.status!r}: {exc}") from None

    def factory(snapshot: Any, control: Any) -> Any:
        return StatusServer(host, port, settings.status_token, snapshot=snapshot, control=control)

    return factory


def make_osc_factory(settings: RigSettings) -> Any:
    """The OSC server the daemon starts beside the status server (``osc = "HOST:PORT"``)."""
    from bridge.io.osc import OscServer, rig_problems
    from bridge.status.server import parse_address

    problems = rig_problems(settings.osc or "", settings.osc_allow, settings.osc_clients)
    if problems:  # settings_from has said so already; parts built without it still refuse
        raise ConfigError([Problem("rig", None, key, why) for key, why in problems])
    host, port = parse_address(settings.osc or "")

    def factory(snapshot: Any, control: Any, bindings: Any) -> Any:
        return OscServer(
            host,
            port,
            snapshot,
            control,
            allow=settings.osc_allow,
            clients=settings.osc_clients,
            bindings=bindings,
        )

    return factory


def run(args: argparse.Namespace) -> int:
    settings, rig_path = settings_from(args)
    setup_logging(settings.log_level, settings.log_format)
    mapping = mapping_from(settings, rig_path)
    parts = make_parts(settings, mapping)
    check_engine(mapping, parts.engine)  # notes bindings need an engine that takes notes
    daemon = Daemon(
        settings,
        mapping,
        parts,
        rig_path=rig_path,
        state_path=state_path(settings),
        fresh=bool(getattr(args, "_fresh", False)),
    )
    return asyncio.run(daemon.run())
