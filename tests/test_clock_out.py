"""The MIDI clock sender on the JACK rig: ports by pattern, message order, transport.

A fake drum machine (a virtual JACK MIDI input) is found by the ``clock_out`` pattern;
what it receives is checked for order and count (timing is judged in test_sync_rig and
bench/clock_jitter.py, where the machine's load can be accounted for).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import numpy as np
import numpy.typing as npt
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
    # the tempo the machine sees, from the arrival times of 8 beats of ticks
    times = np.array([t for t, b in drum_machine.got[start + 1 : stop] if b == CLOCK])
    sent = np.array([actual for _, actual in clock.sent])
    number, delay = sent_numbers(times, sent)
    timely = delay < LATE  # arrivals our reader thread picked up late say nothing of the clock
    assert timely.mean() > 0.8, f"{timely.mean():.0%} of ticks arrived within {LATE * 1000} ms"
    interval = np.polyfit(number[timely], times[timely], 1)[0]
    bpm = 60.0 / (24 * interval)
    assert abs(bpm - 150.0) < 1.5, (bpm, f"{len(times)} ticks of {len(sent)} sent")


LATE = 0.010  # s: a JACK period (5.3 ms) and our reader's 1 ms poll, with room


def sent_numbers(
    times: npt.NDArray[np.float64], sent: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Which sent tick each arrival is, and how long after its sending it arrived.

    Counting arrivals miscounts on a busy machine (JACK drops a cycle's MIDI, delivers
    at the start of its 5.3 ms periods, and our reader thread sometimes reads several
    ticks at once): an arrival is the last tick sent before it, or, when several arrive
    together, the ones before that in order. The tempo is then the slope of arrival time
    against that number: a clock sending at the wrong tempo moves the arrivals with it."""
    number = np.searchsorted(sent, times, side="right").astype(np.float64) - 1
    for i in range(len(number) - 2, -1, -1):  # a bunch: the earlier ones came first
        number[i] = min(number[i], number[i + 1] - 1)
    delay = times - sent[np.clip(number.astype(int), 0, len(sent) - 1)]
    return number, delay
