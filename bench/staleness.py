"""Control staleness: how old is the knob value each prompt frame carries when it lands?

A JACK virtual controller sweeps one knob at 1000 messages/s into the real daemon
(``promptbridge run --engine lyria --url ws://127.0.0.1:PORT/...``); a loopback
Lyria-protocol server (its own process) timestamps every prompt frame on arrival. The
same sweep then goes through ``bench/baseline_bridge.py`` (mido callback → google-genai
``set_weighted_prompts`` per message) to the same server over wss:// (the SDK only
speaks TLS). Both runs happen against a fast server and against one that takes 5 ms to
ingest each frame (a Pi on Wi-Fi, a busy server). Process, MIDI and network I/O.

How a frame is dated: the knob (CC 1, slot "sweep") goes 1→127 and jumps back, over and
over (127 ms per ramp); a second knob (CC 2, slot "period") steps once at the start of
each ramp. The two weights a frame carries name the message that produced it (which
ramp, which step), so its staleness is exact: arrival time minus that message's send
time, whatever the queueing. Both processes read CLOCK_MONOTONIC (``time.monotonic()``).

    python bench/staleness.py [--seconds 3] [--ingest 0,0.005] [--only ours|baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchrig import (
    LYRIA_PATH,
    ROOT,
    Daemon,
    daemon_args,
    free_port,
    jack_rig,
    percentile,
)

RATE_HZ = 1000  # knob messages per second
CC, PERIOD_CC = 1, 2
SWEEP, PAD, PERIOD = "sweep", "pad", "period"
RAMP = 127  # messages per ramp of the sawtooth
FINAL = 77  # where the knob stops: must arrive
TARGET_P99_MS = 60.0
TARGET_FPS = 25.0
MAPPING = """
[controller]
name = "bench knob"
port = "*"

[[slots]]
text = "sweep"
weight = 0.0

[[slots]]
text = "pad"
weight = 1.0

[[slots]]
text = "period"
weight = 0.0

[[bind]]
cc = 1
target = "slot.1.weight"
takeover = "immediate"

