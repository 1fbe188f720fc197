"""Audio path under time: serve → daemon → JACK for minutes, idle and with a CPU hog.

``promptbridge serve --engine synth`` streams over loopback to ``promptbridge run
--engine lyria`` which plays into a private JACK dummy server (48 kHz stereo). For the
measurement window the bench reads, from outside the daemon: underruns and device xruns
(its status API), CPU time (/proc/PID/stat, as % of one core: the engine runs in the
serve process, so this is the bridge alone) and peak RSS (/proc/PID/status VmHWM, over
the daemon's whole life). The "hog" run keeps one busy-loop process per core going for
the whole window. Process, network and file I/O.

    python bench/audio_path.py [--seconds 600] [--modes idle,hog]

Targets: 0 underruns, < 5 % of one core, peak RSS < 80 MB. Peak RSS (VmHWM) counts
JACK's shared server segment, mapped into every JACK client; the bench also samples,
every second, the RSS without shared memory (the daemon's own).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchrig import (
    LYRIA_PATH,
    Daemon,
    cpu_hog,
    daemon_args,
    free_port,
    jack_rig,
    proc_stat,
    status,
)

TARGET_UNDERRUNS = 0
TARGET_CPU = 5.0
TARGET_RSS_MB = 80.0


@dataclass(frozen=True)
class Result:
    mode: str
    seconds: float
    underruns: int
    device_xruns: int
    cpu_percent: float
    peak_rss_mb: float
    peak_own_mb: float  # sampled each second: RSS minus shared memory (JACK's segment)
    serve_cpu_percent: float
    played_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def audio(port: int) -> dict[str, Any]:
    stats: dict[str, Any] = status(port)["audio"]
    return stats


def measure_one(mode: str, seconds: float, tmp: Path, midi_api: str = "jack") -> Result:
    """One fresh serve + daemon pair, streamed for ``seconds`` after a settling second.

    ``midi_api="alsa"`` on a machine without ALSA runs the daemon with no MIDI system at
    all, which shows what the MIDI hub's JACK clients cost.
    """
    serve_port, status_port = free_port(), free_port()
    serve = Daemon(["serve", "--engine", "synth", "--port", str(serve_port)], cwd=str(tmp))
    url = f"ws://127.0.0.1:{serve_port}{LYRIA_PATH}"
    args = daemon_args(
        "--engine", "lyria", "--url", url, "--state-file", str(tmp / f"{mode}.json"),
        "--midi-api", midi_api, status_port=status_port,
    )  # fmt: skip
    daemon = Daemon(args, cwd=str(tmp))
    try:
        serve.wait_for("serving engine", timeout=30)
        daemon.wait_for("audio flowing", timeout=60)
        time.sleep(2.0)  # the jitter buffer fills
        hog = cpu_hog() if mode == "hog" else contextlib.nullcontext()
        with hog:
            before, serve_before, stats0 = (
                proc_stat(daemon.proc.pid),
                proc_stat(serve.proc.pid),
                audio(status_port),
            )
            t0 = time.monotonic()
            own = before.own_mb
            while time.monotonic() - t0 < seconds:
                time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - t0))))
                own = max(own, proc_stat(daemon.proc.pid).own_mb)
            stats1 = audio(status_port)
            elapsed = time.monotonic() - t0
            after, serve_after = proc_stat(daemon.proc.pid), proc_stat(serve.proc.pid)
    finally:
        daemon.stop()
        serve.stop()
    return Result(
        mode=mode,
        seconds=round(elapsed, 1),
        underruns=int(stats1["underruns"]) - int(stats0["underruns"]),
        device_xruns=int(stats1["device_xruns"]) - int(stats0["device_xruns"]),
        cpu_percent=100 * (after.cpu_seconds - before.cpu_seconds) / elapsed,
        peak_rss_mb=after.peak_rss_mb,
        peak_own_mb=max(own, after.own_mb),
        serve_cpu_percent=100 * (serve_after.cpu_seconds - serve_before.cpu_seconds) / elapsed,
        played_seconds=float(stats1["played_seconds"]) - float(stats0["played_seconds"]),
    )


def measure(seconds: float, modes: list[str], midi_api: str = "jack") -> list[Result]:
    """Every mode in turn; needs a JACK server (see benchrig.jack_rig)."""
    with tempfile.TemporaryDirectory() as tmpdir:
        return [measure_one(mode, seconds, Path(tmpdir), midi_api) for mode in modes]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="window per mode")
    parser.add_argument("--modes", default="idle,hog", help="idle, hog or both")
    parser.add_argument("--midi-api", default="jack", help="the daemon's MIDI system")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    with jack_rig():
        results = measure(args.seconds, args.modes.split(","), args.midi_api)
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
        return 0
    for r in results:
        print(
            f"audio path {r.mode:<4} {r.seconds:6.0f} s: {r.underruns} underruns "
            f"({r.device_xruns} device xruns), daemon CPU {r.cpu_percent:.2f} % of one core, "
            f"peak RSS {r.peak_rss_mb:.1f} MB ({r.peak_own_mb:.1f} MB without JACK's shared "
            f"memory) (serve CPU {r.serve_cpu_percent:.1f} %), "
            f"played {r.played_seconds:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
