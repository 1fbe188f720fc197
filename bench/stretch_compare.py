"""Compare time-stretchers for adaptive playout: pitch, transients, CPU, latency.

Measures our numpy WSOLA (``bridge.audio.stretch``) and, when ``python-stretch`` is
installed, Signalsmith Stretch (default and ``cheaper`` presets), streamed in 256-frame
blocks as the player would, at 0.96, 1.0 and 1.04:

* pitch error of a steady 440 Hz tone, in cents (parabolic peak of a long FFT);
* transients: a click every 250 ms; the mean width holding 90 % of each click's energy
  (ms; the input's is ~0) and clicks found vs expected (a doubled or lost transient);
* the embedded engine's music (120 bpm, 12 s): onsets found minus expected (a doubled or
  lost beat) and the mean difference of the long-term spectrum from the original's in
  dB (1/3-octave bands from 50 Hz to 16 kHz: smearing and phasiness change it);
* CPU seconds per second of audio on one core (process time);
* added latency (frames of look-ahead before the first output).

Pure computation; prints a Markdown table (``--json`` for run_all.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.audio.ring import Ring
from bridge.audio.stretch import Wsola

RATE = 48_000
BLOCK = 256
Stretch = Callable[[np.ndarray, float], tuple[np.ndarray, float]]


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    mono = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def clicks(seconds: float, every: float = 0.25) -> np.ndarray:
    x = np.zeros((round(seconds * RATE), 2), dtype=np.float32)
    x[round(every * RATE) // 2 :: round(every * RATE)] = 0.8
    return x


def wsola(x: np.ndarray, speed: float) -> tuple[np.ndarray, float]:
    ring = Ring(len(x) + 1)
    ring.write(x)
    w = Wsola()
    w.speed = speed
    buf = np.zeros((BLOCK, 2), dtype=np.float32)
    outs = []
    t0 = time.process_time()
    while (n := w.pull(buf, BLOCK, ring.read_into)) == BLOCK:
        outs.append(buf.copy())
    outs.append(buf[:n].copy())
    return np.concatenate(outs), time.process_time() - t0


def signalsmith(cheaper: bool, block: int = BLOCK) -> Stretch:
    """python-stretch 0.3.1: its ``process`` seeks, flushes and resets the stretcher on
    every call, so ``block=BLOCK`` is what streaming gets, ``block=0`` (the whole signal
    at once) is its offline quality."""

    def run(x: np.ndarray, speed: float) -> tuple[np.ndarray, float]:
        import python_stretch.Signalsmith as S  # type: ignore[import-not-found]

        st = S.Stretch()
        st.preset(2, RATE, cheaper)
        st.setTimeFactor(speed)
        planar = np.ascontiguousarray(x.T)
        step = block or planar.shape[1]
        outs = []
        t0 = time.process_time()
        for i in range(0, planar.shape[1], step):
            outs.append(st.process(np.ascontiguousarray(planar[:, i : i + step])))
        cpu = time.process_time() - t0
        return np.concatenate(outs, axis=1).T, cpu

    return run


def latency_of(name: str) -> int:
    if name == "wsola":
        return Wsola().latency
    import python_stretch.Signalsmith as S

    st = S.Stretch()
    st.preset(2, RATE, "cheaper" in name)
    return int(st.inputLatency() + st.outputLatency())


def pitch_cents(y: np.ndarray) -> float:
    seg = y[RATE : RATE * 5, 0].astype(np.float64)
    size = 8 * len(seg)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), size))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1 : k + 2])
    freq = (k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / size
    return float(1200 * np.log2(freq / 440.0))


def transients(y: np.ndarray, speed: float) -> tuple[float, int]:
    """Mean 90 %-energy width (ms) around each click, and clicks found minus expected
    (one every 0.25 s / speed of output)."""
    expected = round(len(y) / RATE / 0.25 * speed)
    e = y[:, 0].astype(np.float64) ** 2
    inner = e[1:-1]
    peaks = list(1 + np.flatnonzero((inner > 0.05) & (inner >= e[:-2]) & (inner > e[2:])))
    found: list[int] = []
    for p in peaks:
        if not found or p - found[-1] > RATE // 20:
            found.append(p)
    widths = []
    for p in found:
        lo, hi = max(0, p - RATE // 20), min(len(e), p + RATE // 20)
        c = np.cumsum(e[lo:hi])
        a, b = np.searchsorted(c, 0.05 * c[-1]), np.searchsorted(c, 0.95 * c[-1])
        widths.append((b - a) / RATE * 1000)
    return float(np.mean(widths)) if widths else float("nan"), len(found) - int(expected)


def music(seconds: float) -> np.ndarray:
    from bridge.audio.simulate import synth

    return synth(120.0)(round(seconds * RATE))


def bands(x: np.ndarray) -> np.ndarray:
    """Long-term energy in 1/3-octave bands, dB."""
    mono = x.mean(axis=1).astype(np.float64)
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / RATE)
    edges = 50.0 * 2 ** (np.arange(0, 29) / 3)
    return np.array(
        [
            10 * np.log10(spec[(freqs >= a) & (freqs < b)].sum() + 1e-20)
            for a, b in itertools.pairwise(edges)
        ]
    )


def music_artefacts(x: np.ndarray, y: np.ndarray, speed: float) -> tuple[int, float]:
    from bridge.analysis import onset_times

    cut = slice(RATE // 2, -RATE // 2)
    want = len(onset_times(x[cut], RATE)) * (len(y) / len(x)) / 1.0
    found = len(onset_times(y[cut], RATE))
    level = bands(y[cut]) - bands(x[cut])
    return round(found - want), float(np.mean(np.abs(level - np.mean(level))))


def measure(name: str, fn: Stretch) -> list[dict[str, Any]]:
    rows = []
    song = music(12)
    for speed in (0.96, 1.0, 1.04):
        y, cpu = fn(tone(12), speed)
        c, _ = fn(clicks(12), speed)
        m, _ = fn(song, speed)
        width, extra = transients(c[RATE // 2 : -RATE // 2], speed)
        onsets, spectrum = music_artefacts(song, m, speed)
        rows.append(
            {
                "stretcher": name,
                "speed": speed,
                "pitch_cents": round(pitch_cents(y), 3),
                "click_width_ms": round(width, 2),
                "clicks_extra": extra,
                "music_onsets_extra": onsets,
                "music_spectrum_db": round(spectrum, 2),
                "cpu_per_s": round(cpu / (len(y) / RATE), 4),
                "latency_ms": round(latency_of(name) / RATE * 1000, 1),
            }
        )
    return rows


def run() -> list[dict[str, Any]]:
    stretchers: list[tuple[str, Stretch]] = [("wsola", wsola)]
    try:
        import python_stretch  # type: ignore[import-not-found]  # noqa: F401

        stretchers += [
            ("signalsmith streamed", signalsmith(False)),
            ("signalsmith-cheaper streamed", signalsmith(True)),
            ("signalsmith offline", signalsmith(False, block=0)),
        ]
    except ImportError:  # python-stretch is optional: the table then says it is absent
        print("stretch_compare: python-stretch not installed, Signalsmith rows left out")
    return [row for name, fn in stretchers for row in measure(name, fn)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    rows = run()
    if parser.parse_args().json:
        print(json.dumps(rows))
        return
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
