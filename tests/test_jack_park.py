"""A late Python JACK client is closed without hanging its process (``tests.jack_park``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLOSES = 25

# A client whose callback runs 0-8 ms (a period is 5.3 ms): late, as on a busy machine.
# Without the parking this hung within its first few closes here.
CHILD = """
import random, sys, time
import jack
from tests.jack_park import Park

for i in range(int(sys.argv[1])):
    client = jack.Client("pblate", no_start_server=True)
    port = client.inports.register("in")
    park = Park()

    def process(frames, port=port, park=park):
        park.check()
        port.get_array().copy()
        until = time.perf_counter() + random.random() * 0.008
        while time.perf_counter() < until:  # spin: a late cycle holding the GIL
            continue

    client.set_process_callback(process)
    client.activate()
    time.sleep(0.05 + random.random() * 0.1)
    park.close(client)
print("closed", sys.argv[1])
"""


@pytest.mark.jack
def test_a_late_python_client_closes_without_hanging(jack_server: Any) -> None:
    """Closed 25 times while its callback runs late, the process never hangs (a hang is
    the child's timeout, so the suite itself cannot hang here)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(CLOSES)],
            env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"a close hung (the JACK thread cancelled inside Python): {CLOSES} closes")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["closed", str(CLOSES)]
