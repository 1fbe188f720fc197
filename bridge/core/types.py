"""Plain values shared by the core, the engines and the adapters. No I/O.

These are the contracts between the parts of the data flow (see docs/design):

    MidiEvent ─▶ Mapper ─▶ Change ─▶ Performance ─▶ Outbox ─▶ Update ─▶ Engine ─▶ AudioChunk

* ``MidiEvent``: one complete MIDI channel/system message, already parsed.
* ``Change``: one request to change a *target* (see ``TARGETS`` below), in target units.
* ``Update``: one wire-level update an engine applies (``SetPrompts``, ``SetConfig``,
  ``Control``), mirroring the three Lyria client messages.
* ``AudioChunk``: float32 samples ``[frames, channels]`` at ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from bridge.core.space import SpaceSpec

SAMPLE_RATE = 48_000
CHANNELS = 2

# The model's scale enum. ``None`` in a GenerationConfig means "auto" (field omitted,
# SCALE_UNSPECIFIED): the model decides.
SCALES: tuple[str, ...] = (
    "C_MAJOR_A_MINOR",
    "D_FLAT_MAJOR_B_FLAT_MINOR",
    "D_MAJOR_B_MINOR",
    "E_FLAT_MAJOR_C_MINOR",
    "E_MAJOR_D_FLAT_MINOR",
    "F_MAJOR_D_MINOR",
    "G_FLAT_MAJOR_E_FLAT_MINOR",
    "G_MAJOR_E_MINOR",
    "A_FLAT_MAJOR_F_MINOR",
    "A_MAJOR_G_FLAT_MINOR",
    "B_FLAT_MAJOR_G_MINOR",
    "B_MAJOR_A_FLAT_MINOR",
)
SCALE_UNSPECIFIED = "SCALE_UNSPECIFIED"
MODES: tuple[str, ...] = ("QUALITY", "DIVERSITY", "VOCALIZATION")


class Playback(StrEnum):
    """The four playback controls of the protocol."""

    PLAY = "PLAY"
    PAUSE = "PAUSE"
    STOP = "STOP"
    RESET_CONTEXT = "RESET_CONTEXT"


@dataclass(frozen=True, slots=True)
class WeightedPrompt:
    """One prompt of the mix. ``weight`` is never 0 on the wire."""

    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """The whole musicGenerationConfig, snake_case. ``None`` means "auto": omitted on the wire."""

    temperature: float = 1.1
    top_k: int = 40
    seed: int | None = None
    guidance: float = 4.0
    bpm: int | None = None
    density: float | None = None
    brightness: float | None = None
    scale: str | None = None
    mute_bass: bool = False
    mute_drums: bool = False
    only_bass_and_drums: bool = False
    mode: str = "QUALITY"


# Range, type and default of every generation control, as a table (like mido's specs).
# kind: "float" | "int" | "bool" | "enum"; ``auto`` marks fields that may be None.
@dataclass(frozen=True, slots=True)
class ControlSpec:
    name: str
    wire: str
    kind: Literal["float", "int", "bool", "enum"]
    lo: float = 0.0
    hi: float = 1.0
    choices: tuple[str, ...] = ()
    auto: bool = False


CONFIG_SPECS: dict[str, ControlSpec] = {
    s.name: s
    for s in (
        ControlSpec("temperature", "temperature", "float", 0.0, 3.0),
        ControlSpec("top_k", "topK", "int", 1, 1000),
        ControlSpec("seed", "seed", "int", 0, 2_147_483_647, auto=True),
        ControlSpec("guidance", "guidance", "float", 0.0, 6.0),
        ControlSpec("bpm", "bpm", "int", 60, 200, auto=True),
        ControlSpec("density", "density", "float", 0.0, 1.0, auto=True),
        ControlSpec("brightness", "brightness", "float", 0.0, 1.0, auto=True),
        ControlSpec("scale", "scale", "enum", choices=SCALES, auto=True),
        ControlSpec("mute_bass", "muteBass", "bool"),
        ControlSpec("mute_drums", "muteDrums", "bool"),
        ControlSpec("only_bass_and_drums", "onlyBassAndDrums", "bool"),
        ControlSpec("mode", "musicGenerationMode", "enum", choices=MODES),
    )
}


# --- targets -------------------------------------------------------------------------
# A target is a string; the mapper emits Changes to targets, the Performance applies them,
# and the status API accepts the same names. N is a 1-based prompt slot number.
#
#   slot.N.weight     float, weight units (default range 0..2)
#   slot.N.text       str
#   config.<field>    a CONFIG_SPECS field; None = auto where the spec allows it
#   playback          "play" | "pause" | "toggle" | "stop" | "reset"
#   scene.recall      scene name (str) or 1-based index (int); Change.glide = seconds
#   scene.store       scene name or index
#   crossfader        float 0..1 (0 = deck A only, 1 = deck B only)
#   bank              int, 1-based bank/page number (the mapper also uses it itself)
#   tap_tempo         any value: one tap (the mapper turns taps into config.bpm)
#   master_volume     float 0..1 (local gain, never sent to the model)
#   record            "start" | "stop" | "toggle"
#   space.x|y|z       float 0..1: the position in the prompt space (bridge.core.space)
PLAYBACK_ACTIONS = ("play", "pause", "toggle", "stop", "reset")
RECORD_ACTIONS = ("start", "stop", "toggle")
SIMPLE_TARGETS = (
    "playback",
    "scene.recall",
    "scene.store",
    "crossfader",
    "bank",
    "tap_tempo",
    "master_volume",
    "record",
)
SPACE_TARGETS = ("space.x", "space.y", "space.z")
TARGETS_HELP = (
    "slot.N.weight",
    "slot.N.text",
    *(f"config.{n}" for n in CONFIG_SPECS),
    *SIMPLE_TARGETS,
    *SPACE_TARGETS,
)

ChangeValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class Change:
    """A request to set ``target`` to ``value`` (target units). ``glide`` in seconds."""

    target: str
    value: ChangeValue
    glide: float | None = None
    source: str = ""  # where it came from, for logs: "nanoKONTROL2 cc 0", "status", "scene"


# --- MIDI ----------------------------------------------------------------------------
MidiKind = Literal[
    "cc",
    "note_on",
    "note_off",
    "pitchbend",
    "aftertouch",
    "poly_aftertouch",
    "program",
    "clock",
    "start",
    "continue",
    "stop",
    "sysex",
]


@dataclass(frozen=True, slots=True)
class MidiEvent:
    """One parsed MIDI message from one input port.

    ``channel`` is 0..15 (-1 for system messages). ``number`` is the CC number, note or
    program (0 where meaningless). ``value`` is the CC value, velocity, pressure, or the
    pitch-bend value 0..16383 (centre 8192). A note-on with velocity 0 arrives as
    ``note_off``. ``port`` names the input it came from; ``time`` is the loop clock.
    """

    kind: MidiKind
    channel: int = 0
    number: int = 0
    value: int = 0
    port: str = ""
    time: float = 0.0
    data: bytes = b""  # raw bytes for sysex


# --- updates (what engines apply) ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class SetPrompts:
    """Replace the active prompt set. Never empty; no zero weights."""

    prompts: tuple[WeightedPrompt, ...]


@dataclass(frozen=True, slots=True)
class SetConfig:
    """Replace the whole generation config (the API resets omitted fields)."""

    config: GenerationConfig


@dataclass(frozen=True, slots=True)
class Control:
    """A playback control."""

    action: Playback


Update = SetPrompts | SetConfig | Control


# --- audio ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Float32 samples in -1..1, shape ``[frames, channels]``, at ``rate`` Hz."""

    samples: npt.NDArray[np.float32]
    rate: int = SAMPLE_RATE
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


