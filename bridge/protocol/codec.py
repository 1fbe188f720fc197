"""The Lyria RealTime wire codec, both directions. Pure: no I/O, no clock, never raises on
bad input from the peer.

Theory of operation (sans-I/O, like websockets' ``protocol.py``): the adapters own the
sockets; they hand every received frame (``str`` or ``bytes``) to a decoder and get back a
list of frozen-dataclass events, and they ask the encoders for the text or bytes to send.

Client side (``bridge.engines.lyria``)::

    encode_setup(model) / encode_update(update)          -> JSON text frame
    ServerDecoder().receive(frame)                       -> [SetupComplete | AudioChunks |
                                                             FilteredPrompt | UnknownKeys |
                                                             ProtocolErrorEvent]

Server side (``bridge.server``)::

    decode_client(frame)                                 -> Setup | SetPrompts | SetConfig |
                                                            Control | ProtocolErrorEvent
    encode_setup_complete() / encode_audio(...) / encode_filtered(...)

A malformed frame from the peer becomes a ``ProtocolErrorEvent`` (the client drops it and
keeps streaming; the server closes with 1007). Our own misuse (an empty prompt set, a value
out of range) raises ``LocalProtocolError``: that is a bug on our side.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.core.config_values import check_config_value
from bridge.core.types import (
    CONFIG_SPECS,
    AudioChunk,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    Update,
    WeightedPrompt,
)
from bridge.errors import LocalProtocolError

DEFAULT_MODEL = "models/lyria-realtime-exp"
API_VERSIONS = ("v1alpha", "v1beta")


def service_path(version: str = "v1alpha") -> str:
    """The websocket path of the music service (Google's, and ``serve``'s)."""
    return f"/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateMusic"


SERVICE_PATH = service_path()
MIME_PREFIXES = ("audio/l16", "audio/pcm")
# A control's value on the wire is its enum name; the SDK sends the same strings.
PLAYBACK_VALUES = {p.value: p for p in Playback}


# --- events ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SetupComplete:
    """The server accepted ``setup``: the session may now receive prompts, config, play."""


@dataclass(frozen=True, slots=True)
class AudioChunks:
    """One ``serverContent`` frame: its chunks, in order, each with its sourceMetadata."""

    chunks: tuple[AudioChunk, ...]


@dataclass(frozen=True, slots=True)
class FilteredPrompt:
    """The safety filter ignored ``text``; ``reason`` is the server's explanation."""

    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class UnknownKeys:
    """Top-level keys this codec does not know (each reported once per decoder)."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProtocolErrorEvent:
    """The peer sent something unusable; ``message`` says what (no payload quoted)."""

    message: str


@dataclass(frozen=True, slots=True)
class Setup:
    """The client's first frame: which model it wants."""

    model: str


ServerEvent = SetupComplete | AudioChunks | FilteredPrompt | UnknownKeys | ProtocolErrorEvent
ClientEvent = Setup | SetPrompts | SetConfig | Control | ProtocolErrorEvent


class _Bad(Exception):
    """Internal: a malformed frame; turned into a ProtocolErrorEvent at the codec's edge."""


# --- client → server: encode ------------------------------------------------------------
def normalize_model(model: str) -> str:
    """A bare model name gets the ``models/`` prefix, as the SDK does."""
    if not model or not model.strip():
        raise LocalProtocolError("model name must not be empty")
    model = model.strip()
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def encode_setup(model: str = DEFAULT_MODEL) -> str:
    """The first frame of every session."""
    return _dumps({"setup": {"model": normalize_model(model)}})


def encode_update(update: Update) -> str:
    """One Update as one JSON text frame with exactly one top-level key."""
    if isinstance(update, SetPrompts):
        return _dumps({"clientContent": prompts_to_wire(update.prompts)})
    if isinstance(update, SetConfig):
        return _dumps({"musicGenerationConfig": config_to_wire(update.config)})
    if isinstance(update, Control):
        return _dumps({"playbackControl": Playback(update.action).value})
    raise LocalProtocolError(f"not an Update: {type(update).__name__}")


def prompts_to_wire(prompts: tuple[WeightedPrompt, ...]) -> dict[str, Any]:
    """``{"weightedPrompts": [...]}``; the API rejects an empty set and zero weights."""
    if not prompts:
        raise LocalProtocolError("prompt set must not be empty")
    wire = []
    for p in prompts:
        if p.weight == 0 or not math.isfinite(p.weight):
            raise LocalProtocolError(f"prompt weight must be non-zero and finite, got {p.weight}")
        wire.append({"text": p.text, "weight": float(p.weight)})
    return {"weightedPrompts": wire}


