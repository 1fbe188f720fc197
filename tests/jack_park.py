"""Closing a JACK client whose process callback is Python, without hanging this process.

``jack_deactivate`` (jack2) stops the client's process thread with ``pthread_cancel``.
On a busy machine that thread is often still inside the Python callback of a late
cycle, holding the GIL or waiting for it: cancelled there, it never gives the GIL back,
and the whole test process hangs in the next Python step after ``deactivate()`` (seen
in the suite, at a recorder's teardown; gdb showed the main thread in ``take_gil``). A
loop of activate/deactivate with a callback that runs 0-8 ms late hung within two
closes of 150; parked as below, 150 of 150 closed.

So the callback parks before the client is deactivated: its first step is
``park.check()``, which, once ``close`` has asked, blocks the JACK thread on a lock
that is never released, in C with the GIL released. The cancel then finds it there,
holding nothing of Python's.
"""

from __future__ import annotations

import threading
import time
from typing import Any

PARK_WAIT = 2.0  # s for the callback to reach its parking (a stalled server: go on anyway)
SETTLE = 0.1  # s for the parked thread, woken to hand the GIL over, to block again


class Park:
    """The parking of one client's process callback (see the module docstring)."""

    def __init__(self) -> None:
        self._asked = False
        self._parked = threading.Event()
        self._never = threading.Lock()
        self._never.acquire()

    def check(self) -> None:
        """The process callback's first step: once closing was asked, never returns."""
        if self._asked:
            self._parked.set()
            self._never.acquire()  # blocks for good, the GIL released

    def close(self, client: Any) -> None:
        """Park the callback, then deactivate and close ``client``."""
        self._asked = True
        self._parked.wait(PARK_WAIT)
        # Between setting the event and blocking, the JACK thread may hand the GIL to
        # this thread for a moment; give it the time to take it back and block.
        time.sleep(SETTLE)
        client.deactivate()
        client.close()
