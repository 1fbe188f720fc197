"""Every benchmark in one run, one table: figure, target, pass/miss, baseline beside ours.

What ``./dev.sh bench`` runs. It starts what it needs (a private jackd on the dummy
backend, the loopback servers, the daemon and the baseline bridge as child processes),
runs, in order:

1. control staleness (bench/staleness.py): a 1000 msg/s knob sweep through PromptBridge
   and through the baseline bridge, against a fast server and a 5 ms/frame one;
2. the audio path (bench/audio_path.py): serve → daemon → JACK, idle and under a CPU hog;
3. start-up to the first sample in the JACK graph (bench/startup.py);
4. knob-to-ear (bench/knob_to_ear.py): volume, brightness and mute bass at the sound card,
   embedded and through serve, beside the bridge as it was before (the baseline);
5. the embedded engine's real-time factor (bench/engine_rtf.py) and the core's
   throughput (bench/core_throughput.py), each in its own process;
5. never-silent playout (bench/playout.py in simulated time, bench/playout_daemon.py
   through the daemon): silent seconds with adaptive playout and concealment on and off,
   the ratio range, CPU while stretching, volume change to the card;
7. MIDI clock out (bench/clock_jitter.py): tempo error and interval jitter beside a
   busy-waiting reference sender, in its own process;

and prints one Markdown table. Process, network, MIDI, audio and file I/O.

    python bench/run_all.py            # full: 10 min audio per mode, < 30 min in all
    python bench/run_all.py --quick    # 60 s audio per mode, shorter sweeps: ~5 min
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audio_path
import knob_to_ear
import playout
import staleness
import startup
from benchrig import ROOT, jack_rig

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    sweep_seconds: float
    audio_seconds: float
    startup_runs: int
    rtf_seconds: float
    core_seconds: float
    playout_seconds: float = 600.0
    daemon_playout_seconds: float = 150.0
    ear_trials: int = 20
    clock_seconds: float = 60.0


FULL = Plan(sweep_seconds=3.0, audio_seconds=600.0, startup_runs=5, rtf_seconds=60.0,
            core_seconds=2.0)  # fmt: skip
QUICK = Plan(sweep_seconds=1.5, audio_seconds=60.0, startup_runs=3, rtf_seconds=10.0,
             core_seconds=1.0, playout_seconds=60.0, ear_trials=5,
             clock_seconds=10.0)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One line of the table; ``ok`` is None for figures without a target."""

    what: str
    ours: str
    target: str
    ok: bool | None
    baseline: str = ""

    def cells(self) -> list[str]:
        verdict = "" if self.ok is None else ("pass" if self.ok else "**MISS**")
        return [self.what, self.ours, self.target, verdict, self.baseline]


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.1f} ms"


def staleness_rows(results: list[staleness.Result]) -> list[Row]:
    rows = []
    for ingest in sorted({r.ingest_ms for r in results}):
        ours = next(r for r in results if r.ingest_ms == ingest and r.bridge == "PromptBridge")
        base = next((r for r in results if r.ingest_ms == ingest and r is not ours), None)
        server = "fast server" if ingest == 0 else f"{ingest:g} ms/frame server"
        b = base or ours  # with no baseline run, its column stays empty
        other = (lambda text: text) if base is not None else (lambda text: "")

        rows += [
            Row(f"Staleness p50, {server}", ms(ours.p50_ms), "", None, other(ms(b.p50_ms))),
            Row(
                f"Staleness p99, {server}",
                ms(ours.p99_ms),
                f"≤ {staleness.TARGET_P99_MS:g} ms",
                ours.p99_ms <= staleness.TARGET_P99_MS,
                other(ms(b.p99_ms)),
            ),
            Row(f"Staleness max, {server}", ms(ours.max_ms), "", None, other(ms(b.max_ms))),
            Row(
                f"Prompt frames/s on the wire, {server}",
                f"{ours.fps:.1f}",
                f"≤ {staleness.TARGET_FPS:g}",
                ours.fps <= staleness.TARGET_FPS,
                other(f"{b.fps:.1f}"),
            ),
            Row(
                f"Final knob value arrived, {server}",
                "yes" if ours.final_ok else "no",
                "always",
                ours.final_ok,
                other("yes" if b.final_ok else "no"),
            ),
        ]
    return rows