def config_to_wire(config: GenerationConfig) -> dict[str, Any]:
    """The whole config, lowerCamelCase; ``None`` (auto) fields are omitted."""
    wire: dict[str, Any] = {}
    for spec in CONFIG_SPECS.values():
        value = getattr(config, spec.name)
        if value is None:
            continue
        _check_value(spec.name, value)
        if spec.kind == "float":
            value = float(value)
        elif spec.kind == "int":
            value = int(value)
        wire[spec.wire] = value
    return wire


def _check_value(name: str, value: Any) -> None:
    checked = check_config_value(CONFIG_SPECS[name], value, strict=True)
    if not checked.ok:
        raise LocalProtocolError(f"{name} {checked.problem} (allowed {checked.allowed})")


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


# --- server → client: decode ------------------------------------------------------------
@dataclass
class ServerDecoder:
    """Decodes server frames into events. Remembers which unknown keys it already reported."""

    seen_unknown: set[str] = field(default_factory=set)

    def receive(self, frame: str | bytes) -> list[ServerEvent]:
        """All events of one frame; a bad frame yields one ProtocolErrorEvent instead."""
        try:
            message = _loads(frame)
            return self._events(message)
        except _Bad as exc:
            return [ProtocolErrorEvent(str(exc))]

    def _events(self, message: dict[str, Any]) -> list[ServerEvent]:
        events: list[ServerEvent] = []
        unknown: list[str] = []
        for key, value in message.items():
            if key == "setupComplete":
                events.append(SetupComplete())
            elif key == "serverContent":
                events.append(_decode_server_content(value))
            elif key == "filteredPrompt":
                events.append(_decode_filtered(value))
            elif key not in self.seen_unknown:
                unknown.append(key)
        if unknown:
            self.seen_unknown.update(unknown)
            events.append(UnknownKeys(tuple(unknown)))
        return events


def _loads(frame: str | bytes) -> dict[str, Any]:
    """Text or binary (UTF-8) JSON object; anything else is a bad frame."""
    try:
        text = frame.decode("utf-8") if isinstance(frame, bytes | bytearray) else frame
        message = json.loads(text)
    except UnicodeDecodeError:
        raise _Bad("frame is not UTF-8") from None
    except ValueError:
        raise _Bad("frame is not valid JSON (torn or garbage)") from None
    if not isinstance(message, dict):
        raise _Bad(f"frame is a JSON {type(message).__name__}, not an object")
    return message


def _decode_server_content(value: Any) -> AudioChunks:
    if not isinstance(value, dict):
        raise _Bad("serverContent must be an object")
    raw_chunks = value.get("audioChunks", [])
    if not isinstance(raw_chunks, list):
        raise _Bad("serverContent.audioChunks must be a list")
    return AudioChunks(tuple(_decode_chunk(c) for c in raw_chunks))


