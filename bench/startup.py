"""Start-up time: ``promptbridge run`` (synth engine) to its first sample in the JACK graph.

A JACK client in this process watches for the daemon's PortAudio output ports, connects
its two inputs to them the moment they appear, and notes (CLOCK_MONOTONIC, in its process
callback) the first block holding a non-zero sample. The time is measured from just
before the daemon process is spawned, so interpreter start-up and imports count. Each run
is a fresh process; the median and the worst are reported. Process and JACK I/O.

    python bench/startup.py [--runs 3]

Target: < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchrig import Daemon, daemon_args, free_port, jack_rig

from tests.jack_park import Park

TARGET_SECONDS = 1.5


class FirstSample:
    """A JACK client that connects to PortAudio's outputs and times the first sound."""

    def __init__(self) -> None:
        import jack

        self.client = jack.Client(f"pbstartup{uuid.uuid4().hex[:4]}", no_start_server=True)
        self.ports = [self.client.inports.register(f"in_{i}") for i in (1, 2)]
        self.heard: float | None = None
        self.park = Park()
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        self.park.check()
        if self.heard is None and any(p.get_array().any() for p in self.ports):
            self.heard = time.monotonic()

    def connect_when_ready(self, stop: threading.Event) -> None:
        """Poll (every 2 ms) for the player's ports and wire them to ours."""
        while not stop.is_set():
            sources = self.client.get_ports("PortAudio", is_audio=True, is_output=True)
            if len(sources) >= 2:
                for src, dst in zip(sources[:2], self.ports, strict=True):
                    self.client.connect(src, dst)
                return
            time.sleep(0.002)

    def close(self) -> None:
        self.park.close(self.client)


def one_run(tmp: Path, timeout: float = 20.0) -> float:
    """Seconds from spawning ``promptbridge run`` to its first non-zero sample in JACK."""
    listener = FirstSample()
    stop = threading.Event()
    wiring = threading.Thread(target=listener.connect_when_ready, args=(stop,), daemon=True)
    wiring.start()
    args = daemon_args(
        "--engine", "synth", "--state-file", str(tmp / f"{uuid.uuid4().hex}.json"),
        status_port=free_port(),
    )  # fmt: skip
    started = time.monotonic()
    daemon = Daemon(args, cwd=str(tmp))
    try:
        deadline = started + timeout
        while listener.heard is None and time.monotonic() < deadline:
            if daemon.proc.poll() is not None:
                raise SystemExit(f"the daemon exited early:\n{daemon.log()}")
            time.sleep(0.005)
        if listener.heard is None:
            raise SystemExit(f"no sound within {timeout} s:\n{daemon.log()}")
        return listener.heard - started
    finally:
        stop.set()
        daemon.stop()
        listener.close()


def measure(runs: int) -> dict[str, Any]:
    """Several fresh start-ups; needs a JACK server (see benchrig.jack_rig)."""
    with tempfile.TemporaryDirectory() as tmpdir:
        times = [one_run(Path(tmpdir)) for _ in range(runs)]
    return {"runs": times, "median": statistics.median(times), "max": max(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="start-ups to time")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with jack_rig():
        result = measure(args.runs)
    if args.json:
        print(json.dumps(result))
        return 0
    runs = ", ".join(f"{t:.2f}" for t in result["runs"])
    print(
        f"start-up to first sample: median {result['median']:.2f} s, max {result['max']:.2f} s "
        f"({runs}); target < {TARGET_SECONDS} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
