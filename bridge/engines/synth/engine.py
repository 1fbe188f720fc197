"""The embedded engine: ``Synth`` (pure, synchronous) and ``SynthEngine`` (the async Engine).

``Synth`` is the whole musical machine as plain state: it takes updates and renders
frames, no I/O, no threads, no clock. It renders in short *blocks* (``BLOCK`` frames,
~43 ms, and never across a beat) onto the desk's canvas (``mixer``: notes ring past the
block they start in), so chunk boundaries fall anywhere without a seam and a change is
heard as soon as the next block:

* continuous controls (prompt weights and texts, brightness, density, temperature,
  top-k, guidance, mode) in the next block. Levels ramp across that block (no zipper
  noise, no click); a prompt change glides over ``glide_beats(guidance)`` beats; the
  notes starting from that block take the new tone; temperature, top-k and mode re-plan
  the rest of the bar, while the phrase choices (groove, bassline, progression) and the
  seed wait for the next bar;
* structural ones (the mutes, and RESET_CONTEXT with the bpm and scale it reads) on the
  next beat (``quantize="beat"``) or the next bar (``quantize="bar"``); a mute also cuts
  what still rings on its bus, under a one-block ramp;
* bpm and scale only when a context starts: at the first PLAY, STOP then PLAY, or
  RESET_CONTEXT, exactly like the real model.

It knows its beat grid exactly and says so: every chunk's ``meta["grid"]`` lists the
contexts sounding in it as ``[frame offset of the context's downbeat from the chunk's
first frame, bpm]`` (bars of ``BEATS`` beats), the last one governing the chunk's end
(the daemon times it to the sound card: ``bridge.sync``).

``SynthEngine`` wraps it in the Engine interface: playback state (PLAY/PAUSE/STOP),
an async ``chunks()`` stream generated on demand with the DSP in ``asyncio.to_thread``,
and a synchronous ``render_chunk()`` for offline rendering and benchmarks.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, Literal

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
from bridge.engines.synth import instruments, mixer, patterns, voices
from bridge.engines.synth.patterns import BEATS, Controls, Event, Phrase
from bridge.engines.synth.style import Style, blend, interpolate
from bridge.engines.synth.voices import F32, SR

# Controls that only move the stream's state; the synth hears STOP and RESET_CONTEXT.
_STATE_ONLY = (Playback.PLAY, Playback.PAUSE)

BLOCK = 2048  # frames per render block (~43 ms): how late a continuous control can land
# seconds per chunk: the player asks for one when its buffer is low, so the buffer swings
# by a chunk above its mark; 25 ms (half a block) keeps that swing, and so the knob-to-ear
# latency, short at ~40 chunks a second (each costs ~0.1 ms beyond its render)
DEFAULT_CHUNK = 0.025
Quantize = Literal["beat", "bar"]
QUANTIZE: tuple[Quantize, ...] = ("beat", "bar")


def resolve_seed(config_seed: int | None, engine_seed: int | None) -> int:
    """The seed in use: the config's, else one derived from the engine's own seed option."""
    if config_seed is not None:
        return int(config_seed)
    base = 0 if engine_seed is None else int(engine_seed)
    digest = hashlib.sha256(f"promptbridge-synth:{base}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def glide_beats(guidance: float) -> int:
    """Beats a prompt change takes to arrive: 4 at guidance 0, 1 at 4, 0 (abrupt) at 6."""
    return round(4.0 * (1.0 - min(max(guidance, 0.0), 6.0) / 6.0))


def with_mutes(config: GenerationConfig, source: GenerationConfig) -> GenerationConfig:
    """``config`` with the mutes of ``source`` (the fields that land on the boundary)."""
    return replace(
        config,
        mute_bass=source.mute_bass,
        mute_drums=source.mute_drums,
        only_bass_and_drums=source.only_bass_and_drums,
    )


class Synth:
    """The deterministic generator: updates in, stereo float32 frames out."""

    def __init__(self, seed: int | None = None, quantize: Quantize = "beat") -> None:
        if quantize not in QUANTIZE:
            raise ValueError(f"quantize must be one of {', '.join(QUANTIZE)} (got {quantize!r})")
        self.engine_seed = seed
        self.quantize = quantize
        self.prompts: tuple[WeightedPrompt, ...] = ()
        self.config = GenerationConfig()
        self._pending: list[Update] = []
        self._due: GenerationConfig | None = None  # its mutes wait for the boundary
        self._reset_due = False  # RESET_CONTEXT waiting for the boundary
        self._style: Style | None = None
        self._origin: Style | None = None
        self._target: Style | None = None
        self._glide = (0, 0)  # frames done, frames in all
        self.desk = mixer.Desk()
        self._out = np.zeros((0, 2), dtype=np.float32)
        self.position = 0  # absolute frames rendered
        self.chunks_rendered = 0
        self._bar = 0
        self._beat = 0
        self._clock = 0.0  # absolute frame (fractional) where the current beat starts
        self._phrase: Phrase | None = None
        self._before: Phrase | None = None  # the phrase before this bar's step (re-plans)
        self._planned: tuple[Controls, Style] | None = None  # what the bar was planned with
        self._events: tuple[Event, ...] = ()
        self._context_pending = True
        self.contexts: list[tuple[int, int]] = []  # (first frame, bpm), newest last
        self.first = 0  # the stream frame of the last rendered chunk's first frame
        self.bpm = 120  # of the current context (bpm/scale change only with a new context)
        self.tonic = 0
        self.minor = False
        self._stop()

    # --- updates ---------------------------------------------------------------------
    def apply(self, update: Update) -> None:
        """Queue an update; it takes effect at the next block or boundary (module docstring)."""
        self._pending.append(update)

    def _take_updates(self) -> None:
        """Continuous changes now; the mutes and RESET_CONTEXT wait for the boundary."""
        pending, self._pending = self._pending, []
        for update in pending:
            if isinstance(update, SetPrompts):
                self.prompts = tuple(update.prompts)
                self._retarget()
            elif isinstance(update, SetConfig):
                guidance_changed = update.config.guidance != self.config.guidance
                self._due = update.config
                self.config = with_mutes(update.config, self.config)
                if guidance_changed:
                    self._retarget()
            elif isinstance(update, Control):
                if update.action is Playback.STOP:
                    self._stop()
                elif update.action is Playback.RESET_CONTEXT:
                    self._reset_due = True

    def _on_boundary(self) -> None:
        """A beat (or bar) starts: the structural changes land here."""
        if self._due is not None:
            self.config = with_mutes(self.config, self._due)
            self._due = None
        if self._reset_due:
            self._reset_due = False
            self._context_pending = True

    def _retarget(self) -> None:
        """Start gliding toward the style of the current prompts (from the next block)."""
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
        self._glide = (0, round(glide_beats(self.config.guidance) * 60.0 * SR / self.bpm))

    def _stop(self) -> None:
        """Forget everything that sounds: tails, reverb, limiter; the next beat starts a context."""
        self.desk.reset()
        self._out = np.zeros((0, 2), dtype=np.float32)
        self.position = 0  # a stopped stream starts again from nothing: bit-identical
        self.contexts = []
        self._clock = 0.0
        self._style = None
        self._reset_due = False
        self._on_boundary()  # nothing is playing: pending mutes apply at once
        self._retarget()
        self._context_pending = True

    def _start_context(self) -> None:
        """Restart the patterns at bar 0; bpm and scale are read now (and only now)."""
        self._context_pending = False
        self._bar = 0
        self._beat = 0
        self._clock = float(self.position)
        self._phrase = self._before = None
        self._planned = None
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
        self._take_updates()  # a STOP drops even what is rendered ahead
        while len(self._out) < frames:
            self._render_block()
        self.first = self.position - len(self._out)
        out, self._out = self._out[:frames], self._out[frames:]
        self.chunks_rendered += 1
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

    def _advance_glide(self, frames: int) -> None:
        """Move the style along a prompt change's glide by one block."""
        done, total = self._glide
        if done < total and self._origin is not None and self._target is not None:
            done = min(total, done + frames)
            self._glide = (done, total)
            self._style = interpolate(self._origin, self._target, done / total)
        elif self._target is not None:
            self._style = self._target

    def _start_bar(self, style: Style) -> None:
        """Plan the bar's events (the phrase takes its step: groove, variants, seed)."""
        c = self._controls()
        if self._phrase is None or self._planned is None or c.seed != self._planned[0].seed:
            self._phrase = patterns.first_phrase(style, c)
        self._before = self._phrase
        self._plan(c, style)

    def _plan(self, c: Controls, style: Style) -> None:
        assert self._before is not None
        self._phrase = patterns.next_phrase(self._before, style, c, self._bar)
        self._events = patterns.plan_bar(self._phrase, style, c, self._bar)
        self._planned = (c, style)

    def _replan(self) -> None:
        """Temperature, top-k or mode moved mid-bar: re-plan the rest of the bar with them.

        The bar's style and seed stay (they change at the bar); only events not yet
        played can sound, so nothing already heard is repeated or cut.
        """
        if self._planned is None or self._before is None:
            return
        planned, style = self._planned
        c = replace(self._controls(), seed=planned.seed)
        if (c.temperature, c.top_k, c.mode) != (planned.temperature, planned.top_k, planned.mode):
            self._plan(c, style)

    def _render_block(self) -> None:
        self._take_updates()
        beat_start = round(self._clock)
        at_beat = self.position == beat_start
        if at_beat and (self.quantize == "beat" or self._beat == 0):
            self._on_boundary()
        if at_beat and self._context_pending:
            self._start_context()
            beat_start = self.position
        fpb = 60.0 * SR / (self.bpm if self._style is not None else 120)
        beat_end = round(self._clock + fpb)
        end = min(beat_end, self.position + BLOCK)
        frames = end - self.position
        if self._style is not None and not self._context_pending:
            self._advance_glide(frames)
            style = self._style
            if at_beat and self._beat == 0:
                self._start_bar(style)
            else:
                self._replan()
            last = end == beat_end  # an event rounding onto the next beat plays in the last block
            self._play(style, fpb, beat_start, self.position - beat_start, frames, last)
        block = self.desk.mix(self.position, frames, self._levels())
        self._out = np.concatenate([self._out, block]) if len(self._out) else block
        self.position = end
        if end == beat_end:
            self._clock += fpb
            self._beat = (self._beat + 1) % BEATS
            self._bar += self._beat == 0

    def _levels(self) -> mixer.Levels:
        """The desk's settings for this block: mutes as bus gains, the style's space and grit."""
        cfg, style = self.config, self._style
        buses = (
            0.0 if cfg.mute_drums else 1.0,
            0.0 if cfg.mute_bass else 1.0,
            0.0 if cfg.only_bass_and_drums else 1.0,
        )
        if style is None:
            return mixer.Levels(buses=buses)
        return mixer.Levels(
            buses=buses,
            wet=0.5 * style["space"],
            drive=style["drive"],
            texture=0.05 * style["texture"],
            colour=voices._q(self._brightness(style), 8),
            tilt=mixer.tilt_of(self._brightness(style), style["brightness"]),
        )

    def _brightness(self, style: Style) -> float:
        cfg = self.config
        return float(cfg.brightness if cfg.brightness is not None else style["brightness"])

    def _tone(self, style: Style, fpb: float) -> instruments.Tone:
        """The sound of the notes starting in this block (the mutes act on the desk)."""
        return instruments.Tone(
            brightness=self._brightness(style),
            bass_tone=style["bass_tone"],
            pad_tone=style["pad_tone"],
            lead_tone=style["lead_tone"],
            acoustic=style["acoustic"],
            frames_per_beat=fpb,
            drums=0.5 + 0.5 * style["drums"],
            bass=0.5 + 0.5 * style["bass"],
            pads=0.3 + 0.7 * style["pads"],
            lead=0.3 + 0.7 * style["lead"],
            texture=style["texture"],
            vocal=self.config.mode == "VOCALIZATION",
            sub=not self.config.mute_bass,
        )

    def _play(
        self, style: Style, fpb: float, beat_start: int, lo: int, frames: int, last: bool
    ) -> None:
        """Write the notes starting in frames ``lo..lo+frames`` of this beat onto the desk."""
        tone = self._tone(style, fpb)
        density = self._controls().density
        hi = lo + frames
        for event in self._events:
            if not (self._beat <= event.start < self._beat + 1):
                continue
            offset = round((event.start - self._beat) * fpb)
            if offset < lo or (offset >= hi and not last) or not event.sounds(density):
                continue
            send = instruments.SENDS.get(event.layer, 0.0)
            self.desk.add(event.layer, beat_start + offset, instruments.render(event, tone), send)

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
            "quantize": self.quantize,
        }


class SynthEngine:
    """The Engine interface around ``Synth``: playback semantics of the real model."""

    name = "synth"

    def __init__(
        self,
        chunk_seconds: float = DEFAULT_CHUNK,
        seed: int | None = None,
        quantize: Quantize = "beat",
    ) -> None:
        if not 0.02 <= chunk_seconds <= 10.0:
            raise ValueError(f"chunk_seconds must be in 0.02..10 (got {chunk_seconds})")
        self.chunk_frames = round(chunk_seconds * SR)
        self.synth = Synth(seed, quantize)
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
            "grid": synth.grid(synth.first, len(samples)),
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

    def on_news(self, callback: Callable[[], None]) -> None:
        """The embedded engine filters nothing: it never has news for the daemon."""

    def status(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "state": self.state,
            "chunk_seconds": self.chunk_frames / SR,
            "prompts": [{"text": p.text, "weight": p.weight} for p in self.synth.prompts],
            **self.synth.status(),
        }
