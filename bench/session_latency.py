"""Control-change latency to the wire: PromptBridge's path vs google-genai's, same run.

Measures, on one machine over loopback TLS (the SDK always uses wss://):

* ``outbox → wire``: a prompt-weight Change enters ``Performance.apply`` + ``Outbox.step``,
  the resulting ``SetPrompts`` goes through ``LyriaEngine.apply`` and its writer task,
  until the frame is received by a loopback websockets server;
* ``engine.apply → wire``: the same, timed from ``LyriaEngine.apply``;
* ``google-genai``: ``AsyncMusicSession.set_weighted_prompts`` until the frame arrives.

Changes are spaced further apart than the outbox's rate-limit interval, so the interval
itself is excluded (every change takes the leading edge). Prints p50/p99/max in ms.

    python bench/session_latency.py [--n 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from bridge.core.outbox import Outbox
from bridge.core.performance import Performance
from bridge.core.types import Change, PerformanceSpec, SlotSpec
from bridge.engines.lyria import create
from bridge.server import ssl_context

PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"
KEY = "bench-key-not-secret"
INTERVAL = 0.01  # outbox rate limit for the bench; changes are spaced wider than this
SPACING = 0.012


class Recorder:
    """A loopback Lyria-ish server (run in its own process, so the client's loop does not
    delay it) that timestamps every clientContent frame on arrival. ``/arrivals`` returns
    the timestamps so far (perf_counter is the system-wide monotonic clock on Linux)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path == "/arrivals":
            await ws.send(json.dumps(self.arrivals))
            return
        await ws.recv()
        await ws.send(json.dumps({"setupComplete": {}}))
        async for frame in ws:
            now = time.perf_counter()
            if "clientContent" in json.loads(frame):
                self.arrivals.append(now)

    async def run(self, cert: str, key: str) -> None:
        server = await serve(self.handle, "127.0.0.1", 0, ssl=ssl_context(cert, key))
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        async with server:
            await asyncio.Event().wait()


async def arrivals(port: int) -> list[float]:
    async with connect(f"wss://127.0.0.1:{port}/arrivals") as ws:
        times: list[float] = json.loads(await ws.recv())
        return times


async def bench_bridge(port: int, n: int) -> tuple[list[float], list[float]]:
    spec = PerformanceSpec(slots=(SlotSpec("minimal techno", 1.0), SlotSpec("dub", 0.5)))
    perf, outbox = Performance(spec), Outbox(interval=INTERVAL)
    engine = create(url=f"wss://127.0.0.1:{port}{PATH}", api_key=KEY, stagger=0.0)
    await engine.start()
    for update in outbox.replay(perf):
        await engine.apply(update)
    await asyncio.sleep(0.2)
    base = len(await arrivals(port))
    t_outbox: list[float] = []
    t_apply: list[float] = []
    for i in range(n):
        await asyncio.sleep(SPACING)
        t0 = time.perf_counter()
        now = time.monotonic()
        perf.apply(Change("slot.1.weight", 0.5 + (i % 100) / 100 + 0.001), now)
        updates = outbox.step(perf, now)
        t1 = time.perf_counter()
        for update in updates:
            await engine.apply(update)
        t_outbox.append(t0)
        t_apply.append(t1)
    await asyncio.sleep(0.2)
    await engine.close()
    got = (await arrivals(port))[base:]
    if len(got) != n:
        raise SystemExit(f"expected {n} prompt frames, got {len(got)}")
    return (
        [a - t for a, t in zip(got, t_outbox, strict=True)],
        [a - t for a, t in zip(got, t_apply, strict=True)],
    )


async def bench_genai(port: int, n: int) -> list[float]:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=f"https://127.0.0.1:{port}", api_version="v1alpha")
    client = genai.Client(api_key=KEY, http_options=options)
    sent: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" warning of the SDK
        async with client.aio.live.music.connect(model="lyria-realtime-exp") as session:
            await asyncio.sleep(0.2)
            base = len(await arrivals(port))
            for i in range(n):
                await asyncio.sleep(SPACING)
                prompts = [
                    types.WeightedPrompt(text="minimal techno", weight=0.5 + (i % 100) / 100),
                    types.WeightedPrompt(text="dub", weight=0.5),
                ]
                sent.append(time.perf_counter())
                await session.set_weighted_prompts(prompts=prompts)
            await asyncio.sleep(0.2)
    got = (await arrivals(port))[base:]
    return [a - t for a, t in zip(got, sent, strict=True)]


def row(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{name:<34} {len(ms):>5} {statistics.median(ms):>8.3f} {p99:>8.3f} {ms[-1]:>8.3f}"


async def main(n: int) -> None:
    logging.getLogger("websockets").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed_cert(tmp)
        os.environ["SSL_CERT_FILE"] = cert  # both clients trust the bench certificate
        child = subprocess.Popen(
            [sys.executable, __file__, "--recorder", cert, key], stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            from_outbox, from_apply = await bench_bridge(port, n)
            from_genai = await bench_genai(port, n)
        finally:
            child.terminate()
            child.wait()
    print(
        f"control change → frame at a loopback wss:// server, "
        f"{n} changes {SPACING * 1e3:g} ms apart"
    )
    print(f"{'path':<34} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(row("PromptBridge outbox → wire", from_outbox))
    print(row("PromptBridge engine.apply → wire", from_apply))
    print(row("google-genai set_weighted_prompts", from_genai))


def self_signed_cert(directory: str) -> tuple[str, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.faultserver import self_signed_cert as make

    return make(directory)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="changes per path (default 600)")
    parser.add_argument("--recorder", nargs=2, metavar=("CERT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recorder:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(Recorder().run(*args.recorder))
        raise SystemExit(0)
    started = time.monotonic()
    asyncio.run(main(args.n))
    print(f"(ran in {time.monotonic() - started:.1f} s)")
