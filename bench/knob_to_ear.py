"""Knob-to-ear latency: from the MIDI message leaving a controller to the change at the sound card.

Measured from outside the process, the way a performer feels it. A JACK virtual controller
sends one message; a JACK client (the "ear") connected to the daemon's outputs records
what reaches the dummy sound card, each period stamped with ``time.monotonic()`` (the
clock the sender reads); the latency is the time from the send to the first window in
which the change shows and stays:

* ``volume`` (CC, master volume 1 → 0, a local gain): the level falls below -20 dB of
  the level before and stays there 100 ms;
* ``brightness`` (CC, 0.0 → 1.0, an engine control): the energy above 4 kHz rises past
  10x its median before and stays there 0.5 s (a dark mix has bright moments of up to
  ~0.4 s, from lead notes; a bright one stays some 25 dB up);
* ``mute bass`` (a button held, an engine control): the energy of 47-141 Hz falls below -10 dB
  and stays there 300 ms (the drums are muted for the whole run, so this band is the bass).

A change is dated at the start of the run that holds, so a hold does not add to the figure,
and sent only at an ordinary moment (``QUIET_S``), so a bright note or a bass gap already
under way does not date it early.

Windows are one JACK period (256 frames, 5.3 ms) for the level and 1024 frames (21 ms) for
the bands, advanced one period; a change is dated by the last period of its window. Each
trial sends the change at a random phase (after 1-1.6 s of settled audio), waits for it,
then sends it back and waits for that.

Two paths: ``embedded`` (``promptbridge run --engine synth --latency low``) and ``serve``
(``promptbridge serve --engine synth`` over loopback, played by ``run --engine lyria``
at its default latency). The *baseline* is today's behaviour measured by this same script
in the same run: the bridge as of ``--baseline-ref`` (default: the commit before the
knob-to-ear work) exported beside and put first on the daemon's ``PYTHONPATH``.
Process, MIDI, audio and file I/O.

    python bench/knob_to_ear.py [--trials 20] [--paths embedded,serve] [--only ours|baseline]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchrig import LYRIA_PATH, ROOT, Daemon, daemon_args, free_port, jack_rig, status

from tests.jack_park import Park

BASELINE_REF = "78cc8ff"  # main before the knob-to-ear work: 2 s chunks, 0.3 s low preset
CONTROLS = ("volume", "brightness", "mute bass")
# Frames per analysis window. A level needs no spectrum: one JACK period (5.3 ms), so the
# window adds little to what it dates; the bands need 1024 frames (21 ms) to resolve 47 Hz.
WINDOWS = {"volume": 256, "brightness": 1024, "mute bass": 1024}
# A change is sent only when none of the last QUIET_S is already past its threshold (a
# bright lead note, a gap between bass notes): such a moment running on into the change
# would date it before it could have been heard.
QUIET_S = 0.1
TIMEOUT = 25.0  # seconds to wait for a change (serve: 2 s chunks, 2 ahead, a 1-1.5 s buffer: ~10 s)
# Targets (issue 16): volume at the device; the engine's answer at 120 bpm.
TARGETS_MS = {"volume": 20.0, "brightness": 250.0, "mute bass": 600.0}
MAPPING = """
[controller]
name = "bench knobs"
port = "*"

[[slots]]
text = "techno"
weight = 1.0

[config]
bpm = 120
mute_drums = true   # the low band is then the bass alone

[[bind]]
cc = 17
target = "config.brightness"
takeover = "immediate"

[[bind]]
cc = 22
target = "master_volume"
takeover = "immediate"

