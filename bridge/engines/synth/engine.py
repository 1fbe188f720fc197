"""The embedded engine: ``Synth`` (pure, synchronous) and ``SynthEngine`` (the async Engine).

``Synth`` is the whole musical machine as plain state: it takes updates and renders
frames, no I/O, no threads, no clock. It renders one *beat* at a time onto a canvas
(notes ring past the beat they start in), so chunk boundaries fall anywhere without a
seam and every change lands on a musical boundary:

* config fields (density, brightness, mutes, temperature, ...) at the next beat;
* prompts, seed, guidance at the next bar (with guidance-dependent glide over bars);
* bpm and scale only when a context starts: at the first PLAY, STOP then PLAY, or
  RESET_CONTEXT (applied at the next beat, or the next bar with ``bar_resets``: the
  synth knows its bars, so a quantized reset is heard on a bar line), like the real model.

It knows its beat grid exactly and says so: every chunk's ``meta["grid"]`` lists the
contexts that sound in it as ``[frame offset of the context's downbeat from the chunk's
first frame, bpm]`` (bars of ``BEATS`` beats), the last one governing the chunk's end.

``SynthEngine`` wraps it in the Engine interface: playback state (PLAY/PAUSE/STOP),
an async ``chunks()`` stream generated on demand with the DSP in ``asyncio.to_thread``,
and a synchronous ``render_chunk()`` for offline rendering and benchmarks.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from bridge.core.playback import PlayState, after
from bridge.core.types import (
    SCALES,
    AudioChunk,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    Update,
    WeightedPrompt,
)
from bridge.engines.synth import instruments, patterns, voices
from bridge.engines.synth.patterns import BEATS, Controls, Event, Phrase
from bridge.engines.synth.style import Style, blend, interpolate
from bridge.engines.synth.voices import F32, SR

# Controls that only move the stream's state; the synth hears STOP and RESET_CONTEXT.
_STATE_ONLY = (Playback.PLAY, Playback.PAUSE)

CANVAS_S = 10.0  # longest note (6 s) + the beat being rendered + SHIFT_S, with room to spare
SHIFT_S = 2.0  # move the canvas back once the head passes this point
MASTER = 0.7


def resolve_seed(config_seed: int | None, engine_seed: int | None) -> int:
    """The seed in use: the config's, else one derived from the engine's own seed option."""
    if config_seed is not None:
        return int(config_seed)
    base = 0 if engine_seed is None else int(engine_seed)
    digest = hashlib.sha256(f"promptbridge-synth:{base}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def glide_bars(guidance: float) -> int:
    """Bars a prompt change takes to arrive: 4 at guidance 0, 1 at 4, 0 (abrupt) at 6."""
    return round(4.0 * (1.0 - min(max(guidance, 0.0), 6.0) / 6.0))


class Synth:
    """The deterministic generator: updates in, stereo float32 frames out."""

    def __init__(self, seed: int | None = None) -> None:
        self.engine_seed = seed
        self.prompts: tuple[WeightedPrompt, ...] = ()
        self.config = GenerationConfig()
        self._pending: list[Update] = []
        self._style: Style | None = None
        self._origin: Style | None = None
        self._target: Style | None = None
        self._glide = (0, 0)
        self._canvas = np.zeros((int(CANVAS_S * SR), 2), dtype=np.float32)
        self._send = np.zeros(int(CANVAS_S * SR), dtype=np.float32)
        self._out = np.zeros((0, 2), dtype=np.float32)
        self._reverb = voices.Reverb()
        self._limiter = voices.Limiter()
        self.position = 0  # absolute frames rendered (canvas head)
        self.chunks_rendered = 0
        self._bar = 0
        self._beat = 0
        self._clock = 0.0
        self._controls_seed = -1
        self._phrase: Phrase | None = None
        self._events: tuple[Event, ...] = ()
        self._context_pending = True
        self._bar_reset = False  # a RESET_CONTEXT waiting for the next bar line
        self.bar_resets = False
        self.emitted = 0  # frames handed out by render (the chunk stream's position)
        self.contexts: list[tuple[int, int]] = []  # (first frame, bpm), newest last
        self._origin_frames = 0  # absolute frame of canvas index 0
        self._extent = 0  # canvas frames (from index 0) that may hold sound
        self.bpm = 120  # of the current context (bpm/scale change only with a new context)
        self.tonic = 0
        self.minor = False
        self._stop()

    # --- updates ---------------------------------------------------------------------
    def apply(self, update: Update) -> None:
        """Queue an update; it takes effect at the next beat (see the module docstring)."""
        self._pending.append(update)

    def _drain(self) -> None:
        pending, self._pending = self._pending, []
        for update in pending:
            if isinstance(update, SetPrompts):
                self.prompts = tuple(update.prompts)
                self._retarget()
            elif isinstance(update, SetConfig):
                guidance_changed = update.config.guidance != self.config.guidance
                self.config = update.config
                if guidance_changed:
                    self._retarget()
            elif isinstance(update, Control):
                if update.action is Playback.STOP:
                    self._stop()
                elif update.action is Playback.RESET_CONTEXT:
                    self._new_context()
                    self._bar_reset = self.bar_resets and self._style is not None

    def _retarget(self) -> None:
        """Start gliding toward the style of the current prompts (from the next bar)."""
        if not self.prompts:
            return
        target = blend(self.prompts, self.config.guidance)
        if self._style is None:  # the first prompts: no glide, and a context starts
            self._style = self._target = target
            self._glide = (0, 0)
            self._context_pending = True
            return
        self._origin = self._style
        self._target = target
        self._glide = (0, glide_bars(self.config.guidance))

    def _stop(self) -> None:
        """Forget everything that sounds: tails, reverb, limiter; the next beat starts a context."""
        self._canvas[:] = 0.0
        self._send[:] = 0.0
        self._out = np.zeros((0, 2), dtype=np.float32)
        self._reverb.reset()
        self._limiter.reset()
        self.position = 0  # a stopped stream starts again from nothing: bit-identical
        self.emitted = 0
        self.contexts = []
        self._origin_frames = 0
        self._extent = 0
        self._style = None
        self._retarget()
        self._new_context()

    def _new_context(self) -> None:
        """Restart the patterns at bar 0; bpm and scale are read now (and only now)."""
        self._context_pending = True

    def _start_context(self) -> None:
        self._context_pending = self._bar_reset = False
        self._bar = 0
        self._beat = 0
        self._clock = float(self.position)
        self._controls_seed = -1
        self._phrase = None
        self._events = ()
        style = self._style
        if style is None:
            return
        self.bpm = self.config.bpm or round(style["tempo"])
        self.tonic, self.minor = self._key(style)
        self.contexts = [*self.contexts[-3:], (self.position, self.bpm)]

    def _key(self, style: Style) -> tuple[int, bool]:
        """(tonic pitch class, minor?) from config.scale, else from the style (seeded if flat)."""
        minor = style["minor"] >= 0.5
        if self.config.scale in SCALES:
            major = SCALES.index(self.config.scale)
        else:
            dist = style.dist("key")
            if float(dist.max() - dist.min()) < 1e-6:
                major = int(np.random.default_rng(self.seed).integers(12))
            else:
                major = int(np.argmax(dist))
                return major, minor  # a prompt named the tonic itself
        return ((major + 9) % 12 if minor else major), minor

    @property
    def seed(self) -> int:
        return resolve_seed(self.config.seed, self.engine_seed)

    # --- rendering -------------------------------------------------------------------
    def render(self, frames: int) -> F32:
        """The next ``frames`` stereo frames (silence while no prompt was ever given)."""
        while len(self._out) < frames:
            self._render_beat()
        out, self._out = self._out[:frames], self._out[frames:]
        self.chunks_rendered += 1
        self.emitted += frames
        return out

    def grid(self, first: int, frames: int) -> list[list[int]]:
        """The contexts sounding in frames ``first..first+frames`` of the stream, as
        ``[downbeat offset from first, bpm]`` (see the module docstring)."""
        sounding = [c for c in self.contexts if c[0] < first + frames]
        before = [c for c in sounding if c[0] <= first][-1:]
        inside = [c for c in sounding if c[0] > first]
        return [[start - first, bpm] for start, bpm in before + inside]

    def _controls(self) -> Controls:
        cfg = self.config
        style = self._style
        density = cfg.density if cfg.density is not None else (style["density"] if style else 0.5)
        return Controls(
            seed=self.seed,
            density=float(density),
            temperature=float(cfg.temperature),
            top_k=int(cfg.top_k),
            mode=cfg.mode,
            tonic=self.tonic,
            minor=self.minor,
        )

    def _start_bar(self) -> None:
        """Advance the style glide and plan the bar's events."""
        origin, target = self._origin, self._target
        if self._style is None or target is None:
            return
        step, total = self._glide
        if step < total and origin is not None:
            step += 1
            style = interpolate(origin, target, step / total)
            self._glide = (step, total)
        else:
            style = target
        self._style = style
        c = self._controls()
        if self._phrase is None or c.seed != self._controls_seed:
            self._phrase = patterns.first_phrase(style, c)
            self._controls_seed = c.seed
        self._phrase = patterns.next_phrase(self._phrase, style, c, self._bar)
        self._events = patterns.plan_bar(self._phrase, style, c, self._bar)

    def _render_beat(self) -> None:
        self._drain()
        if self._context_pending and not (self._bar_reset and self._beat != 0):
            self._start_context()
        style = self._style
        fpb = 60.0 * SR / (self.bpm if style is not None else 120)
        frames = round(self._clock + fpb) - self.position
        head = self.position - self._origin_frames
        if style is not None:
            if self._beat == 0:
                self._start_bar()
                style = self._style or style
            self._play_beat(style, fpb, head, frames)
        dry = self._canvas[head : head + frames].copy()
        wet = self._reverb.process(self._send[head : head + frames])
        wet_gain = 0.5 * (style["space"] if style else 0.0)
        mix = ((dry + wet * np.float32(wet_gain)) * np.float32(MASTER)).astype(np.float32)
        drive = style["drive"] if style else 0.0
        if drive > 0.05:  # saturation: blend in a tanh-shaped copy (the style's grit)
            shaped = np.tanh(mix * np.float32(2.0)) * np.float32(0.5)
            mix = (mix + np.float32(drive) * (shaped - mix)).astype(np.float32)
        self._out = np.concatenate([self._out, self._limiter.process(mix)])
        self._clock += fpb
        self.position += frames
        self._beat = (self._beat + 1) % BEATS
        self._bar += self._beat == 0
        self._maybe_shift()

    def _maybe_shift(self) -> None:
        """Slide the canvas back so the head stays near the start (tails move with it)."""
        head = self.position - self._origin_frames
        if head < SHIFT_S * SR:
            return
        used = max(self._extent, head)  # only the written part needs moving
        self._canvas[: used - head] = self._canvas[head:used]
        self._canvas[used - head : used] = 0.0
        self._send[: used - head] = self._send[head:used]
        self._send[used - head : used] = 0.0
        self._extent = used - head
        self._origin_frames = self.position

    def _tone(self, style: Style, fpb: float) -> instruments.Tone:
        cfg = self.config
        only = cfg.only_bass_and_drums
        brightness = cfg.brightness if cfg.brightness is not None else style["brightness"]
        return instruments.Tone(
            brightness=float(brightness),
            bass_tone=style["bass_tone"],
            pad_tone=style["pad_tone"],
            lead_tone=style["lead_tone"],
            acoustic=style["acoustic"],
            frames_per_beat=fpb,
            drums=0.0 if cfg.mute_drums else 0.5 + 0.5 * style["drums"],
            bass=0.0 if cfg.mute_bass else 0.5 + 0.5 * style["bass"],
            pads=0.0 if only else 0.3 + 0.7 * style["pads"],
            lead=0.0 if only else 0.3 + 0.7 * style["lead"],
            texture=0.0 if only else style["texture"],
            vocal=cfg.mode == "VOCALIZATION",
        )

    def _play_beat(self, style: Style, fpb: float, head: int, frames: int) -> None:
        """Write this beat's sounding events and the texture onto the canvas."""
        tone = self._tone(style, fpb)
        density = self._controls().density
        levels = {"bass": tone.bass, "pad": tone.pads, "lead": tone.lead}
        for event in self._events:
            if not (self._beat <= event.start < self._beat + 1):
                continue
            if levels.get(event.layer, tone.drums) <= 0 or not event.sounds(density):
                continue
            offset = head + round((event.start - self._beat) * fpb)
            sound = instruments.render(event, tone)
            end = min(offset + len(sound), len(self._canvas))
            self._extent = max(self._extent, end)
            self._canvas[offset:end] += sound[: end - offset]
            send = instruments.SENDS.get(event.layer, 0.0)
            if send:
                self._send[offset:end] += sound[: end - offset, 0] * np.float32(send)
        if tone.texture > 0:
            bright_q = voices._q(tone.brightness, 8)
            air = voices.texture(bright_q, self.position, frames)
            # A slow swell (8 s period), ramped across the beat so the level never jumps.
            ends = (self.position, self.position + frames)
            start, stop = (0.7 + 0.3 * float(np.sin(2 * np.pi * p / (8 * SR))) for p in ends)
            ramp = np.linspace(start, stop, frames, dtype=np.float32)[:, None]
            ramp = ramp * np.float32(0.05 * tone.texture)
            self._canvas[head : head + frames] += air * ramp
            self._extent = max(self._extent, head + frames)

    # --- status ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        style = self._style
        return {
            "seed": self.seed,
            "bpm": self.bpm if style is not None else None,
            "key": self.tonic if style is not None else None,
            "minor": self.minor if style is not None else None,
            "bar": self._bar,
            "groove": self._phrase.groove if self._phrase else None,
            "bassline": self._phrase.bassline if self._phrase else None,
            "position_s": round(self.position / SR, 3),
        }