def _decode_chunk(raw: Any) -> AudioChunk:
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), str):
        raise _Bad("audio chunk needs a base64 'data' string")
    rate, channels = parse_mime(raw.get("mimeType"))
    try:
        data = base64.b64decode(raw["data"], validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("audio chunk data is not valid base64") from None
    if len(data) % (2 * channels):
        raise _Bad(f"audio chunk of {len(data)} bytes is not whole {channels}-channel frames")
    samples = pcm16_to_float(data, channels)
    meta = raw.get("sourceMetadata")
    return AudioChunk(samples, rate, dict(meta) if isinstance(meta, dict) else {})


def parse_mime(mime: Any) -> tuple[int, int]:
    """``audio/l16;rate=48000;channels=2`` → (48000, 2); absent parameters default to that."""
    if not isinstance(mime, str):
        raise _Bad("audio chunk needs a mimeType string")
    kind, *params = (part.strip() for part in mime.lower().split(";"))
    if kind not in MIME_PREFIXES:
        raise _Bad(f"unsupported audio mimeType {kind[:40]!r}")
    values = {"rate": "48000", "channels": "2"}
    for param in params:
        name, _, value = param.partition("=")
        values[name.strip()] = value.strip()
    try:
        rate, channels = int(values["rate"]), int(values["channels"])
    except ValueError:
        raise _Bad("mimeType rate and channels must be integers") from None
    if not 8000 <= rate <= 192_000 or not 1 <= channels <= 8:
        raise _Bad("mimeType rate must be 8000..192000 and channels 1..8")
    return rate, channels


def _decode_filtered(value: Any) -> FilteredPrompt:
    if not isinstance(value, dict):
        raise _Bad("filteredPrompt must be an object")
    return FilteredPrompt(str(value.get("text", "")), str(value.get("filteredReason", "")))


# --- audio sample conversion -------------------------------------------------------------
def pcm16_to_float(data: bytes, channels: int) -> npt.NDArray[np.float32]:
    """Signed 16-bit little-endian interleaved PCM → float32 ``[frames, channels]``."""
    ints = np.frombuffer(data, dtype="<i2")
    return (ints.astype(np.float32) / 32768.0).reshape(-1, channels)


def float_to_pcm16(samples: npt.NDArray[np.floating[Any]]) -> bytes:
    """float ``[frames, channels]`` in -1..1 → interleaved int16 LE bytes (clipped)."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.round(scaled).astype("<i2").tobytes()


# --- client → server: decode (the serve side) --------------------------------------------
def decode_client(frame: str | bytes) -> ClientEvent:
    """One client frame → its event, or a ProtocolErrorEvent (the server closes with 1007)."""
    try:
        message = _loads(frame)
        if len(message) != 1:
            raise _Bad(f"a client frame needs exactly one top-level key, got {len(message)}")
        ((key, value),) = message.items()
        decoder = _CLIENT_DECODERS.get(key)
        if decoder is None:
            raise _Bad(f"unknown client message {key[:40]!r}")
        return decoder(value)
    except _Bad as exc:
        return ProtocolErrorEvent(str(exc))


def _decode_setup(value: Any) -> Setup:
    if not isinstance(value, dict) or not isinstance(value.get("model"), str):
        raise _Bad("setup needs a 'model' string")
    if not value["model"].strip():
        raise _Bad("setup.model must not be empty")
    return Setup(value["model"])


def _decode_client_content(value: Any) -> SetPrompts:
    """Prompts as sent; zero weights are kept here (the server decides what to play)."""
    if not isinstance(value, dict) or not isinstance(value.get("weightedPrompts"), list):
        raise _Bad("clientContent needs a 'weightedPrompts' list")
    prompts = []
    for raw in value["weightedPrompts"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("text", ""), str):
            raise _Bad("each weighted prompt needs a 'text' string")
        weight = raw.get("weight", 1.0)
        if not _is_number(weight) or not math.isfinite(weight):
            raise _Bad("each weighted prompt needs a numeric 'weight'")
        prompts.append(WeightedPrompt(raw.get("text", ""), float(weight)))
    return SetPrompts(tuple(prompts))


def _decode_config(value: Any) -> SetConfig:
    """The whole config; omitted fields take their defaults, as the API does."""
    if not isinstance(value, dict):
        raise _Bad("musicGenerationConfig must be an object")
    by_wire = {s.wire: s for s in CONFIG_SPECS.values()}
    fields: dict[str, Any] = {}
    for key, raw in value.items():
        spec = by_wire.get(key)
        if spec is None:
            raise _Bad(f"unknown musicGenerationConfig field {key[:40]!r}")
        fields[spec.name] = _config_value(spec.name, raw)
    return SetConfig(GenerationConfig(**fields))


def _config_value(name: str, raw: Any) -> Any:
    spec = CONFIG_SPECS[name]
    checked = check_config_value(spec, raw, strict=True)
    if not checked.ok:
        raise _Bad(f"{spec.wire} {checked.problem} (allowed {checked.allowed})")
    return checked.value


def _decode_playback(value: Any) -> Control:
    if value not in PLAYBACK_VALUES:
        raise _Bad(f"playbackControl must be one of {', '.join(PLAYBACK_VALUES)}")
    return Control(PLAYBACK_VALUES[value])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_CLIENT_DECODERS: dict[str, Callable[[Any], ClientEvent]] = {
    "setup": _decode_setup,
    "clientContent": _decode_client_content,
    "musicGenerationConfig": _decode_config,
    "playbackControl": _decode_playback,
}


# --- server → client: encode (the serve side) --------------------------------------------
def encode_setup_complete() -> str:
    return _dumps({"setupComplete": {}})


def encode_filtered(text: str, reason: str) -> str:
    return _dumps({"filteredPrompt": {"text": text, "filteredReason": reason}})


def mime_type(rate: int, channels: int) -> str:
    return f"audio/l16;rate={rate};channels={channels}"


def encode_audio(chunk: AudioChunk, source_metadata: dict[str, Any] | None = None) -> bytes:
    """One ``serverContent`` frame with one chunk, as UTF-8 JSON bytes (a binary frame)."""
    channels = int(chunk.samples.shape[1]) if chunk.samples.ndim == 2 else 1
    entry: dict[str, Any] = {
        "data": base64.b64encode(float_to_pcm16(chunk.samples)).decode("ascii"),
        "mimeType": mime_type(chunk.rate, channels),
    }
    if source_metadata is not None:
        entry["sourceMetadata"] = source_metadata
    return _dumps({"serverContent": {"audioChunks": [entry]}}).encode("utf-8")


def source_metadata(
    prompts: tuple[WeightedPrompt, ...], config: GenerationConfig
) -> dict[str, Any]:
    """What produced a chunk: the prompts and the config, in wire form."""
    wire_prompts = [{"text": p.text, "weight": p.weight} for p in prompts]
    return {
        "clientContent": {"weightedPrompts": wire_prompts},
        "musicGenerationConfig": config_to_wire(config),
    }