[[bind]]
cc = 2
target = "slot.3.weight"
takeover = "immediate"
"""


# --- the loopback server (run with --server, in its own process) -------------------------
class Server:
    """Answers setup, streams quiet audio in real time, timestamps prompt frames.

    With ``ingest`` > 0 it spends that long on each frame before reading the next, so
    frames queue (in websockets' buffer, then TCP) as they would at a slow server.
    ``dump`` on stdin prints the frames since the last dump as JSON:
    [[t, sweep weight, period weight], ...].
    """

    def __init__(self, ingest: float) -> None:
        self.ingest = ingest
        self.frames: list[tuple[float, float, float]] = []
        self.chunk = _quiet_chunk()

    async def handle(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await ws.recv()  # setup
            await ws.send(json.dumps({"setupComplete": {}}))
            streamer = asyncio.create_task(self.stream(ws))
            try:
                async for raw in ws:
                    arrived = time.monotonic()
                    weights = _weights(json.loads(raw))
                    if SWEEP in weights:
                        self.frames.append((arrived, weights[SWEEP], weights.get(PERIOD, 0.0)))
                    if self.ingest:
                        await asyncio.sleep(self.ingest)
            finally:
                streamer.cancel()

    async def stream(self, ws: Any) -> None:
        """0.1 s chunks, one second ahead, then paced to real time (the daemon's watchdog
        wants audio)."""
        start = time.monotonic()
        sent = 0
        while True:
            await ws.send(self.chunk)
            sent += 1
            ahead = sent * 0.1 - (time.monotonic() - start)
            if ahead > 1.0:
                await asyncio.sleep(ahead - 1.0)

    async def run(self, cert: str, key: str) -> None:
        from websockets.asyncio.server import serve

        from bridge.server import ssl_context

        plain = await serve(self.handle, "127.0.0.1", 0, compression=None, max_size=None)
        tls = await serve(self.handle, "127.0.0.1", 0, ssl=ssl_context(cert, key), compression=None)
        ports = [next(iter(s.sockets)).getsockname()[1] for s in (plain, tls)]
        print(*ports, flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        threading.Thread(target=self._commands, args=(loop, done), daemon=True).start()
        await done.wait()
        plain.close()
        tls.close()

    def _commands(self, loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
        for line in sys.stdin:
            if line.strip() == "dump":
                loop.call_soon_threadsafe(self._dump)
        loop.call_soon_threadsafe(done.set)

    def _dump(self) -> None:
        frames, self.frames = self.frames, []
        print(json.dumps(frames), flush=True)


def _weights(message: Any) -> dict[str, float]:
    """text → weight of a clientContent frame (empty for any other frame)."""
    content = message.get("clientContent") if isinstance(message, dict) else None
    if not isinstance(content, dict):
        return {}
    return {
        str(p.get("text")): float(p.get("weight", 0.0))
        for p in content.get("weightedPrompts", ())
        if isinstance(p, dict)
    }


def _quiet_chunk() -> str:
    import numpy as np

    from tests.faultserver import audio_frame

    t = np.arange(4800) / 48_000
    mono = 0.05 * np.sin(2 * np.pi * 220 * t)
    frame = audio_frame(np.stack([mono, mono], axis=1), binary=False)
    assert isinstance(frame, str)
    return frame


# --- the sweep and its analysis ------------------------------------------------------------
def sweep(port: Any, seconds: float) -> list[tuple[float, int]]:
    """Send the sawtooth at RATE_HZ for ``seconds``, then FINAL; returns the (time, value)
    of every CC 1 message. CC 2 steps (1, 2, ...) right before each ramp starts."""
    import mido

    sends: list[tuple[float, int]] = []
    count = int(seconds * RATE_HZ)
    if count > RAMP * (RAMP - 1):
        raise SystemExit(f"sweeps longer than {RAMP * (RAMP - 1) / RATE_HZ:g} s repeat")
    start = time.monotonic()
    for i in range(count + 1):
        value = 1 + i % RAMP if i < count else FINAL
        delay = start + i / RATE_HZ - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if i % RAMP == 0 and i < count:
            port.send(mido.Message("control_change", control=PERIOD_CC, value=1 + i // RAMP))
        sends.append((time.monotonic(), value))
        port.send(mido.Message("control_change", control=CC, value=value))
    return sends


def value_of(weight: float) -> int:
    """The CC value whose weight (value/127 * 2, rounded on the wire) this is."""
    return round(weight * 127 / 2)


@dataclass(frozen=True)
class Result:
    """One run: staleness percentiles (ms), frames/s at the server, the final value."""

    bridge: str
    ingest_ms: float
    frames: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    fps: float
    final_ok: bool
    unmatched: int
    sent: int
    send_rate: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def analyse(
    bridge: str, ingest: float, sends: list[tuple[float, int]], frames: list[list[float]]
) -> Result:
    """Date each frame by the message its two weights name (see the module docstring)."""
    first = sends[0][0]
    frames = [f for f in frames if f[0] >= first]  # frames of this sweep only
    stale: list[float] = []
    unmatched = 0
    for arrived, sweep_weight, period_weight in frames:
        index = message_index(sends, arrived, value_of(sweep_weight), value_of(period_weight))
        if index is None:
            unmatched += 1
            continue
        stale.append((arrived - sends[index][0]) * 1000)
    span = frames[-1][0] - frames[0][0] if len(frames) > 1 else math.nan
    final_ok = bool(frames) and value_of(frames[-1][1]) == FINAL
    duration = sends[-1][0] - sends[0][0]
    return Result(
        bridge=bridge,
        ingest_ms=ingest * 1000,
        frames=len(frames),
        p50_ms=percentile(stale, 50),
        p99_ms=percentile(stale, 99),
        max_ms=max(stale) if stale else math.nan,
        fps=len(frames) / span if span and span > 0 else math.nan,
        final_ok=final_ok,
        unmatched=unmatched,
        sent=len(sends),
        send_rate=(len(sends) - 1) / duration if duration > 0 else math.nan,
    )


def message_index(
    sends: list[tuple[float, int]], arrived: float, value: int, period: int
) -> int | None:
    """The latest CC 1 message sent before ``arrived`` that a frame with these knob values
    reflects: step ``value`` of ramp ``period``, or of the ramp before (CC 2 may already
    have stepped when CC 1 had not), or the final message."""
    if period < 1:
        return None
    ramp = (period - 1) * RAMP
    candidates = [ramp + value - 1, ramp - RAMP + value - 1]
    if value == FINAL:
        candidates.insert(0, len(sends) - 1)
    for index in candidates:
        if 0 <= index < len(sends) and sends[index][1] == value and sends[index][0] <= arrived:
            return index
    return None


# --- orchestration ----------------------------------------------------------------------
class ServerProcess:
    """The loopback server as a child process: its two ports and ``dump()``."""

    def __init__(self, ingest: float, cert: str, key: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--server", str(ingest), cert, key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        plain, tls = self.proc.stdout.readline().split()
        self.ws_url = f"ws://127.0.0.1:{plain}{LYRIA_PATH}"
        self.https_url = f"https://127.0.0.1:{tls}"

    def dump(self) -> list[list[float]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("dump\n")
        self.proc.stdin.flush()
        frames: list[list[float]] = json.loads(self.proc.stdout.readline())
        return frames

    def wait_quiet(self, quiet: float = 1.0, timeout: float = 90.0) -> list[list[float]]:
        """Collect frames until none arrived for ``quiet`` seconds (queues drained)."""
        frames: list[list[float]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(quiet)
            more = self.dump()
            frames += more
            if not more:
                break
        return frames

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def controller() -> Any:
    import mido

    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    name = f"BenchKnob{uuid.uuid4().hex[:4]}"
    return name, backend.open_output(name, virtual=True)


def run_ours(server: ServerProcess, seconds: float, tmp: Path, ingest: float) -> Result:
    name, port = controller()
    mapping = tmp / "knob.toml"
    mapping.write_text(MAPPING)
    status_port = free_port()
    args = daemon_args(
        "--engine", "lyria", "--url", server.ws_url, "--mapping", str(mapping),
        "--midi-in", name, "--state-file", str(tmp / f"state-{uuid.uuid4().hex}.json"),
        status_port=status_port,
    )  # fmt: skip
    daemon = Daemon(args, cwd=str(tmp))
    try:
        daemon.wait_for(r"controller .+ connected", timeout=30)
        daemon.wait_for("audio flowing", timeout=30)
        time.sleep(0.5)
        server.dump()  # the session's replay is not part of the sweep
        sends = sweep(port, seconds)
        frames = server.wait_quiet()
    finally:
        daemon.stop()
        port.close()
    return analyse("PromptBridge", ingest, sends, frames)


def run_baseline(server: ServerProcess, seconds: float, cert: str, ingest: float) -> Result:
    name, port = controller()
    script = Path(__file__).with_name("baseline_bridge.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", name, "--url", server.https_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SSL_CERT_FILE": cert},
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the baseline bridge did not start")
        time.sleep(0.5)
        server.dump()
        sends = sweep(port, seconds)
        frames = server.wait_quiet()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        port.close()
    return analyse("baseline (genai per message)", ingest, sends, frames)


def measure(seconds: float, ingests: list[float], only: str | None = None) -> list[Result]:
    """Every (server speed × bridge) run; needs a JACK server (see benchrig.jack_rig)."""
    from tests.faultserver import self_signed_cert

    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cert, key = self_signed_cert(tmp)
        for ingest in ingests:
            server = ServerProcess(ingest, cert, key)
            try:
                if only in (None, "ours"):
                    results.append(run_ours(server, seconds, tmp, ingest))
                if only in (None, "baseline"):
                    results.append(run_baseline(server, seconds, cert, ingest))
            finally:
                server.close()
    return results


def table(results: list[Result]) -> str:
    lines = [
        f"{'bridge':<30} {'server':>9} {'frames':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'fr/s':>6} {'final':>5} {'sent/s':>6}"
    ]
    for r in results:
        lines.append(
            f"{r.bridge:<30} {r.ingest_ms:>6.0f} ms {r.frames:>6} {r.p50_ms:>8.1f} "
            f"{r.p99_ms:>8.1f} {r.max_ms:>8.1f} {r.fps:>6.1f} {'yes' if r.final_ok else 'NO':>5} "
            f"{r.send_rate:>6.0f}" + (f"  ({r.unmatched} unmatched)" if r.unmatched else "")
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="sweep length per run")
    parser.add_argument("--ingest", default="0,0.005", help="server ingest times (s per frame)")
    parser.add_argument("--only", choices=["ours", "baseline"], help="run one bridge only")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--server", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server:
        ingest, cert, key = args.server
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(Server(float(ingest)).run(cert, key))
        return 0
    ingests = [float(x) for x in args.ingest.split(",")]
    with jack_rig():
        results = measure(args.seconds, ingests, args.only)
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    else:
        print(table(results))
        print(f"targets for PromptBridge: p99 <= {TARGET_P99_MS:g} ms, <= {TARGET_FPS:g} fr/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