class SynthEngine:
    """The Engine interface around ``Synth``: playback semantics of the real model."""

    name = "synth"

    def __init__(
        self, chunk_seconds: float = 2.0, seed: int | None = None, bar_resets: bool = False
    ) -> None:
        if not 0.05 <= chunk_seconds <= 10.0:
            raise ValueError(f"chunk_seconds must be in 0.05..10 (got {chunk_seconds})")
        self.chunk_frames = round(chunk_seconds * SR)
        self.synth = Synth(seed)
        self.synth.bar_resets = bar_resets
        self.state = PlayState.STOPPED  # moved only by the one table (core/playback)
        self.started = False
        self.closed = False
        self._queue: list[Update] = []
        self._generation = 0  # bumped by STOP: a chunk rendered across it is dropped
        self._held: AudioChunk | None = None  # rendered when PAUSE arrived; played on PLAY
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self.started = True

    async def apply(self, update: Update) -> None:
        self.apply_now(update)

    def apply_now(self, update: Update) -> None:
        """Apply an update synchronously (the async ``apply`` calls this)."""
        if isinstance(update, Control):
            self.state = after(self.state, update.action)
            if update.action is Playback.STOP:
                self._generation += 1  # a chunk rendering now never plays
                self._held = None
        if not (isinstance(update, Control) and update.action in _STATE_ONLY):
            self._queue.append(update)  # the synth itself hears prompts, config, stop, reset
        self._wake.set()

    def _flush(self) -> None:
        """Hand queued updates to the synth (only between renders: it is not thread-safe)."""
        for update in self._queue:
            self.synth.apply(update)
        self._queue.clear()

    def _playable(self) -> bool:
        return self.state is PlayState.PLAYING and bool(self.synth.prompts or self._has_prompts())

    def _has_prompts(self) -> bool:
        return any(isinstance(u, SetPrompts) for u in self._queue)

    def render_chunk(self) -> AudioChunk:
        """Render the next chunk now, whatever the playback state (offline use)."""
        self._flush()
        return self._chunk(self.synth.render(self.chunk_frames))

    def _chunk(self, samples: F32) -> AudioChunk:
        synth = self.synth
        meta = {
            "prompts": [{"text": p.text, "weight": p.weight} for p in synth.prompts],
            "seed": synth.seed,
            "bpm": synth.bpm,
            "grid": synth.grid(synth.emitted - len(samples), len(samples)),
        }
        return AudioChunk(samples=samples, meta=meta)

    async def chunks(self) -> AsyncIterator[AudioChunk]:
        while not self.closed:
            if not self._playable():
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._held is not None:
                held, self._held = self._held, None
                yield held
                continue
            self._flush()
            generation = self._generation
            samples = await asyncio.to_thread(self.synth.render, self.chunk_frames)
            if generation != self._generation or self.closed:
                continue  # STOP arrived while rendering: this audio never plays
            chunk = self._chunk(samples)
            if self.state is PlayState.PAUSED:
                self._held = chunk
                continue
            yield chunk

    async def close(self) -> None:
        self.closed = True
        self._wake.set()

    def status(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "state": self.state,
            "chunk_seconds": self.chunk_frames / SR,
            "prompts": [{"text": p.text, "weight": p.weight} for p in self.synth.prompts],
            **self.synth.status(),
        }
