"""Never silent through the real daemon: silent seconds at the JACK card, on and off.

A Lyria-protocol server on loopback (``tests/faultserver.py``, 2 s chunks of a sine)
generates at 0.97x real time with no lead, or stalls 6 s after its fifth chunk;
``promptbridge run --engine lyria --latency balanced`` plays into a private JACK dummy
server, and a JACK client wired to the daemon's output ports keeps the level of every
100 ms window. Each scenario runs twice in the same run: the defaults, and
``--stretch-limit 0 --no-conceal`` (the behaviour before). Figures: silent seconds after
the first sound, the playout ratio range (status API), and the daemon's CPU over the
window (/proc/PID/stat, % of one core). Process, network and audio I/O.

    python bench/playout_daemon.py [--seconds 120] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchrig import Daemon, daemon_args, free_port, jack_rig, proc_stat, status

from tests.faultserver import Fault, FaultServer
from tests.jack_park import Park

WINDOW = 4800  # 100 ms at 48 kHz
OFF = ("--stretch-limit", "0", "--no-conceal")


@contextlib.contextmanager
def serving(server: FaultServer) -> Iterator[FaultServer]:
    """The server on its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(5)
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.__aexit__(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


class Listener:
    """A JACK client that keeps the mean square of every block it hears."""

    def __init__(self) -> None:
        import jack

        self.client = jack.Client("pblisten", no_start_server=True)
        self.ports = [self.client.inports.register(f"in_{i}") for i in (1, 2)]
        self.blocks: list[tuple[int, float]] = []
        self.on = False
        self.park = Park()
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        self.park.check()
        if self.on:
            level = sum(float(np.mean(p.get_array() ** 2)) for p in self.ports) / 2
            self.blocks.append((frames, level))

    def connect(self) -> None:
        sources = self.client.get_ports("PortAudio", is_audio=True, is_output=True)
        for src, dst in zip(sources[:2], self.ports, strict=True):
            self.client.connect(src, dst)

    def silent_seconds(self) -> float:
        """100 ms windows with no sound at all, after the first sound."""
        sums = np.zeros(sum(n for n, _ in self.blocks) // WINDOW + 1)
        pos = 0
        for n, level in self.blocks:
            sums[pos // WINDOW] += level * n
            pos += n
        rms = np.sqrt(sums[: pos // WINDOW] / WINDOW)
        loud = np.flatnonzero(rms >= 1e-4)
        return 0.0 if not len(loud) else round(float((rms[loud[0] :] < 1e-4).sum()) * 0.1, 1)

    def close(self) -> None:
        self.park.close(self.client)


def run_once(
    server: FaultServer, seconds: float, tmp: Path, extra: tuple[str, ...]
) -> dict[str, Any]:
    port = free_port()
    listener = Listener()
    with serving(server):
        args = daemon_args(
            "--engine", "lyria", "--url", server.url, "--latency", "balanced",
            "--state-file", str(tmp / "state.json"), *extra, status_port=port,
        )  # fmt: skip
        daemon = Daemon(args, cwd=str(tmp))
        try:
            daemon.wait_for("audio out:", timeout=60)
            listener.connect()
            listener.on = True
            daemon.wait_for("audio flowing", timeout=60)
            before, t0 = proc_stat(daemon.proc.pid), time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            cpu = 100 * (proc_stat(daemon.proc.pid).cpu_seconds - before.cpu_seconds) / elapsed
            audio = status(port)["audio"]
        finally:
            listener.on = False
            daemon.stop()
            listener.close()
    return {
        "silent": listener.silent_seconds(),
        "ratio_min": audio.get("playout_ratio_min", 1.0),
        "ratio_max": audio.get("playout_ratio_max", 1.0),
        "episodes": audio.get("concealment_episodes", 0),
        "underruns": audio["underruns"],
        "cpu_percent": round(cpu, 2),
    }


def measure(seconds: float) -> list[dict[str, Any]]:
    scenarios = [
        (f"0.97× real time, no lead, {seconds / 60:g} min, through the daemon", seconds, []),
        ("6 s stall, through the daemon", 30.0, [Fault("stall", after=5, stall=6.0)]),
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name, length, faults in scenarios:
            row: dict[str, Any] = {"scenario": name}
            for label, extra in (("on", ()), ("off", OFF)):
                server = FaultServer(
                    list(faults), chunk_seconds=2.0, speed=0.97 if not faults else 1.0
                )
                row[label] = run_once(server, length, Path(tmpdir), extra)
            results.append(row)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with jack_rig():
        results = measure(args.seconds)
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(r["scenario"], json.dumps(r["on"]), json.dumps(r["off"]))


if __name__ == "__main__":
    main()
