"""The output stage (gain, pause fades, routing) and the device child's playout, driven with
plain arrays and a real shared-memory ring in this process: no device, no threads."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.audio import jitter, shm
from bridge.audio.child import ChildPlayout
from bridge.audio.stage import OutputStage

RATE = 48_000
GAIN_STEP = jitter.gain_step(RATE)
FADE_STEP = jitter.fade_step(0.05, RATE)


def dc(level: float = 0.5):  # type: ignore[no-untyped-def]
    """A source of constant stereo frames that counts how often it was asked."""
    calls: list[int] = []

    def source(buf: np.ndarray, frames: int) -> None:
        calls.append(frames)
        buf[:frames] = level

    source.calls = calls  # type: ignore[attr-defined]
    return source


def settled_stage(gain: float = 1.0, channel_map: tuple[int, ...] = (1, 2)) -> OutputStage:
    stage = OutputStage(channel_map, max(channel_map), gain, FADE_STEP, GAIN_STEP)
    out = np.zeros((4096, max(channel_map)), dtype=np.float32)
    stage.process(out, 4096, dc())  # past the first fade-in (50 ms = 2400 frames)
    assert stage.env == gain
    return stage


def test_a_gain_change_starts_at_the_next_blocks_first_sample() -> None:
    """Gain set between two device blocks: the block before is untouched, the next one
    starts moving at its first sample and arrives within GAIN_SECONDS x the change."""
    stage = settled_stage(1.0)
    before = np.zeros((256, 2), dtype=np.float32)
    after = np.zeros((256, 2), dtype=np.float32)
    stage.process(before, 256, dc())
    stage.control(0.5, paused=False, step=FADE_STEP)
    stage.process(after, 256, dc())
    assert np.all(before == 0.5)
    assert after[0, 0] == pytest.approx(0.5 * (1 - GAIN_STEP), rel=1e-5)
    arrive = int(np.ceil(0.5 / GAIN_STEP))  # 120 samples = 2.5 ms for half of full scale
    assert arrive == 120
    tail = np.zeros((arrive, 2), dtype=np.float32)
    stage.process(tail, arrive, dc())
    assert tail[-1, 0] == pytest.approx(0.25, abs=1e-6) and stage.env == 0.5


def test_gain_ramps_never_jump() -> None:
    """Knob turned hard every block: each sample differs from the last by at most one
    gain step of the signal (no zipper noise, no click)."""
    stage = settled_stage(1.0)
    blocks = []
    for gain in (0.0, 2.0, 0.3, 1.7, 0.0, 1.0) * 4:
        stage.control(gain, paused=False, step=FADE_STEP)
        out = np.zeros((128, 2), dtype=np.float32)
        stage.process(out, 128, dc(0.5))
        blocks.append(out[:, 0])
    played = np.concatenate(blocks)
    assert np.max(np.abs(np.diff(played))) <= 0.5 * GAIN_STEP * 1.001
    assert played.min() < 0.45  # it did move


def test_pause_fades_out_then_holds_the_buffer_and_resumes_at_once() -> None:
    """Paused: a ramp to silence over the pause fade, then the source is not asked (the
    buffer is held); resumed: the very next block asks it again, ramping up from 0."""
    stage = settled_stage(1.0)
    source = dc()
    stage.control(1.0, paused=True, step=FADE_STEP)
    out = np.zeros((2400, 2), dtype=np.float32)
    stage.process(out, 2400, source)  # exactly the 50 ms fade
    assert out[0, 0] < 0.5 and out[-1, 0] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(out[:, 0]) <= 0)
    asked = len(source.calls)  # type: ignore[attr-defined]
    stage.process(out, 256, source)
    assert len(source.calls) == asked and np.all(out[:256] == 0.0)  # type: ignore[attr-defined]
    stage.control(1.0, paused=False, step=FADE_STEP)
    stage.process(out, 256, source)
    assert len(source.calls) == asked + 1  # type: ignore[attr-defined]
    assert 0.0 < out[0, 0] < out[255, 0] < 0.5


def test_routing_to_chosen_outputs_and_mono() -> None:
    """(3, 4) puts left and right on outputs 3 and 4 of 4; (2,) sums to mono on output 2."""
    stage = settled_stage(1.0, (3, 4))
    out = np.ones((64, 4), dtype=np.float32)
    stage.process(out, 64, dc(0.25))
    assert np.all(out[:, :2] == 0.0) and np.all(out[:, 2:] == 0.25)
    mono = settled_stage(1.0, (2,))
    out2 = np.ones((64, 2), dtype=np.float32)
    mono.process(out2, 64, dc(0.25))
    assert np.all(out2[:, 0] == 0.0) and np.all(out2[:, 1] == 0.25)


@pytest.fixture
def ring():  # type: ignore[no-untyped-def]
    r = shm.SharedRing()
    yield r
    r.close()


def queue(ring: shm.SharedRing, frames: np.ndarray) -> None:
    written = int(ring.hdr[shm.WRITTEN])
    shm.write_frames(ring.data, written, frames, len(frames))
    ring.hdr[shm.WRITTEN] = written + len(frames)


def test_child_playout_applies_the_players_gain_at_the_next_device_block(ring) -> None:  # type: ignore[no-untyped-def]
    """Through the real shared memory: a gain written between two device callbacks is in
    the second callback's first sample, and the heard ring holds exactly what was played."""
    ring.ctl[shm.GAIN], ring.ctl[shm.STEP] = 1.0, FADE_STEP
    playout = ChildPlayout(ring, (1, 2), RATE)
    queue(ring, np.full((8192, 2), 0.5, dtype=np.float32))
    out = np.zeros((256, 2), dtype=np.float32)
    played = []
    for _ in range(12):  # past the first fade-in
        playout.callback(out, 256, underflow=False)
        played.append(out.copy())
    assert out[0, 0] == 0.5
    ring.ctl[shm.GAIN] = 0.2
    playout.callback(out, 256, underflow=False)
    played.append(out.copy())
    assert out[0, 0] == pytest.approx(0.5 * (1 - GAIN_STEP), rel=1e-5)
    assert out[100, 0] == pytest.approx(0.5 * (1 - 101 * GAIN_STEP), rel=1e-5)
    assert ring.ctl[shm.ENV] == pytest.approx(0.2)  # 0.8 of full scale: 192 of 256 samples
    heard = np.zeros((13 * 256, 2), dtype=np.float32)
    assert int(ring.hdr[shm.HEARD_W]) == len(heard)
    shm.read_frames(ring.heard, 0, heard, len(heard))
    np.testing.assert_array_equal(heard, np.concatenate(played))
    assert int(ring.hdr[shm.XRUNS]) == 0 and int(ring.hdr[shm.CALLBACKS]) == 13
    playout.callback(out, 256, underflow=True)  # the device (JACK) was late, not the pump
    assert (int(ring.hdr[shm.XRUNS]), int(ring.hdr[shm.GAPS])) == (1, 0)


