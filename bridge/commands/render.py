"""``promptbridge render``: render prompts and controls to an audio file, with any engine.

Drives the engine exactly like the daemon does (start, prompts, whole config, PLAY, then
pull chunks) until the requested length is reached, and writes the file in the format
its extension names: ``.wav`` as 16-bit PCM with the stdlib ``wave`` module; ``.flac``,
``.ogg`` (Vorbis) and ``.mp3`` through ``soundfile`` (libsndfile, bundled in its wheels);
any other extension is refused before rendering. Without ``--seed`` a random seed is
drawn and printed, so every render can be repeated. Does file I/O (the output) and, with
``--engine lyria``, network I/O through that engine.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.commands import magenta_flags
from bridge.core.config_values import check_config_value
from bridge.core.types import (
    CONFIG_SPECS,
    MODES,
    SCALES,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.errors import BridgeError

HELP = "render prompts and controls to an audio file (.wav, .flac, .ogg, .mp3)"

# extension -> (libsndfile format, subtype); None = WAV through the stdlib.
FORMATS: dict[str, tuple[str, str] | None] = {
    ".wav": None,
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}
SEED_MAX = int(CONFIG_SPECS["seed"].hi)


def parse_prompt(text: str) -> WeightedPrompt:
    """``"deep house:1.0"`` -> WeightedPrompt; no ``:weight`` means weight 1.0.

    The part after the last colon is the weight when it is one word (``techno:loud`` is
    a weight that is not a number: an error); with spaces it belongs to the text
    (``ratio 3:2 groove``). A text ending in ``:word`` takes an explicit weight:
    ``genre:techno:1``.
    """
    body, sep, tail = text.rpartition(":")
    word = tail.strip()
    if not sep or (word and len(word.split()) > 1):
        body, word = text, ""  # no weight given, or a colon inside the text
    body = body.strip()
    if not body:
        raise argparse.ArgumentTypeError(f"prompt text is empty in {text!r}")
    try:
        weight = float(word) if word else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"prompt weight {word!r} is not a number in {text!r} (allowed TEXT or "
            f"TEXT:WEIGHT, e.g. '{body}:1.5'; for a text ending ':{word}' write '{text}:1')"
        ) from None
    if weight == 0 or not math.isfinite(weight):
        raise argparse.ArgumentTypeError(f"prompt weight must be non-zero (got {word!r})")
    return WeightedPrompt(text=body, weight=weight)


def _ranged(name: str) -> Any:
    """An argparse type checking ``name``'s value with the one config check (strict)."""
    spec = CONFIG_SPECS[name]

    def convert(text: str) -> float | int:
        try:
            value: float | int = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        checked = check_config_value(spec, value, strict=True)
        if not checked.ok:
            raise argparse.ArgumentTypeError(
                f"{checked.problem}: {text} (allowed {checked.allowed})"
            )
        result: float | int = checked.value
        return result

    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "output", help="file to write; its extension picks the format: " + ", ".join(FORMATS)
    )
    parser.add_argument(
        "--prompt",
        action="append",
        type=parse_prompt,
        required=True,
        metavar="TEXT[:WEIGHT]",
        help="a weighted prompt (repeatable), e.g. 'deep house:1.0'",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length (default 30)")
    parser.add_argument("--engine", default="synth", help="synth (default), lyria or magenta")
    parser.add_argument("--url", help="server URL for a websocket engine")
    parser.add_argument("--key-file", help="API key file (mode 600); default: GEMINI_API_KEY")
    parser.add_argument("--chunk-seconds", type=float, default=2.0, help="synth chunk length")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after (s)")
    parser.add_argument("--bpm", type=_ranged("bpm"), help="60..200 (default: auto)")
    parser.add_argument("--density", type=_ranged("density"), help="0..1 (default: auto)")
    parser.add_argument("--brightness", type=_ranged("brightness"), help="0..1 (default: auto)")
    parser.add_argument(
        "--scale", choices=SCALES, metavar="SCALE", help="e.g. C_MAJOR_A_MINOR (default: auto)"
    )
    parser.add_argument("--temperature", type=_ranged("temperature"), default=1.1)
    parser.add_argument("--top-k", type=_ranged("top_k"), default=40)
    parser.add_argument("--guidance", type=_ranged("guidance"), default=4.0)
    parser.add_argument(
        "--seed",
        type=_ranged("seed"),
        help="default: a random seed, printed so the render can be repeated",
    )
    parser.add_argument("--mute-bass", action="store_true")
    parser.add_argument("--mute-drums", action="store_true")
    parser.add_argument("--only-bass-and-drums", action="store_true")
    parser.add_argument("--mode", choices=MODES, default="QUALITY")
    magenta_flags.add_arguments(parser)


def config_from_args(args: argparse.Namespace) -> GenerationConfig:
    return GenerationConfig(
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        guidance=args.guidance,
        bpm=args.bpm,
        density=args.density,
        brightness=args.brightness,
        scale=args.scale,
        mute_bass=args.mute_bass,
        mute_drums=args.mute_drums,
        only_bass_and_drums=args.only_bass_and_drums,
        mode=args.mode,
    )


async def render(
    engine_name: str,
    prompts: tuple[WeightedPrompt, ...],
    config: GenerationConfig,
    seconds: float,
    **options: Any,
) -> tuple[npt.NDArray[np.float32], int]:
    """Pull chunks from a fresh engine until ``seconds`` are rendered: (samples, rate)."""
    from bridge.engines import create_engine

    engine = create_engine(engine_name, **options)
    await engine.start()
    try:
        await engine.apply(SetPrompts(prompts))
        await engine.apply(SetConfig(config))
        await engine.apply(Control(Playback.PLAY))
        parts: list[npt.NDArray[np.float32]] = []
        got, rate = 0, 48_000
        async for chunk in engine.chunks():
            rate = chunk.rate
            parts.append(chunk.samples)
            got += chunk.frames
            if got >= seconds * rate:
                break
    finally:
        await engine.close()
    samples = np.concatenate(parts)[: round(seconds * rate)] if parts else np.zeros((0, 2))
    return samples.astype(np.float32), rate


def pcm16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Samples clipped to -1..1 as 16-bit integers (one conversion for every format)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")


def write_wav(path: Path, samples: npt.NDArray[np.float32], rate: int) -> None:
    """16-bit little-endian PCM."""
    pcm = pcm16(samples)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def output_format(path: Path) -> tuple[str, str] | None:
    """The (format, subtype) the extension asks for (None = WAV); BridgeError if none."""
    ext = path.suffix.lower()
    if ext not in FORMATS:
        got = repr(ext) if ext else "no extension"
        raise BridgeError(
            f"cannot write {path}: the format follows the extension "
            f"(got {got}; allowed {', '.join(FORMATS)})"
        )
    return FORMATS[ext]


def write_audio(path: Path, samples: npt.NDArray[np.float32], rate: int) -> None:
    """Write ``samples`` in the format ``path``'s extension names."""
    fmt = output_format(path)
    if fmt is None:
        write_wav(path, samples, rate)
        return
    try:
        import soundfile
    except ImportError:  # a venv from before soundfile became a dependency
        raise BridgeError(
            f"cannot write {path}: {fmt[0]} needs the soundfile package (pip install soundfile)"
        ) from None
    try:
        soundfile.write(str(path), pcm16(samples), rate, subtype=fmt[1], format=fmt[0])
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise BridgeError(f"cannot write {path} as {fmt[0]}: {exc}") from None


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The synth takes a chunk length; a websocket engine takes a URL and the API key."""
    if args.engine == "synth":
        return {"chunk_seconds": args.chunk_seconds}
    if args.engine == "magenta":
        return magenta_flags.options(args)
    from bridge.errors import SecretError
    from bridge.secrets import load_api_key

    key = load_api_key(args.key_file)
    local = bool(args.url) and args.url.startswith(("ws://127.", "ws://localhost", "ws://[::1]"))
    if key is None and not local:
        raise SecretError(
            f"the {args.engine} engine needs an API key: set GEMINI_API_KEY or give --key-file"
        )
    options: dict[str, Any] = {"api_key": key}
    if args.url:
        options["url"] = args.url
    return options


def run(args: argparse.Namespace) -> int:
    from bridge.engines import ENGINES

    if not args.seconds > 0:
        raise BridgeError(f"--seconds must be positive (got {args.seconds})")
    if args.engine not in ENGINES:
        allowed = ", ".join(sorted(ENGINES))
        raise BridgeError(f"unknown engine {args.engine!r} (allowed: {allowed})")
    options = engine_options(args)
    output = Path(args.output)
    output_format(output)  # refuse an unknown extension before rendering anything
    if not output.parent.is_dir():
        raise BridgeError(f"cannot write {output}: no directory {output.parent}")
    if args.seed is None:  # as the model does without a seed; printed to repeat it
        args.seed = secrets.randbelow(SEED_MAX + 1)
    coro = render(args.engine, tuple(args.prompt), config_from_args(args), args.seconds, **options)
    try:
        samples, rate = asyncio.run(asyncio.wait_for(coro, args.timeout))
    except TimeoutError:
        raise BridgeError(f"engine {args.engine!r} gave no audio within {args.timeout} s") from None
    except ValueError as exc:  # e.g. an unknown engine name
        raise BridgeError(str(exc)) from None
    write_audio(output, samples, rate)
    print(f"wrote {output} ({len(samples) / rate:.1f} s, {rate} Hz, seed {args.seed})")
    return 0
