"""A fake Magenta RT 2 system: the real classes' signatures, a tiny deterministic model.

magenta-rt's weights cannot be downloaded here, and its classes cannot be built without
them, so the engine's tests run against these. ``FakeMagentaRT2Jax`` and
``FakeMagentaRT2Mlx`` have exactly the parameters of ``MagentaRT2Jax``/``MagentaRT2Mlx``
in magenta-rt 2.0.3 (``tests/test_magenta_fake.py`` compares them with the real ones
whenever the package is installed). What they do instead of a transformer:

* ``embed_style(text)``: a 768-dim unit vector seeded by the text; ``tokenize_style``:
  12 tokens 0..1023 read off the embedding (so a different blend gives other tokens).
* ``generate``: ``frames`` × 1920 stereo samples at 48 kHz: a sine whose pitch follows
  the style tokens (or the lowest held note of the pianoroll), with a click per drum
  frame; the state counts frames and keeps an id, so a fresh context is visible.
  Every call is recorded (conditioning, frames, state id, thread name); ``delay`` seconds
  per frame of blocking sleep simulate a slow model.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLES_PER_FRAME = 1920
STYLE_KEY = "mulan_tokens_25hz"
NOTES_KEY = "pianoroll_with_onsets_tokens"
DRUMS_KEY = "drum_pianoroll_tokens"


class Waveform:
    """Like ``magenta_rt.audio.Waveform``: float32 ``samples [n, ch]`` and a rate."""

    def __init__(self, samples: np.ndarray, sample_rate: int) -> None:
        self.samples = samples
        self.sample_rate = sample_rate


@dataclass
class Call:
    conditioning: dict[str, Any]
    cfg_scales: dict[str, float] | None
    temperature: float | None
    top_k: int | None
    frames: int
    state_id: int | None  # None: a fresh context was asked for
    thread: str


@dataclass
class FakeState:
    id: int
    frames: int = 0


@dataclass
class _Model:
    delay: float = 0.0
    calls: list[Call] = field(default_factory=list)
    embeds: list[str] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)
    contexts: int = 0


class _FakeSystem:
    def _setup(self, size: str, checkpoint: str | None) -> None:
        self.size = size
        self.checkpoint = checkpoint
        self.model = _Model()
        self.model.threads.add(threading.current_thread().name)

    def embed_style(
        self,
        text_or_audio: Any,
        pool_across_time: bool = True,
        use_mapper: bool = False,
        seed: int = 0,
    ) -> np.ndarray:
        self.model.threads.add(threading.current_thread().name)
        self.model.embeds.append(str(text_or_audio))
        rng = np.random.default_rng(sum(str(text_or_audio).encode()) * 7919 + seed)
        vector = rng.standard_normal(768).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def tokenize_style(self, embedding: np.ndarray) -> np.ndarray:
        self.model.threads.add(threading.current_thread().name)
        head = np.asarray(embedding, dtype=np.float64)[:12]
        return (np.floor((np.tanh(head * 8) + 1) * 511.5)).astype(np.int32)

    def generate(
        self,
        conditioning: dict[str, list[int] | np.ndarray] | None = None,
        cfg_scales: dict[str, float] | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        frames: int = 25,
        state: Any = None,
    ) -> tuple[Waveform, Any]:
        model = self.model
        thread = threading.current_thread().name
        model.threads.add(thread)
        conditioning = dict(conditioning or {})
        given = state.id if isinstance(state, FakeState) else None
        call = Call(conditioning, cfg_scales, temperature, top_k, frames, given, thread)
        model.calls.append(call)
        if model.delay:
            time.sleep(model.delay * frames)
        if state is None:
            model.contexts += 1
            state = FakeState(model.contexts)
        start = state.frames
        state.frames += frames
        return Waveform(_audio(conditioning, start, frames), 48_000), state


def _audio(conditioning: dict[str, Any], start: int, frames: int) -> np.ndarray:
    n = frames * SAMPLES_PER_FRAME
    t = (np.arange(n) + start * SAMPLES_PER_FRAME) / 48_000
    tokens = conditioning.get(STYLE_KEY)
    freq = 110.0 + (float(np.sum(tokens)) % 880.0 if tokens is not None else 0.0)
    notes = conditioning.get(NOTES_KEY)
    if notes is not None:
        playing = [p for p, v in enumerate(notes) if v in (1, 2)]
        if playing:
            freq = 440.0 * 2 ** ((min(playing) - 69) / 12)
    mono = 0.4 * np.sin(2 * np.pi * freq * t)
    if conditioning.get(DRUMS_KEY) == [1]:
        for f in range(frames):
            mono[f * SAMPLES_PER_FRAME : f * SAMPLES_PER_FRAME + 48] += 0.5
    return np.stack([mono, mono], axis=1).astype(np.float32)


class FakeMagentaRT2Jax(_FakeSystem):
    """``magenta_rt.MagentaRT2Jax``'s constructor, a fake model."""

    def __init__(
        self,
        size: str = "mrt2_base",
        style_model: Any = None,
        checkpoint: str | None = None,
        temperature: float = 1.3,
        top_k: int = 40,
        cfg_scales: dict[str, float] | None = None,
    ) -> None:
        self._setup(size, checkpoint)


class FakeMagentaRT2Mlx(_FakeSystem):
    """``magenta_rt.MagentaRT2Mlx``'s constructor, a fake model."""

    def __init__(
        self,
        size: str = "mrt2_base",
        style_model: Any = None,
        checkpoint: str | None = None,
        temperature: float = 1.3,
        top_k: int = 40,
        cfg_scales: dict[str, float] | None = None,
        bits: int | None = 8,
        quantize_group_size: int | None = None,
    ) -> None:
        self._setup(size, checkpoint)