# held = muted: every message says the state (a toggle would flip out of step if the
# loaded JACK dummy backend dropped one)
[[bind]]
cc = 24
target = "config.mute_bass"
mode = "momentary"
"""


# --- the ear: what reaches the sound card ------------------------------------------------
class Ear:
    """A JACK client with two inputs connected to the daemon's outputs; a ring of periods."""

    def __init__(self, seconds: float = 30.0) -> None:
        import jack

        self.client = jack.Client(f"ear-{uuid.uuid4().hex[:6]}", no_start_server=True)
        self.inputs = [self.client.inports.register(f"in_{i}") for i in range(2)]
        self.period = self.client.blocksize
        self.rate = self.client.samplerate
        slots = int(seconds * self.rate / self.period)
        self.audio = np.zeros((slots, self.period), dtype=np.float32)
        self.times = np.zeros(slots)
        self.count = 0  # periods received so far
        self.park = Park()
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:  # JACK's thread: copy, stamp, count
        self.park.check()
        slot = self.count % len(self.times)
        np.add(self.inputs[0].get_array(), self.inputs[1].get_array(), out=self.audio[slot])
        self.times[slot] = time.monotonic()
        self.count += 1

    def connect(self) -> None:
        """Listen to every audio output but the card's own and ours (the daemon's player)."""
        mine = self.client.name + ":"
        for port in self.client.get_ports(is_audio=True, is_output=True):
            if port.name.startswith(("system:", mine)):
                continue
            target = self.inputs[int(port.name[-1]) % 2 if port.name[-1].isdigit() else 0]
            with contextlib.suppress(Exception):  # already connected
                self.client.connect(port, target)

    def since(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(samples, period start times, next index) from period ``index`` on."""
        end = self.count
        index = max(index, end - len(self.times) + 1)
        slots = np.arange(index, end) % len(self.times)
        return self.audio[slots].reshape(-1), self.times[slots], end

    def close(self) -> None:
        self.park.close(self.client)


# --- detection -------------------------------------------------------------------------
def features(samples: np.ndarray, period: int, rate: int, control: str) -> np.ndarray:
    """Per period, over the control's window ending there: the level (volume), the energy
    above 4 kHz (brightness) or of 47-141 Hz (mute bass)."""
    window = WINDOWS[control]
    hops = (len(samples) - window) // period + 1
    if hops <= 0:
        return np.zeros(0)
    starts = np.arange(hops) * period + (len(samples) - window - (hops - 1) * period)
    frames = np.stack([samples[s : s + window] for s in starts])
    if control == "volume":
        return np.sqrt((frames**2).mean(axis=1))
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(window), axis=1)) ** 2
    hz = np.fft.rfftfreq(window, 1.0 / rate)
    band = hz >= 4000 if control == "brightness" else (hz > 40) & (hz < 100)
    return spectrum[:, band].sum(axis=1)


@dataclass(frozen=True)
class Rule:
    """When a control's change counts as heard: a ratio to the level before, held."""

    falls: bool  # the feature falls (volume down, bass muted) or rises (brightness)
    ratio: float
    hold_s: float


RULES = {
    "volume": Rule(falls=True, ratio=0.1, hold_s=0.1),
    # a dark mix has bright moments (lead notes) of up to ~0.4 s; a bright one never dips
    "brightness": Rule(falls=False, ratio=10.0, hold_s=0.5),
    "mute bass": Rule(falls=True, ratio=0.01, hold_s=0.3),
}


def beyond(values: np.ndarray, before: np.ndarray, rule: Rule) -> np.ndarray:
    """Which values are past the rule's threshold (a ratio to the median before)."""
    if rule.falls:
        return values < float(np.median(before)) * rule.ratio
    return values > max(float(np.median(before)) * rule.ratio, 1e-9)


def landed(values: np.ndarray, before: np.ndarray, rule: Rule, period_s: float) -> int | None:
    """Index of the first value past the rule's threshold that stays past it."""
    if len(before) == 0 or len(values) == 0:
        return None
    past = beyond(values, before, rule)
    hold = max(1, round(rule.hold_s / period_s))
    for i in np.flatnonzero(past):
        if i + hold <= len(past) and past[i : i + hold].all():
            return int(i)
    return None


# --- one daemon, many trials --------------------------------------------------------------
class Knobs:
    """The virtual controller and what each control's change and its undo send."""

    def __init__(self) -> None:
        import mido

        backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
        self.name = f"BenchEar{uuid.uuid4().hex[:4]}"
        self.port = backend.open_output(self.name, virtual=True)
        self._mido = mido

    def send(self, control: str, change: bool) -> float:
        """Send the change (or its undo); returns the time it left."""
        m = self._mido
        if control == "volume":
            message = m.Message("control_change", control=22, value=0 if change else 127)
        elif control == "brightness":
            message = m.Message("control_change", control=17, value=127 if change else 1)
        else:
            message = m.Message("control_change", control=24, value=127 if change else 0)
        sent = time.monotonic()
        self.port.send(message)
        return sent

    def close(self) -> None:
        self.port.close()


def trial(ear: Ear, knobs: Knobs, control: str, change: bool) -> float:
    """Send one change at a random phase and return the seconds until it was heard."""
    period_s = ear.period / ear.rate
    time.sleep(1.0 + random.random() * 0.6)  # settled audio, random phase to beats/chunks
    rule = RULES[control] if change else _undo(RULES[control])
    pre_periods = int(1.0 / period_s)
    quiet = round(QUIET_S / period_s)
    for _ in range(round(2.0 / 0.02)):  # an ordinary moment: none of the last 0.1 s is past
        start = ear.count
        samples, _, _ = ear.since(start - pre_periods)
        before = features(samples, ear.period, ear.rate, control)
        if not beyond(before[-quiet:], before, rule).any():
            break
        time.sleep(0.02)
    sent = knobs.send(control, change)
    deadline = sent + TIMEOUT
    lag = WINDOWS[control] // ear.period
    first = start - lag  # windows ending after the send
    while time.monotonic() < deadline:
        time.sleep(0.05)
        samples, times, _ = ear.since(first)
        values = features(samples, ear.period, ear.rate, control)
        stamps = times[lag - 1 :][: len(values)]
        after = stamps >= sent
        index = landed(values[after], before, rule, period_s)
        if index is not None:
            return float(stamps[after][index] + period_s - sent)
    return math.nan


def _undo(rule: Rule) -> Rule:
    """The way back: the opposite direction, judged against the changed sound. A returning
    bass has gaps between its notes, so a rise back need only show for one window; a fall
    back (brightness) must hold as long as the change did, so the next trial starts from a
    settled dark mix."""
    return Rule(
        falls=not rule.falls,
        ratio=1.0 / rule.ratio,
        hold_s=rule.hold_s if not rule.falls else min(rule.hold_s, 0.02),
    )


@dataclass(frozen=True)
class Result:
    variant: str  # "ours" or "baseline"
    path: str  # "embedded" or "serve"
    control: str
    latencies_ms: list[float]
    share: dict[str, Any]  # the status' "latency" figures at the end (ours only)

    @property
    def median_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies_ms, 95)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "median_ms": self.median_ms, "p95_ms": self.p95_ms}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank; NaN when nothing was heard."""
    heard = sorted(v for v in values if not math.isnan(v))
    if not heard:
        return math.nan
    return heard[min(len(heard) - 1, max(0, math.ceil(q / 100 * len(heard)) - 1))]


@contextlib.contextmanager
def bridge_running(path: str, tmp: Path, knobs: Knobs, env: dict[str, str]) -> Iterator[int]:
    """The daemon (and, for ``serve``, the loopback server) of one path; yields its status port."""
    mapping = tmp / "knobs.toml"
    mapping.write_text(MAPPING)
    status_port = free_port()
    common = ("--mapping", str(mapping), "--midi-in", knobs.name,
              "--state-file", str(tmp / f"state-{uuid.uuid4().hex}.json"))  # fmt: skip
    server = None
    if path == "serve":
        port = free_port()
        server = Daemon(["serve", "--engine", "synth", "--port", str(port)], env=env, cwd=str(tmp))
        server.wait_for("serving engine", timeout=60)
        url = f"ws://127.0.0.1:{port}{LYRIA_PATH}"
        args = daemon_args("--engine", "lyria", "--url", url, *common, status_port=status_port)
    else:
        args = daemon_args(
            "--engine", "synth", "--latency", "low", *common, status_port=status_port
        )
    daemon = Daemon(args, env=env, cwd=str(tmp))
    try:
        daemon.wait_for(r"controller .+ connected", timeout=60)
        daemon.wait_for("audio flowing", timeout=60)
        yield status_port
    finally:
        daemon.stop()
        if server is not None:
            server.stop()


def measure_variant(
    variant: str, path: str, trials: int, tmp: Path, env: dict[str, str],
    log: Callable[[str], None], controls: tuple[str, ...] = CONTROLS,
) -> list[Result]:  # fmt: skip
    knobs = Knobs()
    ear = Ear()
    results = []
    try:
        with bridge_running(path, tmp, knobs, env) as status_port:
            time.sleep(1.0)
            ear.connect()
            time.sleep(2.0)  # the buffers fill, the first bars play
            for control in controls:
                heard = []
                back = []
                for _ in range(trials):
                    heard.append(1000 * trial(ear, knobs, control, True))
                    back.append(1000 * trial(ear, knobs, control, False))  # undone, heard
                log(f"{variant:8} {path:8} {control:10} " + " ".join(f"{v:.0f}" for v in heard))
                log(f"{'':8} {'':8} {'(undo)':10} " + " ".join(f"{v:.0f}" for v in back))
                snap = status(status_port)
                audio = snap.get("audio", {})
                log(
                    f"{'':8} {'':8} buffer {audio.get('fill_seconds')} s, target "
                    f"{audio.get('target_seconds')} s, {audio.get('underruns')} underruns"
                )
                share = snap.get("latency", {}) if variant == "ours" else {}
                results.append(Result(variant, path, control, heard, share))
    finally:
        ear.close()
        knobs.close()
    return results


def baseline_tree(ref: str, tmp: Path) -> Path:
    """The bridge package as of ``ref``, exported beside (``git archive``)."""
    tree = tmp / f"baseline-{ref}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "bridge"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def measure(
    trials: int, paths: list[str], only: str | None, ref: str, log: Callable[[str], None],
    controls: tuple[str, ...] = CONTROLS,
) -> list[Result]:  # fmt: skip
    """Every (path × variant); needs a JACK server (see benchrig.jack_rig)."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        old = {"PYTHONPATH": str(baseline_tree(ref, tmp))}
        for path in paths:
            if only in (None, "ours"):
                results += measure_variant("ours", path, trials, tmp, {}, log, controls)
            if only in (None, "baseline"):
                results += measure_variant("baseline", path, trials, tmp, old, log, controls)
    return results


