"""Drive an Instrument the way the daemon does, on a simulated clock. Pure, no I/O.

The daemon (``bridge.daemon``) applies each input the moment it arrives, then polls the
instrument and performs the effects; with no input it sleeps until the instrument's
``next_deadline()``. ``Driver`` does exactly that with a plain float for the time, so
tests and benchmarks run the product's own objects instead of a loop of their own::

    driver = Driver(Instrument(mapping))
    driver.replay()
    effects = driver.run([(0.5, Change("slot.1.weight", 1.0)), (0.6, b"\\xb0\\x07\\x40")])

Inputs are ``Change``s, parsed ``MidiEvent``s or raw MIDI bytes (parsed by the one MIDI
parser, as the MIDI adapter does). ``run`` returns ``(time, effect)`` pairs in order.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.core.instrument import Effect, Instrument, Outcome
from bridge.core.midi import parse
from bridge.core.types import Change, MidiEvent

Input = Change | MidiEvent | bytes
Timed = list[tuple[float, Effect]]


class Driver:
    """An Instrument, a clock and the daemon's wake-up rule. ``outcomes`` keeps every
    Change's Outcome (in order) so a test can see refusals and clamps."""

    def __init__(self, instrument: Instrument, now: float = 0.0, port: str = "test") -> None:
        self.instrument = instrument
        self.now = now
        self.port = port
        self.outcomes: list[Outcome] = []

    def replay(self) -> Timed:
        """What a fresh engine session is sent (the daemon does this once the engine is up)."""
        return [(self.now, e) for e in self.instrument.replay(self.now)]

    def feed(self, item: Input, now: float | None = None) -> Timed:
        """One input at ``now`` (default: the current time), then one poll: a daemon wake."""
        self.give(item, now)
        return self.poll()

    def give(self, item: Input, now: float | None = None) -> None:
        """One input at ``now``, without the poll (inputs that arrive in one loop turn)."""
        if now is not None and now > self.now:
            self.now = now
        if isinstance(item, bytes):  # the MIDI adapter's path: the one parser, then midi()
            event = parse(item, self.port, self.now)
            if event is not None:
                self.instrument.midi(event, self.now)
        elif isinstance(item, Change):
            self.outcomes.append(self.instrument.apply(item, self.now))
        else:
            self.instrument.midi(item, self.now)

    def poll(self) -> Timed:
        now = self.now
        effects = self.instrument.poll(now)
        return [(now, e) for e in effects] if effects else []

    def advance(self, until: float) -> Timed:
        """Sleep until ``until``, waking at every deadline on the way, as the daemon does."""
        out: Timed = []
        while True:
            deadline = self.instrument.next_deadline()
            if deadline is None or deadline > until:
                break
            self.now = max(self.now, deadline)
            out += self.poll()
        self.now = max(self.now, until)
        return out

    def run(self, script: Iterable[tuple[float, Input]], until: float | None = None) -> Timed:
        """Feed every timed input (sorted by time), waking at deadlines in between, and go
        on until ``until`` (default: until nothing is due any more). Inputs with the same
        time arrive in one loop turn: one poll after all of them, as in the daemon."""
        out: Timed = []
        pending = sorted(script, key=lambda pair: pair[0])
        for index, (at, item) in enumerate(pending):
            out += self.advance(at)
            self.give(item, at)
            if index + 1 == len(pending) or pending[index + 1][0] > at:
                out += self.poll()
        if until is None:
            out += self.settle()
        else:
            out += self.advance(until)
        return out

    def settle(self, limit: float = 3600.0) -> Timed:
        """Wake at every deadline until nothing is due (glides landed, state saved)."""
        return self.advance(self.now + limit)
