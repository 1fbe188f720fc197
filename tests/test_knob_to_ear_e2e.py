"""Knob to ear, end to end: a virtual controller's message to the change at the sound card.

The real ``promptbridge run --engine synth --latency low`` on the JACK dummy rig; a JACK
client records what reaches the card from the moment the message is sent, so the frame
at which the change shows is its delay. Bounds are loose (a loaded CI machine); the
targets are held by ``bench/knob_to_ear.py``, which measures 20 trials beside a baseline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest

from tests.daemon_helpers import Daemon, free_port

pytestmark = pytest.mark.jack
RATE = 48_000
WINDOW = 1024
MAPPING = """
[controller]
name = "knobs"
port = "*"

[[slots]]
text = "techno"
weight = 1.0

[config]
bpm = 120
mute_drums = true

[[bind]]
cc = 17
target = "config.brightness"
takeover = "immediate"

[[bind]]
cc = 24
target = "config.mute_bass"
mode = "momentary"
"""


def band(samples: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Energy of ``lo..hi`` Hz per 1024-frame window of the mono mix."""
    mono = samples.mean(axis=1)
    n = len(mono) // WINDOW
    frames = mono[: n * WINDOW].reshape(n, WINDOW) * np.hanning(WINDOW)
    hz = np.fft.rfftfreq(WINDOW, 1 / RATE)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return power[:, (hz > lo) & (hz < hi)].sum(axis=1)


def heard_after(recorder: Any, before: np.ndarray, lo: float, hi: float, falls: bool) -> float:
    """Seconds from now until the band crosses 1/100 (falls) or 10x (rises) of its median
    before and stays there; recorded for 2.5 s."""
    recorder.clear()
    time.sleep(2.5)
    values = band(recorder.samples(), lo, hi)
    reference = float(np.median(band(before, lo, hi)))
    past = values < reference / 100 if falls else values > reference * 10
    hold = round((0.3 if falls else 0.5) * RATE / WINDOW)  # bass gaps; dark mixes' bright moments
    for i in np.flatnonzero(past):
        if past[i : i + hold].all() and i + hold <= len(past):
            return float((i + 1) * WINDOW / RATE)
    return float("inf")


def test_brightness_and_mute_bass_reach_the_card_within_a_second(
    tmp_path: Path, jack_server: Any, jack_recorder: Any, virtual_controller: Any
) -> None:
    """Brightness is heard within 0.8 s, a bass mute within 1.3 s (2 s chunks took 1-3 s)."""
    mapping = tmp_path / "knobs.toml"
    mapping.write_text(MAPPING)
    ctl = virtual_controller
    args = ["run", "--engine", "synth", "--latency", "low", "--midi-api", "jack",
            "--midi-in", ctl.name, "--no-virtual-port", "--output", "system", "--autoplay",
            "--mapping", str(mapping), "--state-file", str(tmp_path / "state.json"),
            "--status", f"127.0.0.1:{free_port()}"]  # fmt: skip
    daemon = Daemon(args)
    try:
        daemon.wait_for("audio flowing", timeout=30)
        jack_recorder.connect("PortAudio")
        ctl.send(mido.Message("control_change", control=17, value=1))  # dark
        time.sleep(2.0)
        jack_recorder.clear()
        time.sleep(1.0)
        before = jack_recorder.samples()
        ctl.send(mido.Message("control_change", control=17, value=127))
        assert heard_after(jack_recorder, before, 4000, 12000, falls=False) < 0.8
        jack_recorder.clear()
        time.sleep(1.0)
        before = jack_recorder.samples()
        ctl.send(mido.Message("control_change", control=24, value=127))
        assert heard_after(jack_recorder, before, 40, 100, falls=True) < 1.3
    finally:
        assert daemon.stop() == 0, daemon.log()