# --- the set's content (compiled from a performance/profile file) --------------------
@dataclass(frozen=True, slots=True)
class SlotSpec:
    """One prompt slot: its text, initial weight, weight range, alternative texts."""

    text: str
    weight: float = 0.0
    lo: float = 0.0
    hi: float = 2.0
    texts: tuple[str, ...] = ()  # alternatives a control can step through (text included)


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """A named snapshot of prompt slots (1-based numbers) and optionally config fields.

    ``config`` holds only the fields the scene sets (snake_case names, None = auto).
    ``glide`` is the default recall time in seconds. ``position``: where in the prompt
    space the scene goes (None: it does not move the position).
    """

    name: str
    weights: dict[int, float] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    config: dict[str, ChangeValue] = field(default_factory=dict)
    glide: float = 0.0
    position: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class PerformanceSpec:
    """Everything the Performance starts from: slots, scenes, decks, initial config."""

    slots: tuple[SlotSpec, ...] = ()
    scenes: tuple[SceneSpec, ...] = ()
    deck_a: tuple[int, ...] = ()  # 1-based slot numbers blended by the crossfader
    deck_b: tuple[int, ...] = ()
    config: GenerationConfig = GenerationConfig()
    crossfader: float = 0.5
    space: SpaceSpec | None = None  # the prompt space, when the file has a [space]
