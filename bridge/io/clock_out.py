"""MIDI clock out: a steady thread sends the planned clock to MIDI outputs. Does MIDI I/O.

The plan (``bridge.core.clock.ClockPlan``) says what goes out when, from the heard grid;
this adapter only keeps time. Its thread sleeps until about ``SPIN`` before each planned
message, then spins on the monotonic clock to the planned instant: the interval jitter
is the OS's wake-up jitter minus what the spin absorbs, never the asyncio loop's
(a loop busy with a websocket frame or a reload would delay a tick by milliseconds).
Starting it lowers the interpreter's GIL switch interval to 0.5 ms (process-wide), so a
thread rendering audio cannot hold the clock thread back for the default 5 ms.

Ports: every MIDI output whose name matches the rig's ``clock_out`` pattern (``re:``
prefix for a regex, as for inputs), and a virtual output ``PromptBridge Clock`` when the
virtual port is on, so any app can subscribe. Outputs that appear later are opened by
``refresh()`` (the daemon calls it every few seconds). The loop sets the grid and the
transport with plain method calls; the thread reads them under a lock.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bridge.core.clock import CLOCK, STOP, ClockPlan, Planned
from bridge.core.grid import Grid
from bridge.core.mapping import ControllerSpec
from bridge.errors import DeviceError
from bridge.io.midi import MIDI_ERRORS, OWN_PREFIX, open_output, resolve_api

log = logging.getLogger("promptbridge.clock")

SWITCH_INTERVAL = 0.0005  # seconds: how long another thread may hold the GIL we wait for
SPIN = 0.0015  # seconds spent spinning before a message (sleep overshoots ~0.1-1 ms)
IDLE = 0.05  # with nothing planned, look again this often
VIRTUAL_NAME = "PromptBridge Clock"
FLUSH_SECONDS = 0.03  # after the last Stop, before the ports close: JACK sends once a period


class ClockOut:
    """Sends MIDI clock, Start, Continue and Stop from the heard grid to MIDI outputs."""

    def __init__(
        self,
        pattern: str | None,
        api: str = "auto",
        virtual: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pattern = pattern
        self.api = resolve_api(api)  # "auto" becomes the system that answers first
        self.virtual = virtual
        self.clock = clock
        self.plan = ClockPlan()
        self.sent: list[tuple[float, float]] = []  # (planned, actual) of the last ticks
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ports: dict[str, Any] = {}  # port name → rtmidi.MidiOut
        self._thread = threading.Thread(target=self._run, name="midi-clock", daemon=True)

    # --- set-up -------------------------------------------------------------------------
    def start(self) -> None:
        """Open the outputs (virtual and matching) and start the thread."""
        if self.virtual:
            out = self._new_out("virtual")
            try:
                out.open_virtual_port(VIRTUAL_NAME)
            except MIDI_ERRORS as exc:
                raise DeviceError(f"cannot open the virtual clock output: {exc}") from None
            self._ports[VIRTUAL_NAME] = out
        self.refresh()
        # A thread holding the GIL (the engine rendering, the loop) keeps it up to the
        # switch interval (5 ms by default) before a waiting thread runs: for the clock,
        # that is jitter. 0.5 ms costs a few more GIL hand-offs, process-wide.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread.start()

    def _new_out(self, role: str) -> Any:
        """A MidiOut on the MIDI system in use (DeviceError saying why when none answers)."""
        self.api, out = open_output(self.api, f"{OWN_PREFIX}-clock-{role}"[:60])
        return out

    def refresh(self) -> list[str]:
        """Open every output matching the pattern that is not open yet; returns new names."""
        if not self.pattern:
            return []
        probe = self._new_out("probe")
        try:
            names = [n for n in probe.get_ports() if not n.startswith(OWN_PREFIX)]
        finally:
            probe.delete()
        spec = _spec(self.pattern)
        opened = []
        for name in names:
            if name in self._ports or not spec.matches(name):
                continue
            out = self._new_out("out")
            try:
                out.open_port(out.get_ports().index(name), name="clock out")
            except MIDI_ERRORS as exc:
                log.warning("cannot open MIDI clock output %s: %s", name, exc)
                out.delete()
                continue
            with self._lock:
                self._ports[name] = out
            opened.append(name)
            log.info("MIDI clock out to %s", name)
        return opened

    def close(self) -> None:
        """Send Stop if running, stop the thread, close the ports."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        with self._lock:
            ports, self._ports = self._ports, {}
        for out in ports.values():
            with contextlib.suppress(*MIDI_ERRORS):
                out.send_message([STOP])  # a receiver must not run on without us
        # rtmidi's JACK output only queues the Stop; it leaves in the next JACK cycle, and a
        # port closed before that drops it (seen once in four CI runs): wait two periods
        time.sleep(FLUSH_SECONDS)
        for out in ports.values():
            with contextlib.suppress(*MIDI_ERRORS):
                out.close_port()
            out.delete()

    # --- what the loop tells it ---------------------------------------------------------
    def set_grid(self, grid: Grid | None) -> None:
        with self._lock:
            self.plan.set_grid(grid)
        self._wake.set()

    def play(self) -> None:
        with self._lock:
            self.plan.play()
        self._wake.set()

    def resume(self) -> None:
        with self._lock:
            self.plan.resume()
        self._wake.set()

    def stop(self) -> None:
        with self._lock:
            self.plan.stop()
        self._wake.set()

    @property
    def ports(self) -> list[str]:
        with self._lock:
            return list(self._ports)

    # --- the thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                planned = self.plan.next(self.clock())
            if planned is None:
                self._wake.wait(IDLE)
                self._wake.clear()
                continue
            if not self._wait_until(planned.at):
                continue  # the plan changed while sleeping: plan again
            self._send(planned)

    def _wait_until(self, at: float) -> bool:
        """Sleep, then spin, until ``at``; False if woken early by a plan change."""
        delay = at - self.clock() - SPIN
        if delay > 0:
            self._wake.clear()
            if self._wake.wait(delay):
                return False
        while self.clock() < at:
            pass  # the last ~1.5 ms: spinning is the only precise wait in Python
        return True

    def _send(self, planned: Planned) -> None:
        with self._lock:
            ports = list(self._ports.values())
            self.plan.sent(planned)
        actual = self.clock()
        for out in ports:
            with contextlib.suppress(*MIDI_ERRORS):
                out.send_message([planned.status])
        if planned.status == CLOCK:
            self.sent.append((planned.at, actual))
            del self.sent[:-2000]


def _spec(pattern: str) -> ControllerSpec:
    regex = pattern.startswith("re:")
    return ControllerSpec(name="clock out", port=pattern[3:] if regex else pattern, regex=regex)
