"""In time on the JACK rig: MIDI clock out against the audio at the sound card, and a bpm
knob move landing on a bar line of what is heard.

One JACK client records both the daemon's audio (PortAudio's output ports) and its MIDI
clock (``PromptBridge Clock``), each stamped with JACK's frame clock, so clock ticks and
audio onsets are compared on one time axis. The daemon compensates the device's output
latency (what PortAudio reports) because a listener hears the audio that much after it
leaves PortAudio; the recorder sits before that latency, so the expected offset of a
tick from its onset is that latency (the status says which value was used).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bridge.core.types import Change
from tests import bar_judge, clock_judge
from tests.daemon_helpers import Daemon, free_port, status, wait_status
from tests.jack_park import Park

pytestmark = pytest.mark.jack
RATE = 48_000
PIECE = RATE // 2  # audio is matched to the stream half a second at a time
# The clock is judged in the stretches between the jumps of what is heard (tests.clock_judge):
# at least this many seconds of ticks in them, or the capture is unfit to judge.
MIN_JUDGED_SECONDS = 3.0


@dataclass
class Capture:
    """Audio blocks and MIDI bytes, both at JACK frame times."""

    client: Any
    audio_in: list[Any]
    midi_in: Any
    blocks: list[tuple[int, np.ndarray]] = field(default_factory=list)
    midi: list[tuple[int, int]] = field(default_factory=list)
    cycles: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, frame)
    lock: threading.Lock = field(default_factory=threading.Lock)
    park: Park = field(default_factory=Park)

    def process(self, frames: int) -> None:
        self.park.check()
        start = self.client.last_frame_time
        block = np.stack([p.get_array().copy() for p in self.audio_in], axis=1)
        midi = self.midi_in.incoming_midi_events()
        events = [(start + off, bytes(data)[0]) for off, data in midi]
        with self.lock:
            self.blocks.append((start, block))
            self.midi.extend(events)
            self.cycles.append((time.monotonic(), start))

    def clear(self) -> None:
        with self.lock:
            self.blocks.clear()
            self.midi.clear()
            self.cycles.clear()

    def take(self) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """(JACK frame of every sample, audio [n, 2], MIDI (frame, status byte)). The
        frames are kept per sample: a cycle this client missed leaves a gap in them."""
        with self.lock:
            blocks, midi = list(self.blocks), list(self.midi)
        frames = np.concatenate([start + np.arange(len(b)) for start, b in blocks])
        return frames, np.concatenate([b for _, b in blocks]), midi


@pytest.fixture
def capture(jack_server: Any) -> Any:
    import jack

    client = jack.Client("pbsync", servername=jack_server.name, no_start_server=True)
    audio = [client.inports.register(f"in_{i}") for i in (1, 2)]
    midi = client.midi_inports.register("clock")
    cap = Capture(client, audio, midi)
    client.set_process_callback(cap.process)
    client.activate()
    yield cap
    cap.park.close(client)


def heard_pieces(mono: np.ndarray, reference: np.ndarray, below: float) -> list[tuple[int, int]]:
    """(capture index, stream frame there) for every half second of the capture that is
    a clean piece of the synth's stream (pieces with a slip in them are left out)."""
    out = []
    for start in range(0, len(mono) - RATE, PIECE):
        with contextlib.suppress(AssertionError):
            out.append((start, stream_offset(mono[start:], reference, below + start / RATE)))
    return out


def wire(cap: Capture) -> None:
    """Connect PortAudio's outputs and the daemon's clock port to the capture client
    (retrying: the previous test's daemon may still be leaving the graph)."""
    import jack

    client = cap.client
    deadline = time.monotonic() + 20
    while True:
        audio = client.get_ports("PortAudio", is_audio=True, is_output=True)
        clock = client.get_ports("PromptBridge Clock", is_midi=True, is_output=True)
        try:
            if len(audio) >= 2 and clock:
                for src, dst in zip(audio[:2], cap.audio_in, strict=True):
                    client.connect(src, dst)
                client.connect(clock[0], cap.midi_in)
                return
        except jack.JackError:
            pass  # a port of a daemon that is going away
        if time.monotonic() > deadline:
            raise AssertionError(f"ports never appeared: {client.get_ports()}")
        time.sleep(0.1)


def run_args(tmp_path: Path, port: int, bpm: int) -> list[str]:
    mapping = tmp_path / "set.toml"
    mapping.write_text(
        '[controller]\nname = "none"\nport = "no such port"\n\n'
        f'[[slots]]\ntext = "techno"\nweight = 1.0\n\n[config]\nbpm = {bpm}\n'
    )
    return [
        "run", "--engine", "synth", "--midi-api", "jack", "--output", "system",
        "--latency", "low", "--chunk-seconds", "0.05", "--autoplay", "--fresh",
        "--mapping", str(mapping), "--clock-out", "no port matches this",
        "--state-file", str(tmp_path / "state.json"), "--status", f"127.0.0.1:{port}",
    ]  # fmt: skip