def audio_rows(results: list[audio_path.Result]) -> list[Row]:
    rows = []
    for r in results:
        label = f"{r.seconds / 60:.0f} min {'idle' if r.mode == 'idle' else 'with CPU hog'}"
        rows += [
            Row(f"Underruns, {label}", str(r.underruns), "0", r.underruns == 0),
            Row(
                f"Daemon CPU (% of one core), {label}",
                f"{r.cpu_percent:.1f} %",
                f"< {audio_path.TARGET_CPU:g} %",
                r.cpu_percent < audio_path.TARGET_CPU,
            ),
            Row(
                f"Daemon peak RSS, {label}",
                f"{r.peak_rss_mb:.1f} MB",
                f"< {audio_path.TARGET_RSS_MB:g} MB",
                r.peak_rss_mb < audio_path.TARGET_RSS_MB,
            ),
            Row(
                f"Daemon peak RSS without JACK's shared memory, {label}",
                f"{r.peak_own_mb:.1f} MB",
                f"< {audio_path.TARGET_RSS_MB:g} MB",
                r.peak_own_mb < audio_path.TARGET_RSS_MB,
            ),
            Row(f"JACK device xruns (dummy backend), {label}", str(r.device_xruns), "", None),
        ]
    return rows


def ear_rows(results: list[knob_to_ear.Result]) -> list[Row]:
    """Median / p95 per control and path; targets on the embedded engine and the local gain."""
    rows = []
    for ours in (r for r in results if r.variant == "ours"):
        base = next((r for r in results if r.variant == "baseline" and
                     (r.path, r.control) == (ours.path, ours.control)), None)  # fmt: skip
        target = knob_to_ear.TARGETS_MS[ours.control]
        judged = ours.path == "embedded" or ours.control == "volume"
        rows.append(
            Row(
                f"Knob-to-ear {ours.control}, {ours.path} (median / p95 of "
                f"{len(ours.latencies_ms)})",
                f"{ms(ours.median_ms)} / {ms(ours.p95_ms)}",
                f"p95 ≤ {target:g} ms" if judged else "",
                ours.p95_ms <= target if judged else None,
                f"{ms(base.median_ms)} / {ms(base.p95_ms)}" if base else "",
            )
        )
    return rows


def startup_rows(result: dict[str, Any]) -> list[Row]:
    target = startup.TARGET_SECONDS
    return [
        Row(
            f"Start-up to first sample, synth (median of {len(result['runs'])})",
            f"{result['median']:.2f} s",
            f"< {target:g} s",
            result["median"] < target,
        ),
        Row("Start-up to first sample, worst run", f"{result['max']:.2f} s", "", None),
    ]