def table(results: list[Result]) -> str:
    lines = [f"{'path':<9} {'control':<11} {'variant':<9} {'median ms':>10} {'p95 ms':>8} heard"]
    for r in results:
        heard = sum(not math.isnan(v) for v in r.latencies_ms)
        lines.append(
            f"{r.path:<9} {r.control:<11} {r.variant:<9} {r.median_ms:>10.0f} {r.p95_ms:>8.0f} "
            f"{heard}/{len(r.latencies_ms)}"
        )
    for r in results:
        if r.share.get("share_ms") is not None and r is results[-1]:
            wire = r.share.get("knob_to_wire") or {}
            lines.append(
                f"bridge's share ({r.path}, status): {r.share['share_ms']:.0f} ms = knob-to-wire "
                f"p95 {wire.get('p95_ms') or 0:.0f} ms + buffer {r.share.get('buffer_ms'):.0f} ms"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="changes per control")
    parser.add_argument("--paths", default="embedded,serve", help="embedded, serve or both")
    parser.add_argument("--only", choices=["ours", "baseline"], help="measure one variant")
    parser.add_argument(
        "--controls", default=",".join(CONTROLS), help="which: " + ", ".join(CONTROLS)
    )
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the baseline")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the daemons and jackd too

    with jack_rig():
        controls = tuple(c.strip() for c in args.controls.split(","))
        unknown = set(controls) - set(CONTROLS)
        if unknown:
            parser.error(f"--controls: {', '.join(sorted(unknown))} is not one of {CONTROLS}")
        results = measure(
            args.trials, args.paths.split(","), args.only, args.baseline_ref, log, controls
        )
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
