"""A daemon stand-in for the status and OSC servers' tests: the real Instrument behind it.

``StandIn.control`` is what ``Daemon.apply`` is to the status server (a Change in, an
Outcome out, a push to watchers); ``snapshot`` is overridden by each test module with the
fields its page or client reads.
"""

from __future__ import annotations

import time
from typing import Any

from bridge.core.instrument import Instrument, Outcome
from bridge.core.mapping import MappingSet
from bridge.core.types import Change


class StandIn:
    """The instrument of ``mapping``, every change the server hands over recorded."""

    def __init__(self, mapping: MappingSet) -> None:
        self.instrument = Instrument(mapping)
        self.perf = self.instrument.perf
        self.applied: list[Change] = []
        self.server: Any = None  # a StatusServer or an OscServer: whatever is told to push

    def snapshot(self) -> dict[str, Any]:
        return {"performance": self.perf.snapshot()}

    def control(self, change: Change) -> Outcome:
        self.applied.append(change)
        outcome = self.instrument.apply(change, time.monotonic())
        assert self.server is not None
        self.server.notify()
        return outcome
