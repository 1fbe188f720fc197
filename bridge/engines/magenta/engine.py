"""The ``magenta`` engine: Magenta RT 2 in this process, behind the Engine interface.

Theory of operation
-------------------
``MagentaEngine`` keeps what the performance asked for (prompts, sampling, playback, held
keys) on the event loop, and hands every model call to its ``ModelHost``'s worker thread:

* ``start`` loads the model (once per host: ``serve`` shares one host between
  connections) and measures the real-time factor: ms per 40 ms step, shown in the status,
  with a warning when it is slower than real time.
* A producer task generates ``frames`` frames per call (the control granularity: prompts
  and sampling are fixed within a call) and keeps at most ``look_ahead`` chunks ready
  for ``chunks()``; the consumer pulling is the backpressure.
* PLAY pulls, PAUSE stops pulling and keeps the context (and the ready chunks); STOP and
  RESET_CONTEXT start a fresh context (``state=None``) and drop audio generated before
  them. Transitions come from ``bridge.core.playback``.
* Keys and pads (``apply_note``) feed ``noteroll``; each call's frames are split into
  runs of equal conditioning (an onset frame, then held frames).
* Config fields the model lacks are listed in the status and logged once when used.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from bridge.core.playback import PlayState, after
from bridge.core.types import (
    AudioChunk,
    Change,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    Update,
    WeightedPrompt,
)
from bridge.engines.magenta import controls, noteroll
from bridge.engines.magenta.blend import StyleCache, blend_weights
from bridge.engines.magenta.system import FRAME_RATE, MagentaUnavailable, ModelHost, measure
from bridge.errors import BridgeError

log = logging.getLogger("bridge.magenta")
STYLE_KEY = "mulan_tokens_25hz"  # MusicCoCa's conditioning key in magenta_rt/config.py
REAL_TIME_MS = 1000.0 / FRAME_RATE  # 40 ms of audio per step


class MagentaEngine:
    """Magenta RT 2 on a ``ModelHost``. See the module docstring."""

    name = "magenta"

    def __init__(
        self,
        host: ModelHost,
        *,
        frames: int = 25,
        look_ahead: int = 1,
        own_host: bool = True,
        describe: dict[str, Any] | None = None,
    ) -> None:
        if not 1 <= frames <= 250:
            raise ValueError(f"frames per call must be in 1..250 (got {frames})")
        if not 1 <= look_ahead <= 8:
            raise ValueError(f"look-ahead must be in 1..8 chunks (got {look_ahead})")
        self.host = host
        self.frames = frames
        self.look_ahead = look_ahead
        self._own_host = own_host
        self._describe = describe or {}
        self.play = PlayState.STOPPED
        self._prompts: tuple[WeightedPrompt, ...] = ()
        self._config = GenerationConfig()
        self._sampling = controls.sampling(self._config)
        self._warned: set[str] = set()
        self._after_bpm_or_scale = False  # the last update changed only bpm/scale
        self._notes = noteroll.NoteRoll()
        self._drums = noteroll.DrumRoll()
        self._state: Any = None  # the model's context; None = fresh
        self._generation = 0  # bumped by STOP/RESET: audio generated across it is dropped
        self._ready: deque[AudioChunk] = deque()
        self._wake = asyncio.Event()
        self._producer: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._style: StyleCache | None = None
        self.calls = 0
        self.contexts = 0  # fresh contexts started (each chunk's meta names its own)
        self.ms_per_step: float | None = None

    # --- Engine interface ------------------------------------------------------------
    async def start(self) -> None:
        try:
            system = await self.host.load()
            if self.host.ms_per_step is None:
                # one second at most: a slow backend must not keep start waiting long
                frames = min(self.frames, FRAME_RATE)
                self.host.ms_per_step = await self.host.run(measure, system, frames)
        except MagentaUnavailable:
            raise
        except Exception as exc:  # the package's own errors: one line, not a traceback
            raise MagentaUnavailable(f"magenta engine failed to load: {exc}") from exc
        self.ms_per_step = self.host.ms_per_step
        self._style = StyleCache(
            functools.partial(system.embed_style, use_mapper=True), system.tokenize_style
        )
        self._report_speed()
        self._producer = asyncio.create_task(self._produce(), name="magenta-producer")

    async def apply(self, update: Update) -> None:
        after_bpm_or_scale, self._after_bpm_or_scale = self._after_bpm_or_scale, False
        if isinstance(update, SetPrompts):
            self._prompts = update.prompts
        elif isinstance(update, SetConfig):
            self._after_bpm_or_scale = controls.lyria_reset_follows(self._config, update.config)
            self._set_config(update.config)
        elif isinstance(update, Control):
            if update.action is Playback.RESET_CONTEXT and after_bpm_or_scale:
                log.debug("magenta: reset for a bpm/scale change skipped (the model has neither)")
            else:
                self._control(update.action)
        else:
            raise TypeError(f"not an Update: {type(update).__name__}")
        self._wake.set()

    def apply_note(self, change: Change) -> None:
        """A key or pad from a ``notes``/``drums`` binding (``notes.on`` / ``notes.off`` /
        ``drums.hit`` with the MIDI note number); takes effect from the next call."""
        pitch = change.value
        if not isinstance(pitch, int) or isinstance(pitch, bool):
            return
        if change.target == "notes.on":
            self._notes.note_on(pitch)
        elif change.target == "notes.off":
            self._notes.note_off(pitch)
        elif change.target == "drums.hit":
            self._drums.hit()

    async def chunks(self) -> AsyncIterator[AudioChunk]:
        while not self._closed:
            if self._failure is not None:
                raise BridgeError(f"magenta engine stopped: {self._failure}")
            if self.play is PlayState.PLAYING and self._ready:
                chunk = self._ready.popleft()
                self._wake.set()  # room for the producer
                yield chunk
                continue
            self._wake.clear()
            await self._wake.wait()

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._producer is not None:
            self._producer.cancel()
            await asyncio.gather(self._producer, return_exceptions=True)
        if self._own_host:
            self.host.close()

    def on_news(self, callback: Callable[[], None]) -> None:
        """Magenta filters no prompt: it never has news for the daemon."""

    def status(self) -> dict[str, Any]:
        ms = self.ms_per_step
        return {
            "engine": self.name,
            **self._describe,
            "state": str(self.play),
            "frames_per_call": self.frames,
            "look_ahead": self.look_ahead,
            "ms_per_step": None if ms is None else round(ms, 1),
            "realtime_factor": None if not ms else round(REAL_TIME_MS / ms, 2),
            "real_time": None if ms is None else ms <= REAL_TIME_MS,
            "load_seconds": _round(self.host.load_seconds),
            "prompts": [{"text": p.text, "weight": p.weight} for p in self._prompts],
            "held_notes": list(self._notes.held),
            "unsupported": list(controls.UNSUPPORTED),
            "unsupported_in_use": list(controls.unsupported_in_use(self._config)),
            "calls": self.calls,
            "contexts": self.contexts,
        }

    # --- state -----------------------------------------------------------------------
    def _set_config(self, config: GenerationConfig) -> None:
        self._config = config
        self._sampling = controls.sampling(config)
        for name in controls.newly_unsupported(config, self._warned):
            log.warning("magenta: %s is not supported by this model; ignored", name)

    def _control(self, action: Playback) -> None:
        self.play = after(self.play, action)
        if action in (Playback.STOP, Playback.RESET_CONTEXT):
            self._state = None
            self._generation += 1
            self._ready.clear()
        if action is Playback.STOP:
            self._notes.clear()
            self._drums.clear()

    def _report_speed(self) -> None:
        ms = self.ms_per_step
        if ms is None:
            return
        log.info("magenta: %.1f ms per step (real time is %.0f ms)", ms, REAL_TIME_MS)
        if ms > REAL_TIME_MS:
            log.warning(
                "magenta: slower than real time (%.1f ms per %.0f ms step): expect gaps; "
                "try size mrt2_small or a faster machine",
                ms,
                REAL_TIME_MS,
            )

    # --- the producer ----------------------------------------------------------------
    def _wants_audio(self) -> bool:
        return (
            self.play is PlayState.PLAYING
            and len(self._ready) < self.look_ahead
            and bool(blend_weights(self._prompts))
        )

    async def _produce(self) -> None:
        while not self._closed:
            if not self._wants_audio():
                self._wake.clear()
                await self._wake.wait()
                continue
            generation, fresh = self._generation, self._state is None
            frames = noteroll.next_frames(
                self._notes, self._drums, self.frames, self._sampling.mute_drums
            )
            job = functools.partial(
                self._generate, self._prompts, self._sampling, frames, self._state
            )
            try:
                samples, state, ms = await self.host.run(job)
            except Exception as exc:  # the model failed: end the stream with the reason
                log.error("magenta: generation failed: %s", exc)
                self._failure = exc
                self._wake.set()
                return
            if generation != self._generation or self._closed:
                continue  # STOP/RESET arrived while generating: this audio never plays
            self._state = state
            self.calls += 1
            self.contexts += fresh
            self.ms_per_step = ms if self.ms_per_step is None else 0.8 * self.ms_per_step + 0.2 * ms
            meta = {"frames": len(frames), "ms_per_step": round(ms, 1), "context": self.contexts}
            self._ready.append(AudioChunk(samples=samples, meta=meta))
            self._wake.set()

    def _generate(
        self,
        prompts: tuple[WeightedPrompt, ...],
        sampling: controls.Sampling,
        frames: list[noteroll.Frame],
        state: Any,
    ) -> tuple[np.ndarray, Any, float]:
        """One chunk on the model's thread: style tokens, then one call per run."""
        assert self._style is not None
        system = self.host.system
        started = time.perf_counter()
        tokens = self._style.tokens(prompts)
        parts = []
        for frame, count in noteroll.runs(frames):
            conditioning: dict[str, Any] = noteroll.conditioning(frame)
            if tokens is not None:
                conditioning[STYLE_KEY] = tokens
            waveform, state = system.generate(
                conditioning=conditioning,
                cfg_scales=sampling.cfg_dict(),
                temperature=sampling.temperature,
                top_k=sampling.top_k,
                frames=count,
                state=state,
            )
            parts.append(np.asarray(waveform.samples, dtype=np.float32))
        samples = np.clip(np.concatenate(parts), -1.0, 1.0).astype(np.float32, copy=False)
        ms = (time.perf_counter() - started) * 1000.0 / max(1, len(frames))
        return np.ascontiguousarray(samples), state, ms


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