def synth_engine(bpm: int) -> Any:
    """The daemon's synth as the test's performance sets it up (deterministic)."""
    from bridge.core.types import GenerationConfig, SetConfig, SetPrompts, WeightedPrompt
    from bridge.engines.synth import SynthEngine

    engine = SynthEngine(chunk_seconds=0.05)
    engine.apply_now(SetPrompts((WeightedPrompt("techno", 1.0),)))
    engine.apply_now(SetConfig(GenerationConfig(bpm=bpm)))
    return engine


def offline(bpm: int, seconds: float) -> np.ndarray:
    """What the daemon's synth plays from its first frame, mono."""
    engine = synth_engine(bpm)
    chunks = [engine.render_chunk().samples for _ in range(int(seconds / 0.05))]
    return np.concatenate(chunks).mean(axis=1)


def stream_offset(heard: np.ndarray, reference: np.ndarray, below: float) -> int:
    """The stream frame of ``heard[0]`` (known to be before ``below`` seconds): where its
    first half second matches the reference best, by *normalised* correlation (a techno
    loop repeats every bar almost exactly, some bars exactly: hence the bound)."""
    piece = heard[: RATE // 2]
    size = 1 << int(np.ceil(np.log2(len(reference) + len(piece))))
    corr = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(piece, size)), size)
    energy = np.concatenate([[0.0], np.cumsum(reference**2)])
    count = min(len(reference) - len(piece), int(below * RATE))
    local = np.sqrt(energy[len(piece) : len(piece) + count] - energy[:count]) + 1e-9
    similarity = corr[:count] / (local * (np.linalg.norm(piece) + 1e-12))
    offset = int(np.argmax(similarity))
    assert similarity[offset] > 0.99, (
        f"what was heard is not the synth's stream ({similarity[offset]:.3f})"
    )
    return offset


def changed_at(line: int, frames: int) -> np.ndarray:
    """The synth's stream (mono) at 120 bpm, changed to 100 bpm on stream frame ``line``
    (a bar line): the update reaches it within the last beat before, as the quantizer
    releases it, and it starts the new context on its next beat."""
    from bridge.core.types import Control, GenerationConfig, Playback, SetConfig

    engine = synth_engine(120)
    chunk = engine.chunk_frames
    out = []
    rendered = 0
    while rendered + chunk <= line - RATE // 8:
        out.append(engine.render_chunk().samples)
        rendered += chunk
    engine.apply_now(SetConfig(GenerationConfig(bpm=100)))
    engine.apply_now(Control(Playback.RESET_CONTEXT))
    while rendered < frames:
        out.append(engine.render_chunk().samples)
        rendered += chunk
    return np.concatenate(out).mean(axis=1)


@dataclass
class Heard:
    """A capture judged in its stretches (``tests.clock_judge``), on real time: the
    clock's tempo, the tempo heard (slowed by what JACK and the audio child lost), the
    stream's speed on JACK's frames (1.0: verbatim), and per stretch how far the clock's
    beats were from the heard beats."""

    clock_bpm: float
    heard_bpm: float
    verbatim: float
    beats_off_ms: dict[int, float]
    stretches: int
    cuts: int
    lost_ticks: int
    xruns: int


def capture_clock(port: int, capture: Capture, seconds: float = 8.0) -> tuple[Any, ...]:
    """Wire the capture, let the clock run, capture: (frames, audio, midi, before, after,
    output latency) with the player's status before and after."""
    wire(capture)
    snap = wait_status(port, lambda s: (s["sync"].get("clock_out") or {}).get("ticks", 0) > 48)
    latency = snap["sync"]["quantize"]["lead"]["output"]
    time.sleep(1.0)
    before = status(port)["audio"]
    capture.clear()
    time.sleep(seconds)
    frames, audio, midi = capture.take()
    after = status(port)["audio"]
    return frames, audio, midi, before, after, latency


