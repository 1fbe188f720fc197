"""Real-time factor and memory of the embedded engine (``synth``) on one core.

Renders N seconds of music per scenario (2 s chunks like the model, 0.25 s chunks, and
the default 0.025 s chunks that keep a knob's delay short) and prints the real-time factor
(seconds of audio per second of CPU wall time)
next to two baselines rendered in the same run, so the figure means something on any
machine:

* ``python loop``: ONE voice (a saw through a one-pole low-pass) computed sample by
  sample in Python, the naive way; the engine plays some 20-40 voices, effects included;
* ``numpy sine``: one stereo sine of the same length with a single ``np.sin`` (a floor on
  what "numpy only" costs: the engine does far more per sample than this).

Peak extra memory is measured with tracemalloc (numpy registers its buffers with it) in
a separate pass, from engine creation to the last chunk.

    python bench/engine_rtf.py [--seconds 60] [--all-cores]

Target: >= 20x real time on one core, <= 50 MB extra memory.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import tracemalloc

import numpy as np

from bridge.core.types import (
    SCALES,
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    WeightedPrompt,
)
from bridge.engines.synth import DEFAULT_CHUNK, SynthEngine

RATE = 48_000
TARGET_RTF = 20.0
TARGET_MB = 50.0
SCENARIOS = (
    ("deep house + rhodes", (("deep house", 1.0), ("rhodes", 0.5)), GenerationConfig(bpm=124)),
    ("techno, dense, bright", (("techno", 1.0),), GenerationConfig(density=0.9, brightness=0.9)),
    ("ambient + strings", (("ambient", 1.0), ("strings", 0.7)), GenerationConfig()),
    ("drum and bass, diverse", (("drum and bass", 1.0),), GenerationConfig(mode="DIVERSITY")),
)


def engine_for(
    prompts: tuple[tuple[str, float], ...], config: GenerationConfig, chunk: float
) -> SynthEngine:
    engine = SynthEngine(chunk_seconds=chunk, seed=1)
    engine.apply_now(SetPrompts(tuple(WeightedPrompt(t, w) for t, w in prompts)))
    engine.apply_now(SetConfig(config))
    engine.apply_now(Control(Playback.PLAY))
    return engine


def rtf_engine(
    prompts: tuple[tuple[str, float], ...], config: GenerationConfig, chunk: float, seconds: float
) -> float:
    engine = engine_for(prompts, config, chunk)
    engine.render_chunk()  # warm the wavetable and drum caches, as a running daemon has
    count = max(1, round(seconds / chunk))
    start = time.perf_counter()
    for _ in range(count):
        engine.render_chunk()
    return count * chunk / (time.perf_counter() - start)


def rtf_python_loop(seconds: float) -> float:
    """One voice the naive way: a saw through a one-pole low-pass, sample by sample."""
    frames = int(seconds * RATE)
    out = [0.0] * frames
    step = 110.0 / RATE
    coeff = 1.0 - math.exp(-2 * math.pi * 800.0 / RATE)
    phase = state = 0.0
    start = time.perf_counter()
    for i in range(frames):
        phase = (phase + step) % 1.0
        state += coeff * (2.0 * phase - 1.0 - state)
        out[i] = state
    return seconds / (time.perf_counter() - start)


def rtf_numpy_sine(seconds: float) -> float:
    frames = int(seconds * RATE)
    start = time.perf_counter()
    t = np.arange(frames, dtype=np.float32) * np.float32(2 * np.pi * 440.0 / RATE)
    mono = np.sin(t)
    np.stack([mono, mono], axis=1)
    return seconds / (time.perf_counter() - start)


def peak_memory_mb(chunk: float, seconds: float) -> float:
    prompts, config = SCENARIOS[1][1], SCENARIOS[1][2]
    tracemalloc.start()
    engine = engine_for(prompts, config, chunk)
    for _ in range(max(1, round(seconds / chunk))):
        engine.render_chunk()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def stress_memory_mb() -> float:
    """Peak extra memory while every cache is pushed: 12 scales x 4 tempos x 11 brightness
    and density settings, each with a RESET_CONTEXT (new tempo, key, kick tuning)."""
    tracemalloc.start()
    engine = engine_for((("techno", 1.0), ("jazz", 0.5), ("acid", 0.5)), GenerationConfig(), 0.5)
    for i, scale in enumerate(SCALES):
        for bpm in (60, 97, 133, 200):
            for b in np.linspace(0.0, 1.0, 11):
                config = GenerationConfig(
                    bpm=bpm,
                    scale=scale,
                    brightness=float(b),
                    density=float(b),
                    mute_bass=bool(i % 2),
                )
                engine.apply_now(SetConfig(config))
                engine.apply_now(Control(Playback.RESET_CONTEXT))
                engine.render_chunk()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per scenario")
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    args = parser.parse_args()
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, like a busy Pi
    naive = rtf_python_loop(min(args.seconds, 10.0))
    print(f"baseline python loop (1 voice): {naive:8.1f}x real time")
    print(f"baseline numpy sine (stereo)  : {rtf_numpy_sine(args.seconds):8.1f}x real time")
    worst = math.inf
    for chunk in (2.0, 0.25, DEFAULT_CHUNK):
        for name, prompts, config in SCENARIOS:
            rtf = rtf_engine(prompts, config, chunk, args.seconds)
            worst = min(worst, rtf)
            print(f"synth {chunk:5.3f} s chunks, {name:24s}: {rtf:8.1f}x real time")
    memory = max(
        peak_memory_mb(chunk, min(args.seconds, 20.0)) for chunk in (2.0, 0.25, DEFAULT_CHUNK)
    )
    print(f"peak extra memory (tracemalloc): {memory:.1f} MB")
    stress = stress_memory_mb()
    print(f"peak extra memory, every cache pushed (528 settings): {stress:.1f} MB")
    memory = max(memory, stress)
    ok = worst >= TARGET_RTF and memory <= TARGET_MB
    verdict = f"worst {worst:.1f}x (target {TARGET_RTF:.0f}x), {memory:.1f} MB"
    print(
        f"{verdict} (target {TARGET_MB:.0f} MB):",
        "OK" if ok else "BELOW TARGET",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