def script(name: str, *args: str) -> str:
    """Run a benchmark script in its own process; its output."""
    out = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    if out.returncode not in (0, 1):  # 1: "below target", still a result
        raise SystemExit(f"{name} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def engine_rows(seconds: float) -> list[Row]:
    text = script("engine_rtf.py", "--seconds", f"{seconds:g}")
    found = re.search(
        r"worst ([\d.]+)x \(target ([\d.]+)x\), ([\d.]+) MB \(target ([\d.]+) MB", text
    )
    base = re.search(r"baseline python loop \(1 voice\):\s*([\d.]+)x", text)
    if found is None:
        raise SystemExit(f"engine_rtf.py printed no verdict:\n{text}")
    rtf, rtf_target, mb, mb_target = (float(g) for g in found.groups())
    return [
        Row(
            "Embedded engine real-time factor (worst scenario, one core)",
            f"{rtf:.1f}×",
            f"≥ {rtf_target:g}×",
            rtf >= rtf_target,
            f"{float(base.group(1)):.1f}× (1 voice, Python loop)" if base else "",
        ),
        Row(
            "Embedded engine peak extra memory",
            f"{mb:.1f} MB",
            f"≤ {mb_target:g} MB",
            mb <= mb_target,
        ),
    ]


def core_rows(seconds: float) -> list[Row]:
    full = script("core_throughput.py", "--seconds", f"{seconds:g}")
    found = re.search(r"worst ([\d,]+) msg/s, target ([\d,]+)", full)
    if found is None:
        raise SystemExit(f"core_throughput.py printed no verdict:\n{full}")
    rate, target = (int(g.replace(",", "")) for g in found.groups())
    return [
        Row(
            "Core throughput: MIDI bytes → instrument → effects, the daemon's path (worst)",
            f"{rate:,} msg/s",
            f"≥ {target:,} msg/s",
            rate >= target,
        ),
    ]


def playout_rows(seconds: float, daemon_seconds: float) -> list[Row]:
    """bench/playout.py and bench/playout_daemon.py, each in its own process (each starts
    its own jackd)."""
    out = script("playout.py", "--long-seconds", f"{seconds:g}", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    rows = [Row(*cells) for cells in playout.rows(result)]
    out = script("playout_daemon.py", "--seconds", f"{daemon_seconds:g}", "--json")
    for r in json.loads(out.strip().splitlines()[-1]):
        on, off = r["on"], r["off"]
        rows += [
            Row(f"Silent seconds at the card, {r['scenario']}", f"{on['silent']:.1f} s", "0 s",
                on["silent"] == 0, f"{off['silent']:.1f} s (stretch and concealment off)"),
            Row(f"Playout ratio range, {r['scenario']}",
                f"{on['ratio_min']:.3f}–{on['ratio_max']:.3f}", "0.96–1.04", None),
            Row(f"Daemon CPU while stretching (% of one core), {r['scenario']}",
                f"{on['cpu_percent']:.1f} %", "< 10 %", on["cpu_percent"] < 10.0,
                f"{off['cpu_percent']:.1f} % (off)"),
        ]  # fmt: skip
    return rows


def clock_rows(seconds: float) -> list[Row]:
    text = script("clock_jitter.py", "--seconds", f"{seconds:g}")
    pattern = r"{}: .*tempo error ([\d.]+) %, interval jitter p50 [\d.]+ ms, p99 ([\d.]+) ms"
    found = {n: re.search(pattern.format(n), text) for n in ("ours", "reference")}
    if found["ours"] is None or found["reference"] is None:
        raise SystemExit(f"clock_jitter.py printed no figures:\n{text}")
    (tempo, p99), (ref_tempo, ref_p99) = (
        (float(m.group(1)), float(m.group(2))) for m in (found["ours"], found["reference"])
    )
    return [
        Row(
            "MIDI clock out: tempo error",
            f"{tempo:.4f} %",
            "≤ 0.02 %",
            tempo <= 0.02,
            f"{ref_tempo:.4f} % (busy-wait sender)",
        ),
        Row(
            "MIDI clock out: interval jitter p99",
            f"{p99:.2f} ms",
            "≤ baseline",
            p99 <= ref_p99,
            f"{ref_p99:.2f} ms (busy-wait sender)",
        ),
    ]


def markdown(rows: list[Row]) -> str:
    header = ["Measure", "PromptBridge", "Target", "", "Baseline bridge"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    cores = len(names) or 1
    return f"{names[0] if names else cpu}, {cores} cores, Python {platform.python_version()}"


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 s audio, shorter sweeps")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    print(f"PromptBridge benchmarks ({'quick' if args.quick else 'full'} run) on {machine()}")
    with jack_rig():
        print("1/6 control staleness ...", file=sys.stderr, flush=True)
        sweeps = staleness.measure(plan.sweep_seconds, [0.0, 0.005])
        print("2/6 audio path ...", file=sys.stderr, flush=True)
        audio = audio_path.measure(plan.audio_seconds, ["idle", "hog"])
        print("3/6 start-up ...", file=sys.stderr, flush=True)
        boot = startup.measure(plan.startup_runs)
        print("4/6 knob-to-ear ...", file=sys.stderr, flush=True)
        ears = knob_to_ear.measure(
            plan.ear_trials, ["embedded", "serve"], None, knob_to_ear.BASELINE_REF, _progress
        )
    print("5/6 engine and core ...", file=sys.stderr, flush=True)
    rows = staleness_rows(sweeps) + audio_rows(audio) + startup_rows(boot) + ear_rows(ears)
    rows += engine_rows(plan.rtf_seconds) + core_rows(plan.core_seconds)
    print("6/6 never-silent playout ...", file=sys.stderr, flush=True)
    rows += playout_rows(plan.playout_seconds, plan.daemon_playout_seconds)
    print("+ MIDI clock out ...", file=sys.stderr, flush=True)
    rows += clock_rows(plan.clock_seconds)
    print(markdown(rows))
    missed = [r.what for r in rows if r.ok is False]
    elapsed = time.monotonic() - started
    print(f"\n{len(missed)} of {sum(r.ok is not None for r in rows)} targets missed; "
          f"ran in {elapsed / 60:.1f} min")  # fmt: skip
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "staleness": [r.as_dict() for r in sweeps],
                    "audio": [r.as_dict() for r in audio],
                    "startup": boot,
                    "knob_to_ear": [r.as_dict() for r in ears],
                    "rows": [row.__dict__ for row in rows],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