def judge_clock(capture: Capture, taken: tuple[Any, ...], bpm: int, log: str) -> Heard:
    """The clock's tempo and beats against what was heard (the synth's stream at ``bpm``,
    found in the audio half a second at a time), in the capture's stretches. Skips when
    too little of the capture can be judged, saying why."""
    frames, audio, midi, before, after, latency = taken
    xruns = after["device_xruns"] - before["device_xruns"]
    # The music is heard at the engine's tempo: not stretched by the playout (the first
    # seconds after a start once were, by up to 4 %, and the clock followed)
    assert after["stretched_seconds"] == before["stretched_seconds"], (before, after)
    pieces = heard_pieces(audio.mean(axis=1), offline(bpm, 60.0), before["played_seconds"] + 1.0)
    assert pieces, f"no half second of what was heard is the synth's stream ({xruns} xruns)"
    if len(pieces) < 8:  # each was the stream (stream_offset asserts it): too few to judge
        pytest.skip(
            f"rig unfit to judge: {len(pieces)} clean half seconds of audio ({xruns} xruns)"
        )
    ticks = np.array([f for f, b in midi if b == 0xF8], dtype=np.float64)
    assert len(ticks) > 24 * 12, f"{len(ticks)} ticks of {len(midi)} messages, {log}"
    # The true beats: the synth's grid, found by matching what was heard to its stream,
    # half second by half second, at the JACK frames the capture got them.
    per_beat = 60.0 * RATE / bpm
    heard = []
    for start, offset in pieces:
        beats = np.arange(np.ceil(offset / per_beat), (offset + PIECE) / per_beat) * per_beat
        heard += list(frames[start + (beats - offset).astype(int)] + latency * RATE)  # heard later
    with capture.lock:
        cycles = np.array(capture.cycles, dtype=np.float64)
    at = np.array([frames[i] for i, _ in pieces], dtype=np.float64)
    stream = np.array([offset for _, offset in pieces], dtype=np.float64)
    got = clock_judge.judge(ticks, np.array(heard), (at, stream), cycles, per_beat / 24, RATE)
    seconds = got.judged_ticks * per_beat / 24 / RATE
    if seconds < MIN_JUDGED_SECONDS or not got.beats_off_ms:
        pytest.skip(
            f"rig unfit to judge: what was heard jumped {got.cuts} times by more than 10 ms "
            f"(JACK stalls, {xruns} device xruns), leaving {seconds:.1f} s of clock in "
            f"stretches long enough to judge"
        )
    return Heard(
        clock_bpm=60.0 / (got.clock_per_tick * 24),
        heard_bpm=bpm * got.heard_speed,
        verbatim=got.verbatim,
        beats_off_ms=got.beats_off_ms,
        stretches=got.stretches,
        cuts=got.cuts,
        lost_ticks=got.lost_ticks,
        xruns=xruns,
    )


@pytest.mark.parametrize("bpm", [120, 128])
def test_clock_out_follows_the_heard_tempo_and_beats(
    tmp_path: Path, jack_server: Any, capture: Capture, bpm: int
) -> None:
    """The embedded engine at 120 and 128 bpm: what is heard is its stream verbatim, at
    its tempo; our clock's tempo is within 0.2 % of it, and its beats (every 24th tick)
    within 10 ms of the kicks at the sound card."""
    port = free_port()
    daemon = Daemon(run_args(tmp_path, port, bpm))
    try:
        daemon.wait_for("heard grid", timeout=30)
        taken = capture_clock(port, capture)
    finally:
        daemon.stop()
    got = judge_clock(capture, taken, bpm, daemon.log())
    assert abs(got.verbatim - 1) < 0.0005, got
    assert abs(got.clock_bpm - got.heard_bpm) / got.heard_bpm < 0.002, got
    assert max(got.beats_off_ms.values()) < 10.0, got


