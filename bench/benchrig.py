"""What the end-to-end benchmarks share: a private JACK server, the daemon as a child
process, a JACK recorder, and a process's CPU and memory from /proc. Process and file I/O.

The benchmarks run the real ``promptbridge`` the way a user does, on JACK's dummy backend
(no sound hardware needed; see docs test-rig.md), and observe it from outside: its
status API, /proc/PID, what reached the JACK graph, what reached a loopback server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the daemon helpers live with the tests
    sys.path.insert(0, str(ROOT))

from tests.daemon_helpers import Daemon, free_port, status  # noqa: E402

__all__ = ["Daemon", "ProcStat", "cpu_hog", "free_port", "jack_rig", "proc_stat", "status"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LYRIA_PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"


@contextlib.contextmanager
def jack_rig(rate: int = 48_000, period: int = 256) -> Iterator[str]:
    """A private jackd on the dummy backend; this process and its children use it."""
    jackd = shutil.which("jackd")
    if jackd is None:
        raise SystemExit("jackd is not installed (apt-get install jackd2)")
    name = f"pbbench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    cmd = [jackd, "--no-realtime", "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)]
    with open(f"/tmp/{name}.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    old = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        _wait_accepting(name, proc)
        yield name
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait_accepting(name: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    import jack

    jack.set_error_function(lambda _message: None)  # "cannot connect" while it starts
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"jackd {name} exited with code {proc.returncode}")
        try:
            jack.Client("probe", servername=name, no_start_server=True).close()
            jack.set_error_function()  # back to stderr
            return
        except jack.JackError:
            time.sleep(0.05)
    raise SystemExit(f"jackd {name} did not accept clients within {timeout} s")


@dataclass(frozen=True)
class ProcStat:
    """CPU seconds used so far (user + system) and resident memory of a process.

    ``own_mb`` is the resident memory minus shared-memory segments (RssShmem): on the JACK
    rig, JACK's server segment (~100 MB) is mapped into every client and counted in its
    RSS, though it belongs to jackd and is shared by all.
    """

    cpu_seconds: float
    peak_rss_mb: float
    rss_mb: float
    own_mb: float


def proc_stat(pid: int) -> ProcStat:
    """Read /proc/PID/stat (utime, stime) and /proc/PID/status (VmHWM, VmRSS)."""
    with open(f"/proc/{pid}/stat") as f:
        # the command name may hold spaces: split after its closing parenthesis
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssShmem"):
                values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    rss = values.get("VmRSS", 0.0)
    return ProcStat(cpu, values.get("VmHWM", 0.0), rss, rss - values.get("RssShmem", 0.0))


@contextlib.contextmanager
def cpu_hog(cores: int | None = None) -> Iterator[None]:
    """Busy-loop processes, one per core, at normal priority, for the duration."""
    count = cores or len(os.sched_getaffinity(0))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait(timeout=5)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def daemon_args(*extra: str, status_port: int) -> list[str]:
    """``promptbridge run`` on the JACK rig with the status API (the flags every bench uses)."""
    return [
        "run",
        "--midi-api",
        "jack",
        "--no-virtual-port",
        "--output",
        "system",
        "--autoplay",
        "--status",
        f"127.0.0.1:{status_port}",
        "--log-level",
        "info",
        *extra,
    ]
