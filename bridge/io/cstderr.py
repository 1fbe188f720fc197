"""Keep a C library's own chatter off the terminal while we probe it. Does fd I/O.

libjack prints to the C ``stderr`` when a client cannot reach a server ("Cannot connect
to server socket", "JackShmReadWritePtr::~JackShmReadWritePtr - Init not done", ...),
and alsa-lib when there is no sequencer ("ALSA lib seq_hw.c: ... /dev/snd/seq failed").
python-rtmidi offers no way to install libjack's error and info callbacks (its wheel
carries a private copy of libjack), and ``JACK_NO_START_SERVER`` does not help: rtmidi
already opens its clients with ``JackNoStartServer``, the messages come from the failed
connection itself. So ``quiet_c_stderr()`` points file descriptor 2 at a temporary file
around the probe; afterwards the lines that are library noise go to the debug log and
anything else (a Python warning, another thread's log line) is written out as it was.
We say what went wrong ourselves, in one line with advice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

# What libjack and alsa-lib print when the server or device is not there.
NOISE = re.compile(
    r"^(Cannot (connect|open|read|write|lock|initialize)|jack server is not running"
    r"|Jack[A-Za-z]*::|JackShm|attempt to connect to server|connect\(2\) call to"
    r"|ALSA lib )"
)
_LOCK = threading.Lock()  # fd 2 is one per process: one capture at a time


@contextlib.contextmanager
def quiet_c_stderr(noise: re.Pattern[str] = NOISE) -> Iterator[None]:
    """Run the body with fd 2 captured; then drop the ``noise`` lines, re-print the rest."""
    with _LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to keep quiet
            yield
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()  # Python's own lines of the window go to the replay too
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            _replay(sink.read().decode(errors="replace"), noise)


def _replay(captured: str, noise: re.Pattern[str]) -> None:
    keep = []
    for line in captured.splitlines(keepends=True):
        if noise.match(line):
            log.debug("suppressed: %s", line.rstrip())
        else:
            keep.append(line)
    if keep:
        os.write(2, "".join(keep).encode())
