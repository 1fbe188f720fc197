"""Sync: the grid of what is heard, and what follows it (quantizer, MIDI clock, Link).

Glue between the daemon and the sync parts; its decisions are the pure modules' (grid,
heard, clock, quantize, beats), its I/O the adapters' (``io.clock_out``, ``io.ableton``).

Theory of operation
-------------------
Times are kept in *stream seconds* (audio fed to the player since the last flush), so a
grid stays right across pauses and underruns:

* ``fed(chunk)``: the chunk's first frame is stream second ``s``. The embedded engine's
  ``meta["grid"]`` anchors the grid exactly (downbeat at ``s + offset``); other engines'
  audio goes into a rolling window for the beat tracker (``bridge.beats``).
* ``refresh(now)``: the player says how long a frame fed now takes to be heard
  (``Player.delay``: buffer at the playout speed + device queue + output latency) and
  how fast it plays the stream (``playout_ratio``: it stretches up to ±4 % to steer its
  buffer); so stream second ``x`` is heard at ``now + delay - (fed - x) / speed``.
  That grid, while audio actually flows (the buffer is being consumed), goes to
  ``HeardGrid``, which smooths it; a replaced grid goes to the
  Instrument's quantizer (with the leads), the MIDI clock and, leading, to Link. The
  leads go to the quantizer on every refresh (a change is timed with the lead of the
  moment it is asked for), the smoothed grid to the clock.
* ``fade(direction, flush)``: what is heard starts or stops: the clock sends Start (at
  the next downbeat), Continue or Stop; a flush (STOP) forgets the grid.
* ``run()``: a task of the daemon: refresh every ``PERIOD``, run the tracker in a worker
  thread when a second of new audio is in, follow Link's tempo (``link = "follow"``: a
  steady new tempo becomes ``config.bpm``, which the quantizer lands on the next bar).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from bridge import beats
from bridge.core.grid import Grid
from bridge.core.heard import HeardGrid, engine_grid
from bridge.core.instrument import Instrument
from bridge.core.tempo import clamp_bpm
from bridge.core.types import AudioChunk, Change
from bridge.errors import BridgeError

log = logging.getLogger("promptbridge.sync")

PERIOD = 0.05  # seconds between refreshes (the clock thread re-plans on a new grid)
WINDOW = 8.0  # seconds of audio the tracker looks at
TRACK_EVERY = 1.0  # seconds of new audio between two tracker runs
LINK_STEADY = 0.3  # a Link tempo must hold this long before it becomes config.bpm


class Sync:
    """The heard grid and its followers for one daemon. See the module docstring."""

    def __init__(
        self,
        instrument: Instrument,
        player: Any,
        clock_out: Any = None,
        link: Any = None,
        link_mode: str = "off",
        clock: Callable[[], float] = time.monotonic,
        apply: Callable[[Change], Any] | None = None,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.instrument = instrument
        self.apply = apply or (lambda change: instrument.apply(change, clock()))
        self.wake = wake  # the daemon's pump: the quantizer's deadline may have moved
        self.player = player
        self.clock_out = clock_out
        self.link = link
        self.link_mode = link_mode
        self.clock = clock
        self.heard = HeardGrid()
        self._fed = 0.0  # stream seconds fed since the last flush
        self._consumed = -1.0  # stream seconds played, at the last refresh
        self._anchor: Grid | None = None  # the grid heard, on the stream-seconds axis
        self._coming: list[Grid] = []  # grids fed but not heard yet (a new context)
        self._window: deque[tuple[float, np.ndarray]] = deque()
        self._sample_rate = 48_000
        self._untracked = 0.0  # seconds fed since the tracker last ran
        self._tracking = False
        self._link_seen: tuple[int, float] | None = None  # (bpm, since)
        self.tracked: beats.Beats | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Open the MIDI clock's outputs and join Link (a failure is said, not fatal)."""
        for name in ("clock_out", "link"):
            part = getattr(self, name)
            if part is None:
                continue
            try:
                await asyncio.to_thread(part.start)
            except (BridgeError, OSError) as exc:
                log.error("%s unavailable, continuing without it: %s", name.replace("_", " "), exc)
                setattr(self, name, None)

    def closers(self) -> list[Any]:
        """Awaitables that close the clock (Stop, ports) and leave Link (for shutdown)."""
        return [asyncio.to_thread(p.close) for p in (self.clock_out, self.link) if p is not None]

    # --- inputs from the daemon ---------------------------------------------------------
    def fed(self, chunk: AudioChunk) -> None:
        """A chunk is about to be fed to the player."""
        start = self._fed
        seconds = len(chunk.samples) / chunk.rate
        self._fed += seconds
        seen = engine_grid(chunk.meta.get("grid") or (), start, chunk.rate)
        if seen is not None:
            last = self._coming[-1] if self._coming else self._anchor
            same = last is not None and last.bpm == seen.bpm
            if not (same and last is not None and abs(last.downbeat - seen.downbeat) < 1e-6):
                self._coming.append(seen)  # it is heard once played (refresh)
            return
        self._sample_rate = chunk.rate
        self._window.append((start, np.asarray(chunk.samples, dtype=np.float32).mean(axis=1)))
        while self._window and self._window[0][0] < self._fed - WINDOW:
            self._window.popleft()
        self._untracked += seconds

    def fade(self, direction: str, flush: bool) -> None:
        """The player fades in (play/resume) or out (pause/stop; ``flush``: stop)."""
        clock = self.clock_out
        if direction == "out":
            if clock is not None:
                clock.stop()
            if flush:
                self._fed, self._consumed, self._anchor = 0.0, -1.0, None
                self._coming.clear()
                self._window.clear()
                if self.heard.lost():
                    self._push(None)
            return
        if clock is None:
            return
        if self.heard.grid is not None:
            clock.resume()  # a pause ends: the grid (and the receiver's bar) goes on
        else:
            clock.play()  # from a stop: Start on the first downbeat heard

    # --- the task -----------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            self.refresh(self.clock())
            if self._untracked >= TRACK_EVERY and not self._tracking:
                self._tracking = True
                asyncio.get_running_loop().create_task(self._track())
            if self.link is not None and self.link_mode == "follow":
                self._follow_link(self.clock())
            await asyncio.sleep(PERIOD)

    def refresh(self, now: float) -> None:
        """Time the anchored grid by what is queued now; feed it to the follower."""
        delay, latency = self.player.delay()
        stats = self.player.stats()
        consumed = self._fed - float(stats.get("fill_seconds", 0.0))  # stream seconds played
        flowing = consumed > self._consumed + 1e-4
        self._consumed = consumed
        while self._coming and self._coming[0].downbeat <= consumed:
            self._anchor = self._coming.pop(0)  # its first downbeat has gone to the device
        anchor = self._anchor
        if anchor is None or not flowing:
            return
        # The player may stretch the stream (up to ±4 %) to steer its buffer: the tempo
        # heard is the engine's times that speed, and stream second x is heard at
        # now + delay - (fed - x) / speed.
        speed = float(stats.get("playout_ratio") or 1.0)
        at = now + delay - self._fed / speed
        seen = Grid(anchor.bpm * speed, at + anchor.downbeat / speed, anchor.beats_per_bar,
                    anchor.confidence, anchor.source)  # fmt: skip
        replaced = self.heard.observe(seen, now)
        if replaced is not None:
            self._push(replaced)
        else:
            self._push_leads(delay, latency, anchor.source)
            if self.clock_out is not None and self.heard.grid is not None:
                self.clock_out.set_grid(self.heard.grid)  # a smoothed nudge
        if self.link is not None and self.link_mode == "lead" and self.heard.grid is not None:
            self.link.publish(self.heard.grid)

    def _push(self, grid: Grid | None) -> None:
        """A new heard grid: to the quantizer (with the leads), the clock, the log."""
        delay, latency = self.player.delay()
        # a change reaches the ear after what is queued (engine) or the device (fades)
        # the embedded engine (its grid is "engine") applies changes on its next beat
        on_beats = grid is not None and grid.source == "engine"
        self.instrument.grid(grid, engine_lead=delay, output_lead=latency, on_beats=on_beats)
        self.wake()
        if self.clock_out is not None:
            self.clock_out.set_grid(grid)
        if grid is not None:
            log.info("heard grid: %.2f bpm (%s, confidence %.2f)", grid.bpm, grid.source,
                     grid.confidence)  # fmt: skip

    def _push_leads(self, delay: float, latency: float, source: str) -> None:
        """The time from the engine to the ear now (the buffer level moves). Kept current
        whether or not something waits: a change asked for is timed with it. (Pushed
        only with a new grid, it was the level of the start, 0.5 s short of the full
        buffer on the rig, and a bpm move asked then landed a beat after the bar.)"""
        quantizer = self.instrument.quantizer
        quantizer.set_leads(delay, latency, on_beats=source == "engine")
        if not quantizer.held:
            return
        if log.isEnabledFor(logging.DEBUG):
            now = self.clock()
            held = quantizer.held[0]
            log.debug("lead %.3f s, fed %.3f s, release in %.3f s, heard in %.3f s",
                      delay, self._fed, held.at - now, held.boundary - now)  # fmt: skip
        self.wake()  # the releases moved: the daemon's deadline with them

    async def _track(self) -> None:
        """Measure the grid of the window (in a worker thread: ~0.1 s of numpy)."""
        try:
            if not self._window:
                return
            start = self._window[0][0]
            samples = np.concatenate([s for _, s in self._window])
            prior = self.instrument.perf.config.bpm
            self._untracked = 0.0
            found = await asyncio.to_thread(beats.track, samples, self._sample_rate, prior)
            if found is None:
                return
            self.tracked = found
            self._anchor = Grid(found.bpm, start + found.downbeat, 4, found.confidence, "tracker")
        finally:
            self._tracking = False

    def _follow_link(self, now: float) -> None:
        """A Link tempo held for ``LINK_STEADY`` becomes config.bpm (quantized)."""
        bpm = clamp_bpm(self.link.tempo())
        if bpm == self.instrument.perf.config.bpm or any(
            h.change.target == "config.bpm" and h.change.value == bpm
            for h in self.instrument.quantizer.held
        ):
            self._link_seen = None
            return
        if self._link_seen is None or self._link_seen[0] != bpm:
            self._link_seen = (bpm, now)
            return
        if now - self._link_seen[1] >= LINK_STEADY:
            self._link_seen = None
            outcome = self.apply(Change("config.bpm", bpm, source="link"))
            log.info("link tempo %d bpm → config.bpm (%s)", bpm, outcome.note or "now")

    # --- status -------------------------------------------------------------------------
    def status(self, now: float) -> dict[str, Any]:
        grid = self.heard.grid
        out: dict[str, Any] = {
            "heard": grid.status(now) if grid is not None else None,
            "quantize": self.instrument.quantizer.status(now),
        }
        if self.clock_out is not None:
            out["clock_out"] = {
                "ports": self.clock_out.ports,
                "ticks": self.clock_out.plan.sent_ticks,
            }
        if self.link is not None:
            out["link"] = {"mode": self.link_mode, "peers": self.link.peers,
                           "tempo": round(self.link.tempo(), 2)}  # fmt: skip
        return out
