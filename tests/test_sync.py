"""The sync glue (``bridge.sync``) with the real headless Player and the embedded engine,
in simulated time: the quantizer times a change with the lead of the moment.

The Player is started without its clock thread (``pull`` plays a block when the test
says), so the buffer level is exactly what the test makes it; no real time passes.
"""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.player import Player
from bridge.config import loads
from bridge.core.instrument import Instrument
from bridge.core.types import Change, GenerationConfig, SetConfig, SetPrompts, WeightedPrompt
from bridge.engines.synth import SynthEngine
from bridge.sync import PERIOD, Sync

RATE = 48_000
BLOCK = 256
PROFILE = '[controller]\nname = "none"\nport = "none"\n\n[[slots]]\ntext = "techno"\n'


class Rig:
    """The daemon's audio path, by hand: engine chunks → sync.fed → player.feed; the
    player plays a block at a time; sync refreshes every ``PERIOD``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.instrument = Instrument(loads(PROFILE, "test"), quantize="bar")
        self.player = Player(output="none", latency="safe", stretch_limit=0.0, clock=self.time)
        self.player.start(clock_thread=False)
        self.engine = SynthEngine(chunk_seconds=0.05)
        self.engine.apply_now(SetPrompts((WeightedPrompt("techno", 1.0),)))
        self.engine.apply_now(SetConfig(GenerationConfig(bpm=120)))
        self.sync = Sync(self.instrument, self.player, clock=self.time)
        self._out = np.zeros((BLOCK, 2), dtype=np.float32)
        self._refreshed = 0.0

    def time(self) -> float:
        return self.now

    def fill_to(self, seconds: float) -> None:
        while self.player.fill_seconds < seconds:
            chunk = self.engine.render_chunk()
            self.sync.fed(chunk)
            self.player.feed(chunk)

    def play(self, seconds: float) -> None:
        for _ in range(round(seconds * RATE / BLOCK)):
            self.now += BLOCK / RATE
            self.player.pull(self._out, BLOCK)
            if self.now - self._refreshed >= PERIOD:
                self._refreshed = self.now
                self.sync.refresh(self.now)


def test_a_change_is_timed_with_the_lead_of_the_moment_not_of_the_last_grid() -> None:
    """The grid is first heard with 3 s buffered; the buffer then fills to 4 s with the
    grid unchanged. A bpm move asked for then is timed with the 4 s: released a lead and
    0.7 beat before its bar, the engine's next beat is that bar. (With the lead of the
    first grid, 0.5 s short on the rig, the move landed a beat late.)"""
    rig = Rig()
    rig.fill_to(3.0)
    rig.play(0.1)
    quantizer = rig.instrument.quantizer
    assert quantizer.grid is not None and quantizer.grid.source == "engine"
    rig.fill_to(4.0)
    rig.play(0.2)
    delay, _ = rig.player.delay()
    assert delay == pytest.approx(3.8, abs=0.1)
    assert quantizer.engine_lead == pytest.approx(delay, abs=0.06)
    rig.instrument.apply(Change("config.bpm", 100), rig.now)
    held = quantizer.held[0]
    beat = 0.5
    assert held.at == pytest.approx(held.boundary - quantizer.engine_lead - 0.7 * beat)
    assert held.at >= rig.now
