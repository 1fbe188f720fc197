"""Ableton Link with two peers, inside a private network namespace with only loopback.

Link finds peers by UDP multicast; that must never reach a real network. The outer test
re-runs this module inside ``unshare -n`` (a new network namespace: only ``lo``, up, with
the multicast range routed to it), where the inner tests run; outside, they skip. Both
skip, saying why, when the ``[link]`` extra (LinkPython-extern) is absent or the
namespace cannot be made (needs root or user namespaces).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from bridge.config import loads
from bridge.core.grid import Grid
from bridge.core.quantize import ON_BEATS_EARLY
from bridge.daemon import Daemon, Parts
from bridge.engines import create_engine
from bridge.rig import RigSettings

INSIDE = "PROMPTBRIDGE_PRIVATE_NETNS"
SETUP = "ip link set lo up && ip route add 224.0.0.0/4 dev lo"
PERFORMANCE = """
[[slots]]
text = "techno"
weight = 1.0

[config]
bpm = 120
"""


def _inside() -> None:
    if not os.environ.get(INSIDE):
        pytest.skip("runs inside a private network namespace (test_link_in_a_private_netns)")
    # the whole point: no interface but loopback, so multicast cannot leave the machine
    assert [name for _, name in socket.if_nameindex()] == ["lo"]


def test_link_in_a_private_netns() -> None:
    """The inner tests pass inside ``unshare -n`` with only loopback."""
    if os.environ.get(INSIDE):
        pytest.skip("already inside")
    pytest.importorskip("link", reason="the [link] extra (LinkPython-extern) is not installed")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare/ip not available: cannot make a private network namespace")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {probe.stderr.decode().strip()}")
    script = f'{SETUP} && exec "$0" -m pytest -q -p no:cacheprovider -k inside "$1"'
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", script, sys.executable, __file__],
        env={**os.environ, INSIDE: "1"},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "2 passed" in output, output


def _daemon(mode: str) -> Daemon:
    from bridge.audio.player import Player
    from bridge.io.ableton import LinkSession

    settings = RigSettings(link=mode, autoplay=True)  # type: ignore[arg-type]
    parts = Parts(
        engine=create_engine("synth", chunk_seconds=0.05),
        player=Player(output="none", latency="low"),
        link=LinkSession(),
    )
    return Daemon(settings, loads(PERFORMANCE, "set"), parts)


async def _until(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)


def test_inside_follow_sets_bpm_from_a_peer_on_a_bar() -> None:
    """A peer at 126 bpm: config.bpm becomes 126, released so it is heard on a bar line."""
    _inside()
    import link

    peer = link.Link(126.0)
    peer.enabled = True
    daemon = _daemon("follow")

    async def scenario() -> tuple[float, Grid, float]:
        task = asyncio.create_task(daemon.run())
        await _until(lambda: daemon.sync.heard.grid is not None and peer.numPeers() > 0, 20)
        state = peer.captureAppSessionState()  # the DJ sets 126 once we are in the session
        state.setTempo(126.0, peer.clock().micros())
        peer.commitAppSessionState(state)
        await _until(lambda: daemon.instrument.quantizer.held, 10)
        grid = daemon.instrument.quantizer.grid  # what the change lands on
        assert grid is not None
        await _until(lambda: daemon.perf.config.bpm == 126, 10)
        applied = time.monotonic()
        quantizer = daemon.instrument.quantizer
        early = grid.beat_seconds * ON_BEATS_EARLY if quantizer.on_beats else 0.0  # synth
        lead = quantizer.engine_lead + early
        synth = daemon.parts.engine.synth
        await _until(lambda: synth.contexts and synth.contexts[-1][1] == 126, 10)
        contexts = list(synth.contexts)
        snap = daemon.snapshot()
        daemon.stop()
        await task
        assert snap["sync"]["link"]["peers"] >= 1
        return applied, grid, lead, contexts

    try:
        applied, grid, lead, contexts = asyncio.run(scenario())
    finally:
        peer.enabled = False
    # The engine started 126 bpm on a bar line of the 120 bpm stream it played before
    # (stream frames: what the output plays, whatever the clock says)
    (before, old_bpm), (start, _) = contexts[-2], contexts[-1]
    bar_frames = 4 * 60 * 48_000 // old_bpm
    assert old_bpm == 120 and (start - before) % bar_frames == 0, contexts
    # released at (bar - lead): heard on a bar of the grid heard before the change
    beats_off = grid.beats(applied + lead) % 4
    seconds_off = min(beats_off, 4 - beats_off) * grid.beat_seconds
    # the lead follows the buffer in 50 ms chunks, and we poll: a chunk's worth of slack
    assert seconds_off < 0.06, f"heard {seconds_off * 1000:.0f} ms off a bar line"


def test_inside_lead_publishes_the_heard_tempo_and_phase() -> None:
    """Leading at 120 bpm: a peer at 126 moves to our heard tempo, its bar phase on our
    heard bar (within 10 ms)."""
    _inside()
    import link

    peer = link.Link(126.0)
    peer.enabled = True
    daemon = _daemon("lead")

    def heard_bpm() -> float:
        grid = daemon.sync.heard.grid
        return grid.bpm if grid is not None else 0.0

    async def scenario() -> float:
        task = asyncio.create_task(daemon.run())
        await _until(lambda: daemon.sync.heard.grid is not None, 20)
        # the heard tempo: 120 bpm times the player's playout speed (1 unless it steers)
        await _until(lambda: abs(peer.captureSessionState().tempo() - heard_bpm()) < 0.05, 20)
        await asyncio.sleep(1.0)  # let a phase correction travel
        offsets = []  # sampled for a second: a grid replaced a moment ago is not settled
        for _ in range(20):
            grid = daemon.sync.heard.grid
            assert grid is not None
            state = peer.captureSessionState()
            now_us, now = peer.clock().micros(), time.monotonic()  # Link's clock is its own
            theirs = state.phaseAtTime(now_us, 4)
            ours = grid.beats(now) % 4
            offsets.append((theirs - ours + 2) % 4 - 2)
            await asyncio.sleep(0.05)
        daemon.stop()
        await task
        return float(sorted(offsets)[len(offsets) // 2])  # the median, in beats

    try:
        off = asyncio.run(scenario())
    finally:
        peer.enabled = False
    assert abs(off) * 0.5 < 0.010, f"peer's bar phase {off * 500:.1f} ms off ours"