def test_child_playout_holds_when_paused_and_drops_on_flush(ring) -> None:  # type: ignore[no-untyped-def]
    """Paused and faded, the child stops reading the stream (nothing is lost while paused);
    a flush request drops what is queued; running short is counted as an xrun and a gap."""
    ring.ctl[shm.GAIN], ring.ctl[shm.STEP] = 1.0, FADE_STEP
    playout = ChildPlayout(ring, (1, 2), RATE)
    queue(ring, np.full((8000, 2), 0.5, dtype=np.float32))
    out = np.zeros((256, 2), dtype=np.float32)
    ring.ctl[shm.PAUSED] = 1.0
    for _ in range(12):
        playout.callback(out, 256, underflow=False)
    read = int(ring.hdr[shm.READ])
    assert read < 12 * 256 and ring.ctl[shm.ENV] == 0.0
    playout.callback(out, 256, underflow=False)
    assert int(ring.hdr[shm.READ]) == read and np.all(out == 0.0)
    ring.hdr[shm.FLUSH_REQ] += 1
    ring.ctl[shm.PAUSED] = 0.0
    playout.callback(out, 256, underflow=False)
    assert int(ring.hdr[shm.READ]) == 8000 and np.all(out == 0.0)
    assert int(ring.hdr[shm.XRUNS]) == 1  # it wanted frames and had none
    assert int(ring.hdr[shm.GAPS]) == 1  # and that was the pump's: a gap in the stream