@pytest.mark.parametrize("bpm", [120, 128])
def test_a_streamed_engines_tempo_and_beats_are_tracked_from_what_is_heard(
    tmp_path: Path, jack_server: Any, capture: Capture, bpm: int
) -> None:
    """The embedded engine behind ``promptbridge serve``, played by the lyria engine: no
    grid comes over the wire, so the daemon tracks the beats of what it plays. The MIDI
    clock that follows the tracked grid is within 1 % of the heard tempo and its beats
    within 20 ms of the kicks at the sound card."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--port", "0", "--chunk-seconds", "0.5"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JOURNAL_STREAM": ""},
    )
    try:
        assert server.stderr is not None
        found = re.search(r"on (ws://127\.0\.0\.1:\d+/ws/\S+)", server.stderr.readline())
        assert found, "serve did not say where it listens"
        port = free_port()
        streamed = ["--engine", "lyria", "--url", found.group(1), "--latency", "balanced",
                    "--stretch-limit", "0"]  # fmt: skip
        daemon = Daemon([*run_args(tmp_path, port, bpm), *streamed])
        try:
            daemon.wait_for(r"heard grid: .* \(tracker", timeout=40)
            taken = capture_clock(port, capture)
        finally:
            daemon.stop()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=10)
    got = judge_clock(capture, taken, bpm, daemon.log())
    assert abs(got.verbatim - 1) < 0.0005, got
    assert abs(got.clock_bpm - got.heard_bpm) / got.heard_bpm < 0.01, got
    assert max(got.beats_off_ms.values()) < 20.0, got


def anchor(mono: np.ndarray, start: int, reference: np.ndarray) -> tuple[int, int]:
    """(recording index, stream frame there): the first of the first four half seconds
    from ``start`` that is a clean piece of the stream (one with silence put in is not)."""
    for k in range(4):
        with contextlib.suppress(AssertionError):
            at = start + k * PIECE
            return at, stream_offset(mono[at:], reference, below=2.0 + k * PIECE / RATE)
    return start, stream_offset(mono[start:], reference, below=2.0)  # fails, saying why


def keep_for_study(wav: Path, log: str, meta: dict[str, Any]) -> None:
    """With ``PB_RIG_KEEP=DIR`` set, copy a run's recording, the daemon's log and ``meta``
    into a new directory under DIR, to study a failure offline."""
    keep = os.environ.get("PB_RIG_KEEP")
    if not keep:
        return
    into = Path(tempfile.mkdtemp(prefix="bar-", dir=keep))
    shutil.copy(wav, into / wav.name)
    (into / "daemon.log").write_text(log)
    (into / "meta.json").write_text(json.dumps(meta, default=str))


def bar_lines_changed_on(
    stereo: np.ndarray,
) -> tuple[list[int], Callable[[], dict[float, bar_judge.Walk]]]:
    """The bar lines (stream frames) of the 120 bpm stream on which a recording (int16
    ``[n, 2]``) changed to 100 bpm, and a function saying, per bar line, how far the
    recording followed the render changed there (for a failure's message).

    The synth changed on one bar line and nowhere else: what was heard follows, frame for
    frame (through the silence the audio child put in when its queue ran dry:
    ``tests.bar_judge``), a render that changed on that bar, and no other."""
    mono = stereo.astype(np.float64).mean(axis=1) / 32768.0
    quiet = bar_judge.silent(stereo)
    start = int(np.argmax(np.abs(mono) > 0.01)) + RATE // 4  # past the start's fade-in
    at = anchor(mono, start, offline(120, 20.0))
    stop = len(mono) - RATE // 5  # the daemon's stop fades the recording out
    frames = at[1] + stop - at[0] + RATE  # the render outlasts the recording
    lines = range(4 * RATE // 2, frames, 4 * RATE // 2)  # a bar: 2 s at 120 bpm

    def render(line: int) -> np.ndarray:
        return changed_at(line, frames)

    landed = bar_judge.landed(mono, quiet, at, stop, render, lines, (RATE // 2, 2 * RATE))

    def walks() -> dict[float, bar_judge.Walk]:
        return {
            line / RATE: bar_judge.walk(mono, quiet, render(line), at, stop, line + 2 * RATE)
            for line in lines
        }

    return landed, walks


def test_a_bpm_move_lands_on_a_bar_line_of_the_heard_audio(
    tmp_path: Path, jack_server: Any
) -> None:
    """config.bpm 120 → 100 through the status API: what is played (``--record``: exactly
    the frames the sound card played, so the JACK dummy's lateness on a loaded machine
    cannot blur it) leaves the 120 bpm stream exactly on one of its bar lines, through
    the runs of silence the audio child plays when its queue runs dry (the stream goes
    on after them, later: ``tests.bar_judge``)."""
    port = free_port()
    wav = tmp_path / "heard.wav"
    # verbatim playout (no stretching, no loop standing in for a gap): frame for frame
    verbatim = ["--stretch-limit", "0", "--no-conceal", "--latency", "safe"]
    daemon = Daemon([*run_args(tmp_path, port, 120), *verbatim, "--record", str(wav)])
    try:
        daemon.wait_for("heard grid", timeout=30)
        time.sleep(2.0)
        reply = status(port, [Change("config.bpm", 100)])
        held = reply["sync"]["quantize"]["held"]
        assert held and held[0]["target"] == "config.bpm", reply["sync"]
        wait_status(port, lambda s: (s["sync"]["heard"] or {}).get("bpm") == 100, timeout=20)
        time.sleep(3.0)  # past the device's queue and the recorder's, into the file
        final = status(port)
        underruns = final["audio"]["underruns"]
    finally:
        daemon.stop()
    keep_for_study(wav, daemon.log(), {"reply": reply, "final": final})
    if underruns:
        pytest.skip(f"rig unfit to judge: {underruns} underruns (machine overloaded)")
    with wave.open(str(wav)) as f:
        stereo = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").reshape(-1, 2)
    landed, walks = bar_lines_changed_on(stereo)
    assert len(landed) == 1, (
        f"heard matches a change on bar lines {landed} (stream frames); per bar line (s), "
        f"how far what was heard followed its render: {walks()}"
    )
