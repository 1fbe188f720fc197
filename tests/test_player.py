"""The Player on a real JACK dummy device, recorded by a real JACK client; and headless."""

from __future__ import annotations

import asyncio
import os
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.audio import jitter
from bridge.audio.player import OutputDevice, Player, list_outputs, select_output
from bridge.core.types import AudioChunk
from bridge.errors import DeviceError

RATE = 48_000


def sine(freq: float, seconds: float, amp: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def sine_freq(x: np.ndarray, rate: int) -> float:
    """The frequency of a recorded sine: the median period between its rising zero
    crossings (interpolated to a fraction of a sample).

    Not the spectrum's peak: a busy machine's JACK graph can lose one period of the
    recording (an xrun), and the phase jump it leaves shifts a half-second spectrum by a
    full 4 Hz bin; here it is one odd period among hundreds, and a wrong rate (a
    resampling or steering error) moves every one of them."""
    rising = np.flatnonzero((x[:-1] <= 0) & (x[1:] > 0))
    crossings = rising + x[rising] / (x[rising] - x[rising + 1])
    return float(rate / np.median(np.diff(crossings)))


def wait_until(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


def played_out(player: Player) -> bool:
    """The stream ran dry: all fed audio was played but the stretcher's look-ahead
    (< 80 ms), which a loop (or a fade) now stands in for."""
    return bool(player.stats()["underruns"] >= 1)


def feed_seconds(player: Player, data: np.ndarray, block: float = 0.1) -> None:
    """Feed in engine-like chunks, honouring backpressure."""
    step = round(block * RATE)
    for i in range(0, len(data), step):
        while not player.wants_more():
            time.sleep(0.005)
        player.feed(AudioChunk(data[i : i + step]))


RESAMPLE_CHILD = """
import json, time
import numpy as np
import jack
from bridge.audio.player import Player
from bridge.core.types import AudioChunk

client = jack.Client("rec44", no_start_server=True)
port = client.inports.register("in")
blocks = []
client.set_process_callback(lambda n: blocks.append(port.get_array().copy()))
client.activate()
player = Player(output="system", latency="low")
player.start()
client.connect(client.get_ports("PortAudio", is_output=True)[0], port)
t = np.arange(48000) / 48000
mono = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
data = np.stack([mono, mono], axis=1)
for i in range(0, 48000, 4800):
    while not player.wants_more():
        time.sleep(0.005)
    player.feed(AudioChunk(data[i : i + 4800]))
deadline = time.monotonic() + 5
while player.stats()["underruns"] == 0 and time.monotonic() < deadline:
    time.sleep(0.01)
player.close()
client.deactivate()
client.close()
np.save(__import__("sys").argv[1], np.concatenate(blocks))
print(json.dumps({"rate": player.rate}))
"""


@pytest.mark.jack
def test_resamples_to_a_44k1_device(jack_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On a 44.1 kHz device 48 kHz chunks are resampled: 1000 Hz stays 1000 Hz.

    Runs first in this module and in a child process: while this process holds a
    PortAudio JACK client on one server, starting a second server crashed it here
    (a segfault in a libjack thread, or in Pa_Terminate).
    """
    import json
    import subprocess
    import sys

    server = jack_server_factory(rate=44_100)
    env = {**os.environ, "JACK_DEFAULT_SERVER": server.name, "JACK_NO_START_SERVER": "1"}
    out = tmp_path / "heard.npy"
    res = subprocess.run(
        [sys.executable, "-c", RESAMPLE_CHILD, str(out)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"rate": 44_100}
    heard = np.load(out)
    loud = heard[np.abs(heard) > 0.3]
    assert len(loud) > 10_000
    start = int(np.argmax(np.abs(heard) > 0.3)) + 2000
    assert abs(sine_freq(heard[start : start + 22050], 44_100) - 1000) < 2
    assert np.max(np.abs(heard)) == pytest.approx(0.5, abs=0.02)


DEVICES = [
    OutputDevice(0, "system", "JACK Audio Connection Kit", 2, 48000.0),
    OutputDevice(3, "Scarlett 4i4 USB: Audio (hw:1,0)", "ALSA", 4, 48000.0),
    OutputDevice(4, "Scarlett", "ALSA", 4, 48000.0),
    OutputDevice(7, "pulse", "ALSA", 32, 44100.0),
]


def test_select_output_by_index_exact_name_and_substring() -> None:
    """An index, an exact name (preferred over substrings) and a substring all select."""
    assert select_output("7", DEVICES).name == "pulse"
    assert select_output("Scarlett", DEVICES).index == 4
    assert select_output("4i4", DEVICES).index == 3
    assert select_output("PULSE", DEVICES).index == 7


def test_select_output_no_match_lists_devices() -> None:
    """No match is one clear error naming what was asked and listing every output."""
    with pytest.raises(DeviceError) as err:
        select_output("nosuchcard", DEVICES)
    text = str(err.value)
    assert "'nosuchcard'" in text and "\n" not in text
    for d in DEVICES:
        assert d.name in text


def test_bad_latency_and_channels_are_clear_errors() -> None:
    """Unknown presets and impossible channel maps are rejected with the allowed values."""
    with pytest.raises(DeviceError, match="low, balanced, safe"):
        Player(output="none", latency="fast")
    with pytest.raises(DeviceError, match="1-based"):
        Player(output="none", channels=(0, 1))


@pytest.mark.jack
def test_jack_device_listed(jack_server) -> None:  # type: ignore[no-untyped-def]
    """The JACK dummy server appears as an output with its host API and rate."""
    outs = list_outputs()
    jack = [d for d in outs if "JACK" in d.hostapi]
    assert jack and jack[0].channels >= 2 and jack[0].default_rate == 48000


@pytest.mark.jack
def test_sine_reaches_the_device_at_frequency_and_level(jack_server, jack_recorder) -> None:  # type: ignore[no-untyped-def]
    """A 440 Hz sine at 0.5 fed through the Player comes out at 440 Hz, amplitude 0.5."""
    player = Player(output="system", latency="low")
    player.start()
    try:
        jack_recorder.connect("PortAudio")
        jack_recorder.clear()
        feed_seconds(player, sine(440, 1.5))
        assert wait_until(lambda: played_out(player), 5)
    finally:
        player.close()
    heard = jack_recorder.samples()
    loud = heard[np.abs(heard[:, 0]) > 0.001]
    assert len(loud) > RATE  # over a second of it
    steady = loud[RATE // 4 : RATE // 4 + RATE // 2]
    assert abs(sine_freq(steady[:, 0], RATE) - 440) < 1
    assert abs(np.max(np.abs(steady)) - 0.5) < 0.01


@pytest.mark.jack
def test_underrun_is_a_fade_not_a_click(jack_server, jack_recorder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """When the feed stops, the sound fades to silence over >= 10 ms, and fades back in
    when delivery resumes; no sample jumps (checked on the exact played samples, and
    the fades are heard on the device). Concealment off: the loop would fill the gap."""
    player = Player(output="system", latency="low", conceal=False)
    player.start()
    wav = tmp_path / "played.wav"
    player.start_recording(wav, fmt="float32")
    try:
        jack_recorder.connect("PortAudio")
        jack_recorder.clear()
        # a constant (DC) signal: any cut would be a jump of 0.5 in one sample
        player.feed(AudioChunk(np.full((RATE, 2), 0.5, dtype=np.float32)))
        assert wait_until(lambda: player.stats()["underruns"] == 1, 5)
        time.sleep(0.1)
        player.feed(AudioChunk(np.full((RATE // 2, 2), 0.5, dtype=np.float32)))
        assert wait_until(lambda: player.fill_seconds < 0.03, 5)
        time.sleep(0.1)
    finally:
        player.close()
    raw = wav.read_bytes()
    played = np.frombuffer(raw[raw.index(b"data") + 8 :], dtype="<f4").reshape(-1, 2)[:, 0]
    assert np.max(played) == pytest.approx(0.5, abs=1e-6)
    assert np.max(np.abs(np.diff(played))) < 0.5 / 400  # ramps of >= 400 samples; a cut is 0.5
    ramps = np.sum((played > 0.01) & (played < 0.49))
    assert ramps >= 3 * 0.010 * RATE * 0.96  # start fade-in, underrun fade-out, fade back in
    assert player.stats()["underruns"] == 2  # the one we caused, and the end
    # the device got the same: full level, silence in between, ramps (>= 10 ms each)
    heard = jack_recorder.samples()[:, 0]
    assert np.max(heard) == pytest.approx(0.5, abs=1e-4)
    assert np.sum((heard > 0.01) & (heard < 0.49)) >= 2 * 0.010 * RATE * 0.96
    first = int(np.argmax(heard > 0.49))
    assert np.any(heard[first:] < 0.001)  # the gap was silence, not a held sample


@pytest.mark.jack
def test_backpressure_holds_the_high_mark(jack_server) -> None:  # type: ignore[no-untyped-def]
    """Above the high mark wants_more() is False; nothing fed is dropped."""
    player = Player(output="system", latency="low")
    player.start()
    try:
        fed = 0.0
        while player.wants_more():
            player.feed(AudioChunk(sine(220, 0.05)))
            fed += 0.05
        high = player.stats()["high_mark_seconds"]
        low = jitter.preset("low")
        assert high == pytest.approx(low.target + low.headroom)
        assert player.fill_seconds >= high - 0.01
        assert fed < high + 0.2  # the caller stopped right at the mark
        assert wait_until(player.wants_more, 2)  # the device drains it, and asks again
    finally:
        player.close()


@pytest.mark.jack
def test_channel_map_routes_to_chosen_outputs(jack_server, jack_recorder) -> None:  # type: ignore[no-untyped-def]
    """channels=(2, 1) swaps left and right on the device."""
    player = Player(output="system", latency="low", channels=(2, 1))
    player.start()
    try:
        jack_recorder.connect("PortAudio")
        jack_recorder.clear()
        data = sine(440, 1.0)
        data[:, 1] *= 0.2  # right is quieter
        feed_seconds(player, data)
        assert wait_until(lambda: played_out(player), 5)
    finally:
        player.close()
    heard = jack_recorder.samples()
    assert np.max(np.abs(heard[:, 0])) == pytest.approx(0.1, abs=0.005)
    assert np.max(np.abs(heard[:, 1])) == pytest.approx(0.5, abs=0.005)


def test_headless_output_consumes_in_real_time_and_records(tmp_path: Path) -> None:
    """--output none plays at real time into nowhere; the recording is what was played."""
    player = Player(output="none", latency="low", gain=0.5)
    player.start()
    wav = tmp_path / "set.wav"
    player.start_recording(wav)
    data = sine(440, 1.0, amp=0.8)
    t0 = time.monotonic()
    try:
        feed_seconds(player, data)
        assert wait_until(lambda: played_out(player), 5)
        elapsed = time.monotonic() - t0
    finally:
        player.close()
    assert 0.9 < elapsed < 1.6  # a second of audio took about a second
    with wave.open(str(wav)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 2
        rec = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2) / 32767
    assert np.max(np.abs(rec)) == pytest.approx(0.4, abs=0.002)  # 0.8 x gain 0.5
    start = int(np.argmax(np.abs(rec[:, 0]) > 0.3)) + 2000
    assert abs(sine_freq(rec[start : start + 24000, 0], RATE) - 440) < 1


def test_full_disk_stops_recording_not_playback(tmp_path: Path) -> None:
    """A recording that hits a real write error (/dev/full: ENOSPC) fails clearly, at once."""
    from bridge.audio.recorder import RecorderError

    player = Player(output="none", latency="low")
    player.start()
    try:
        with pytest.raises(RecorderError, match="No space left on device"):
            player.start_recording("/dev/full")
        feed_seconds(player, sine(440, 0.3))
        assert wait_until(lambda: played_out(player), 5)
        # played on: all but the stretcher's held look-ahead (< 80 ms, see played_out)
        assert player.stats()["played_seconds"] > 0.3 - 0.08
    finally:
        player.close()


def test_async_close_fades_out() -> None:
    """aclose() fades out before the device closes: the last samples played are silent."""

    async def main() -> tuple[float, float]:
        player = Player(output="none", latency="low")
        player.start()
        player.feed(AudioChunk(np.full((RATE * 2, 2), 0.5, dtype=np.float32)))
        await asyncio.sleep(0.6)
        before = player.stats()["output_gain"]
        await player.aclose()
        return before, player.stats()["output_gain"]

    before, after = asyncio.run(main())
    assert before == pytest.approx(1.0) and after == 0.0


def test_recorder_made_before_start_is_used(tmp_path: Path) -> None:
    """A WavRecorder handed to Player(recorder=...) records what is played from start."""
    from bridge.audio.recorder import WavRecorder

    wav = tmp_path / "early.wav"
    player = Player(output="none", latency="low", recorder=WavRecorder(wav, fmt="float32"))
    player.start()
    try:
        feed_seconds(player, sine(440, 0.5, amp=0.3))
        assert wait_until(lambda: played_out(player), 5)
    finally:
        player.close()
    raw = wav.read_bytes()
    data = np.frombuffer(raw[raw.index(b"data") + 8 :], dtype="<f4")
    assert np.max(np.abs(data)) == pytest.approx(0.3, abs=1e-4)


@pytest.mark.jack
def test_default_output_available_with_jack(jack_server) -> None:  # type: ignore[no-untyped-def]
    """With the JACK server up, a default output exists (the demo then plays on it)."""
    from bridge.audio.player import default_output_available

    assert default_output_available()


def test_only_the_devices_module_imports_sounddevice() -> None:
    """Layering: bridge/audio/devices.py is the one module that imports sounddevice."""
    import re

    root = Path(__file__).resolve().parents[1] / "bridge"
    pattern = re.compile(r"^\s*(import|from)\s+sounddevice\b", re.MULTILINE)
    users = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text())
    )
    assert users == ["audio/devices.py"]


def test_wakeup_fires_once_when_the_buffer_drains_below_the_high_mark() -> None:
    """After wants_more() said no, the wake-up callback fires (from the audio thread) as
    soon as the buffer drains below the high mark, once; without a "no" it stays quiet."""
    import threading

    player = Player(output="none", latency="low")
    woke = threading.Event()
    calls: list[float] = []

    def wake() -> None:
        calls.append(player.fill_seconds)
        woke.set()

    player.set_wakeup(wake)
    player.start()
    try:
        player.feed(AudioChunk(sine(220, 0.2)))
        time.sleep(0.1)
        assert not woke.is_set()  # never reported full: nobody is waiting
        while player.wants_more():
            player.feed(AudioChunk(sine(220, 0.1)))
        high = player.stats()["high_mark_seconds"]
        assert woke.wait(2.0)
        time.sleep(0.1)
        assert len(calls) == 1 and calls[0] < high
    finally:
        player.close()


@pytest.mark.jack
def test_a_gap_in_delivery_is_heard_as_the_last_bar_looping(jack_server, jack_recorder) -> None:  # type: ignore[no-untyped-def]
    """Real time, real device: the embedded engine's music stops arriving for a second;
    the device keeps sounding (no silent 100 ms window from the first sound to the end),
    the status counts one concealment, and the stream is played again when it returns."""
    from bridge.audio.simulate import synth

    music = synth(120.0)
    player = Player(output="system", latency="low")
    player.start()
    player.set_bpm(120.0)
    try:
        jack_recorder.connect("PortAudio")
        jack_recorder.clear()
        feed_seconds(player, music(round(2.5 * RATE)))
        assert wait_until(lambda: player.stats()["concealment_episodes"] == 1, 3)
        time.sleep(0.8)  # the gap, covered by the loop
        assert player.concealing
        feed_seconds(player, music(RATE))
        assert wait_until(lambda: not player.concealing, 1)
        time.sleep(0.3)
        stats = player.stats()
    finally:
        player.close()
    assert stats["concealment_seconds"] > 0.7
    heard = jack_recorder.samples().mean(axis=1)
    start = int(np.argmax(np.abs(heard) > 1e-3))
    n = (len(heard) - start) // 4800
    rms = np.sqrt((heard[start : start + n * 4800].reshape(n, 4800) ** 2).mean(axis=1))
    assert n > 30 and np.all(rms[:-1] > 1e-4), np.flatnonzero(rms <= 1e-4)


def test_a_buffering_player_asks_for_more_past_its_high_mark() -> None:
    """The low preset's high mark (50 ms) is below what a 512-frame block needs to start
    (the block, a crossfade and the resume margin): while buffering, the player keeps
    asking, so the daemon never waits for a wake-up that cannot come; once it plays, the
    high mark holds again."""
    player = Player(output="none", latency="low")
    player.start(clock_thread=False)
    tone = np.sin(np.arange(2400, dtype=np.float32) / 9.0)[:, None].repeat(2, axis=1)
    out = np.zeros((512, 2), dtype=np.float32)
    player.feed(AudioChunk(samples=tone, rate=48_000))  # 50 ms: at the high mark
    player.pull(out, 512)
    assert not out.any()  # not enough to start a 512-frame block yet
    assert player.fill_seconds >= player.stats()["high_mark_seconds"]
    assert player.wants_more()
    player.feed(AudioChunk(samples=tone, rate=48_000))
    player.pull(out, 512)
    assert out.any()  # playing
    assert not player.wants_more()  # 88 ms buffered, over the mark
