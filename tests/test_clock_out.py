"""The MIDI clock sender on the JACK rig: ports by pattern, message order, transport.

A fake drum machine (a virtual JACK MIDI input) is found by the ``clock_out`` pattern;
what it receives is checked for order and count (timing is judged in test_sync_rig and
bench/clock_jitter.py, where the machine's load can be accounted for).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

import pytest

from bridge.core.clock import CLOCK, CONTINUE, START, STOP
from bridge.core.grid import Grid
from bridge.io.clock_out import ClockOut

pytestmark = pytest.mark.jack


class DrumMachine:
    """A virtual JACK MIDI input that keeps every status byte it receives, with times."""

    def __init__(self) -> None:
        import rtmidi

        self.name = f"FakeDrumMachine{uuid.uuid4().hex[:4]}"
        self.inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=self.name)
        self.inp.ignore_types(timing=False)  # clock is what we want
        self.inp.open_virtual_port(self.name)
        self.got: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            message = self.inp.get_message()
            if message is None:
                time.sleep(0.001)
                continue
            self.got.append((time.monotonic(), message[0][0]))

    def ticks_since(self, status: int) -> int:
        """Clock ticks received after the first ``status`` byte (0 before it came)."""
        got = [b for _, b in self.got]
        return got[got.index(status) :].count(CLOCK) if status in got else 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.inp.delete()


@pytest.fixture
def drum_machine(jack_server: Any) -> Any:
    machine = DrumMachine()
    yield machine
    machine.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_clock_transport_and_tempo_reach_a_matching_port(drum_machine: DrumMachine) -> None:
    """Ticks before Start show the tempo; Start comes right before a downbeat's tick;
    Stop at once; Continue on resume; Stop again when the sender closes."""
    clock = ClockOut(drum_machine.name[:12], api="jack", virtual=False)
    clock.start()
    try:
        assert [p for p in clock.ports if drum_machine.name in p], clock.ports
        clock.set_grid(Grid(150.0, time.monotonic() + 0.1))  # a bar every 1.6 s
        wait_for(lambda: len(drum_machine.got) > 24)
        clock.play()
        wait_for(lambda: any(b == START for _, b in drum_machine.got))
        # 8 beats of ticks after the Start: the tempo is judged over 3.2 s, where a late
        # first or last tick weighs 0.1 %, not 0.3 %
        wait_for(lambda: drum_machine.ticks_since(START) > 24 * 8)
        clock.stop()
        wait_for(lambda: any(b == STOP for _, b in drum_machine.got))
        clock.resume()
        wait_for(lambda: any(b == CONTINUE for _, b in drum_machine.got))
        time.sleep(0.2)
    finally:
        clock.close()
    wait_for(lambda: drum_machine.got[-1][1] == STOP)
    got = [b for _, b in drum_machine.got]
    start = got.index(START)
    assert got[:start] and set(got[:start]) == {CLOCK}  # the tempo, before the Start
    assert got[start + 1] == CLOCK
    stop = got.index(STOP)
    assert got.index(CONTINUE) > stop
    # the tempo the machine sees, from the arrival times of 8 bars of ticks
    times = [t for t, b in drum_machine.got[start + 1 : stop] if b == CLOCK]
    # The JACK dummy drops a cycle's MIDI when a loaded machine makes it overrun: a gap of
    # about two intervals is a lost tick, not a slower clock. Only a gap beyond 1.75
    # intervals counts as more than one tick (arrivals are quantised to 5.3 ms JACK
    # periods, so a normal gap reaches ~22 ms of the planned 16.7), and a clock that is a
    # few % slow still reads slow.
    planned = 60.0 / 150.0 / 24
    ticks = sum(
        round(gap / planned) if gap > 1.75 * planned else 1
        for gap in (b - a for a, b in itertools.pairwise(times))
    )
    bpm = 60.0 / ((times[-1] - times[0]) / ticks * 24)
    assert abs(bpm - 150.0) < 1.5, bpm
