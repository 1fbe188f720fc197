"""MIDI clock out: tempo error and interval jitter of our sender, beside a busy-waiting
reference sender measured in the same run. Process, MIDI (JACK) and CPU load.

Both send 24 ppqn at 120 bpm to a virtual JACK MIDI output, in alternating 5 s slices
(``--seconds`` each in all, so both see the same shared machine), while another thread
renders the embedded engine flat out (the GIL contention of a daemon rendering audio)
and, with ``--hog``, a process spins on each core. What is measured is when each
message left for the port (``time.monotonic`` just before ``send_message``) against its
planned time:

* tempo error: the least-squares slope of send time against tick number, vs 120 bpm;
* interval jitter: |interval - nominal| per tick, p50 / p99 / max.

The reference spins for the whole run (100 % of a core): the best a Python process can
do. Ours (``bridge.io.clock_out.ClockOut``) sleeps and spins only the last 1.5 ms.
JACK then delivers both at the next period (5.3 ms at 256 frames): that is the same for
both and for every JACK client, so it is not part of this figure.

    python bench/clock_jitter.py --seconds 20 [--hog]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchrig import cpu_hog, jack_rig

from bridge.core.grid import Grid
from bridge.io.clock_out import ClockOut

BPM = 120.0
SLICE = 5.0  # seconds per alternating slice
TARGET_TEMPO = 0.02  # percent; the jitter target is the reference's p99, same run


def render_load(stop: threading.Event) -> None:
    """The daemon's other work: the embedded engine rendering in a thread, flat out."""
    from bridge.core.types import SetPrompts, WeightedPrompt
    from bridge.engines.synth import SynthEngine

    engine = SynthEngine(chunk_seconds=0.5)
    engine.apply_now(SetPrompts((WeightedPrompt("techno", 1.0),)))
    while not stop.is_set():
        engine.render_chunk()


def ours(seconds: float) -> list[tuple[float, float]]:
    clock = ClockOut(None, api="jack", virtual=True)
    clock.start()
    clock.set_grid(Grid(BPM, time.monotonic() + 0.2))
    time.sleep(seconds)
    clock.close()
    return list(clock.sent)


def reference(seconds: float) -> list[tuple[float, float]]:
    """Busy-waits on every tick: never sleeps."""
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bench-reference")
    out.open_virtual_port("reference clock")
    interval = 60.0 / BPM / 24
    start = time.monotonic() + 0.2
    sent = []
    tick = 0
    while (planned := start + tick * interval) < start + seconds:
        while time.monotonic() < planned:
            continue  # the reference busy-waits to its planned time: the best Python can do
        actual = time.monotonic()
        out.send_message([0xF8])
        sent.append((planned, actual))
        tick += 1
    out.delete()
    return sent


def figures(slices: list[list[tuple[float, float]]]) -> dict[str, float]:
    """Pooled over the slices: tempo error is the worst slice's."""
    nominal = 60.0 / BPM / 24
    jitter, late, errors = [], [], []
    for sent in slices:
        actual = np.array([a for _, a in sent])
        slope = np.polyfit(np.arange(len(actual)), actual, 1)[0]
        errors.append(abs(60.0 / (slope * 24) - BPM) / BPM * 100)
        jitter.append(np.abs(np.diff(actual) - nominal) * 1000)
        late.append((actual - np.array([p for p, _ in sent])) * 1000)
    jitter_all, late_all = np.concatenate(jitter), np.concatenate(late)
    return {
        "ticks": float(sum(len(s) for s in slices)),
        "tempo_error_percent": max(errors),
        "p50_ms": float(np.percentile(jitter_all, 50)),
        "p99_ms": float(np.percentile(jitter_all, 99)),
        "max_ms": float(jitter_all.max()),
        "late_p99_ms": float(np.percentile(late_all, 99)),
    }


def measure(seconds: float, hog: bool) -> dict[str, dict[str, float]]:
    stop = threading.Event()
    load = threading.Thread(target=render_load, args=(stop,), daemon=True)
    load.start()
    # Alternating slices, so both senders see the same (shared, noisy) machine.
    slices: dict[str, list[list[tuple[float, float]]]] = {"reference": [], "ours": []}
    try:
        with cpu_hog() if hog else contextlib.nullcontext():
            for _ in range(max(1, round(seconds / SLICE))):
                slices["reference"].append(reference(SLICE))
                slices["ours"].append(ours(SLICE))
            return {name: figures(sent) for name, sent in slices.items()}
    finally:
        stop.set()
        load.join(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hog", action="store_true", help="a spinning process per core")
    args = parser.parse_args()
    with jack_rig():
        results = measure(args.seconds, args.hog)
    for name, f in results.items():
        print(
            f"{name}: {f['ticks']:.0f} ticks, tempo error {f['tempo_error_percent']:.4f} %, "
            f"interval jitter p50 {f['p50_ms']:.3f} ms, p99 {f['p99_ms']:.3f} ms, "
            f"max {f['max_ms']:.3f} ms, late p99 {f['late_p99_ms']:.3f} ms"
        )
    mine, best = results["ours"], results["reference"]
    ok = mine["p99_ms"] <= best["p99_ms"] and mine["tempo_error_percent"] <= TARGET_TEMPO
    print(f"verdict: p99 {mine['p99_ms']:.3f} ms (target <= reference "
          f"{best['p99_ms']:.3f} ms), tempo error {mine['tempo_error_percent']:.4f} % "
          f"(target {TARGET_TEMPO:g} %)")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
