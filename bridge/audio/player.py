"""Audio out: the only importer of sounddevice. Does device I/O (and file I/O when recording).

Usage (from the asyncio loop)::

    player = Player(output="default", latency="balanced", channels=(3, 4), gain=0.8)
    player.start()                      # opens the device; silence until the buffer fills
    async for chunk in engine.chunks():
        player.feed(chunk)              # resampled (soxr) to the device rate if needed
        while not player.wants_more():  # backpressure: above the high mark, stop pulling
            await asyncio.sleep(0.02)
    player.fade_out(); player.fade_in() # pause/resume without clicks
    player.start_recording("set.wav")   # exactly what is played, post-gain
    await player.aclose()               # fades out, then closes the device

``output``: a device index, an exact name, a case-insensitive substring, ``"default"``,
or ``"none"`` (no device: a clock thread consumes at real time, so the pipeline, the
counters and recording behave the same headless). No match: ``DeviceError`` listing the
output devices. The device runs at 48 kHz when it supports it, else at its default rate.
``channels``: the 1-based device outputs for left and right (``(3, 4)``), or one for mono.

The device lives in a child process (``python -m bridge.audio.player``), which is the
only place PortAudio is initialised: when the audio server (jackd, PipeWire) goes away
under an open stream, PortAudio hangs in stop/close and aborts at exit
(``pa_jack.c: Terminate``), and cannot be re-initialised in the same process. The child
just plays frames from a shared-memory ring (a memfd); the player's pump thread renders
into it. When the child reports the stream died, or exits, the output is *lost*: the
pump goes on at real time without a device (the set continues, recording included) and
starts a new child every 0.5 s until the same output opens again, then fades back in.

Threads: the pump thread (or the clock thread) only copies from the ring buffer,
applies the gain envelope in preallocated arrays and copies the result to the record
ring; it never blocks, logs or locks. The loop side (``feed``, ``wants_more``, ``tick``)
adapts the target level (``bridge.audio.jitter``) and logs underruns (rate-limited). A
writer thread drains the record ring into the ``WavRecorder``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mmap
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from bridge.audio import jitter
from bridge.audio.recorder import RecorderError, SampleFormat, WavRecorder
from bridge.audio.ring import Ring
from bridge.core.types import SAMPLE_RATE, AudioChunk
from bridge.errors import DeviceError

log = logging.getLogger(__name__)

_MAX_BLOCK = 8192  # larger callback blocks are split (no allocation in the callback)
_NONE_BLOCK = 512  # block size of the headless clock sink (~10.7 ms at 48 kHz)
_RECORD_SECONDS = 10.0  # record ring: the writer thread may stall this long without loss

_SHM_FRAMES = 8192  # the ring shared with the device child
_SHM_TARGET = 3072  # frames kept queued for the device (~64 ms at 48 kHz): GIL hiccups
_PUMP_BLOCK = 256  # frames rendered per step by the pump thread
_HDR = 8  # int64 slots before the samples: written, read, device xruns
_REOPEN_EVERY = 0.5  # seconds between attempts to reopen a lost output
_CHILD_TIMEOUT = 15.0  # seconds a device child may take to answer
_STALL_SECONDS = 2.0  # a device that pulls no frame for this long is lost

# callback states
_BUFFERING, _PLAYING, _CONCEALING = 0, 1, 2


@dataclass(frozen=True, slots=True)
class OutputDevice:
    """One audio output as PortAudio lists it."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: float

    def __str__(self) -> str:
        return (
            f"{self.index}: {self.name} ({self.hostapi}, {self.channels} ch, "
            f"{self.default_rate:g} Hz)"
        )


@dataclass(frozen=True, slots=True)
class PlayerStats:
    """Counters for logs and the status API."""

    device: str
    rate: int
    fill_seconds: float
    target_seconds: float
    high_mark_seconds: float
    underruns: int
    device_xruns: int
    played_seconds: float
    recording: str | None
    record_error: str | None
    output_lost: bool = False  # the device went away; reopening is being tried
    output_losses: int = 0  # times the device went away (e.g. jackd restarted)


def _sd() -> Any:
    """Import sounddevice lazily, translating a missing PortAudio into a DeviceError."""
    try:
        import sounddevice as sd
    except OSError as exc:  # libportaudio2 not installed
        raise DeviceError(f"PortAudio is not available: {exc}") from None
    return sd


def list_outputs() -> list[OutputDevice]:
    """Every device with at least one output channel."""
    sd = _sd()
    apis = sd.query_hostapis()
    return [
        OutputDevice(
            index=int(d["index"]),
            name=str(d["name"]),
            hostapi=str(apis[d["hostapi"]]["name"]),
            channels=int(d["max_output_channels"]),
            default_rate=float(d["default_samplerate"]),
        )
        for d in sd.query_devices()
        if d["max_output_channels"] > 0
    ]


def default_output_available() -> bool:
    """Whether ``output="default"`` would find a device (False without PortAudio too)."""
    try:
        return bool(list_outputs())
    except DeviceError:
        return False


def select_output(spec: str | int, devices: Sequence[OutputDevice]) -> OutputDevice:
    """Pick by index, exact name, then unique-first case-insensitive substring."""
    text = str(spec).strip()
    if text.isdigit():
        for d in devices:
            if d.index == int(text):
                return d
    exact = [d for d in devices if d.name == text] or [
        d for d in devices if d.name.lower() == text.lower()
    ]
    if exact:
        return exact[0]
    partial = [d for d in devices if text.lower() in d.name.lower()]
    if partial:
        return partial[0]
    listing = "; ".join(str(d) for d in devices) or "none found"
    raise DeviceError(f"no audio output matches {text!r}; outputs: {listing}")


def _default_output(devices: Sequence[OutputDevice]) -> OutputDevice:
    sd = _sd()
    index = sd.default.device[1]
    for d in devices:
        if d.index == index:
            return d
    if devices:
        return devices[0]
    raise DeviceError("no audio output device found (use --output none for record-only)")


class Player:
    """Plays ``AudioChunk``s on one output through an adaptive jitter buffer."""

    def __init__(
        self,
        output: str | int = "default",
        latency: str = "balanced",
        channels: Sequence[int] | None = (),
        gain: float = 1.0,
        fade: float = jitter.FADE_SECONDS,
        recorder: WavRecorder | None = None,
    ) -> None:
        try:
            self._preset = jitter.preset(latency)
        except ValueError as exc:
            raise DeviceError(str(exc)) from None
        if not 0.0 <= gain <= 2.0:
            raise DeviceError(f"gain must be in range 0..2 (got {gain})")
        self._output = output
        self._map = tuple(channels or ()) or (1, 2)
        if len(self._map) not in (1, 2) or min(self._map) < 1:
            raise DeviceError(f"channels must be one or two 1-based outputs (got {channels})")
        self._fade = max(0.01, fade)
        self._fade_now = self._fade
        self._gain = float(gain)
        self._device: OutputDevice | None = None
        self.rate = SAMPLE_RATE
        self._link: _DeviceLink | None = None
        self._sink: _ClockSink | None = None
        self._resampler: Any = None
        self._level = jitter.start_level(self._preset, time.monotonic())
        # callback state: plain floats/ints, written by one side each
        self._state = _BUFFERING
        self._env = 0.0
        self._paused = False
        self._flush = False
        self._underruns = 0
        self._xruns = 0
        self._played = 0
        self._conceal_step = 1.0
        self._seen_underruns = 0
        self._log_limit = jitter.RateLimit(interval=10.0)
        # recording
        self._recorder: WavRecorder | None = None
        self._recording = False
        self._record_ring: Ring | None = None
        self._record_lost = 0
        self._pump: threading.Thread | None = None
        self._pump_stop = threading.Event()
        self.record_error: str | None = None
        self._initial_recorder = recorder

    # --- set-up ----------------------------------------------------------------------
    @property
    def device_name(self) -> str:
        return "none" if self._device is None else self._device.name

    def start(self) -> None:
        """Open the output (or the headless clock) and start playing silence."""
        self._open_output()
        rec, self._initial_recorder = self._initial_recorder, None
        if rec is not None:
            self._adopt_recorder(rec)

    def _adopt_recorder(self, rec: WavRecorder) -> None:
        """Record into a recorder made before the device rate was known."""
        if rec.rate != self.rate and rec.frames == 0:
            rec.close()  # reopened (truncated) at the rate actually played
            rec = WavRecorder(rec.path, rate=self.rate, channels=2, fmt=rec.fmt)
        self._begin_recording(rec)

    def _open_output(self) -> None:
        if str(self._output).lower() == "none":
            self.rate = SAMPLE_RATE
            self._allocate(2)
            self._sink = _ClockSink(self)
            self._sink.start()
            return
        width = max(self._map)
        link = _DeviceLink(self, str(self._output), width)
        self.rate, self._device = link.open()
        self._allocate(width)
        self._link = link
        link.start()
        log.info("audio out: %s at %d Hz, outputs %s", self._device.name, self.rate, self._map)

    def _allocate(self, width: int) -> None:
        """Every buffer the callback touches is made here, once."""
        capacity = round((self._preset.max_target + self._preset.headroom + 8.0) * self.rate)
        self._ring = Ring(capacity)
        self._buf = np.zeros((_MAX_BLOCK, 2), dtype=np.float32)
        self._ramp = np.zeros(_MAX_BLOCK, dtype=np.float32)
        self._idx = np.arange(1, _MAX_BLOCK + 1, dtype=np.float32)
        self._width = width
        self._step = jitter.fade_step(self._fade, self.rate)
        self._reserve = jitter.reserve_frames(self.rate)
        self._start_frames = jitter.start_frames(self._level, self.rate, _MAX_BLOCK // 8)
        self._record_ring = Ring(round(_RECORD_SECONDS * self.rate))
        if self.rate != SAMPLE_RATE:
            self._resampler = soxr.ResampleStream(SAMPLE_RATE, self.rate, 2, dtype="float32")

    # --- the audio thread ------------------------------------------------------------
    def _render(self, out: npt.NDArray[np.float32], frames: int) -> None:
        """Fill ``out`` (``[frames, width]``): the only code run by the audio thread."""
        done = 0
        while done < frames:
            n = min(frames - done, _MAX_BLOCK)
            self._render_block(out[done : done + n], n)
            done += n

    def _render_block(self, out: npt.NDArray[np.float32], frames: int) -> None:
        ring, buf = self._ring, self._buf[:frames]
        if self._flush:
            ring.clear_reader()
            self._flush = False
        got = self._consume(ring, buf, frames)
        buf[got:] = 0.0
        self._apply_envelope(buf, frames)
        self._route(out, buf)
        rec = self._record_ring
        if self._recording and rec is not None and rec.write(buf) < frames:
            self._record_lost += frames  # the writer thread stalled: never wait for it
        self._played += frames

    def _consume(self, ring: Ring, buf: npt.NDArray[np.float32], frames: int) -> int:
        """Advance the buffering/playing/concealing state; returns frames read."""
        if self._state == _BUFFERING:
            if self._paused or ring.fill < max(self._start_frames, frames + self._reserve):
                return 0
            self._state = _PLAYING  # the envelope fades in from 0
        if self._state == _PLAYING:
            if self._paused and self._env == 0.0:
                return 0  # paused: hold the buffer
            if ring.fill >= frames + self._reserve:
                return ring.read_into(buf, frames)
            # underrun coming: play the reserve out under a fade instead of cutting
            self._underruns += 1
            self._state = _CONCEALING
            # fixed for the whole fade, so it ends within the reserve we still hold
            self._conceal_step = max(self._env, 1e-6) / self._reserve
        got = ring.read_into(buf, frames)
        return got

    def _apply_envelope(self, buf: npt.NDArray[np.float32], frames: int) -> None:
        """Multiply by a linear ramp from the current gain towards the wanted gain."""
        if self._state == _CONCEALING:
            target, step = 0.0, self._conceal_step
        elif self._state == _BUFFERING or self._paused:
            target, step = 0.0, self._step
        else:
            target, step = self._gain, self._step
        env = self._env
        if env == target:
            if env != 1.0:
                buf *= env
        else:
            ramp = self._ramp[:frames]
            np.multiply(self._idx[:frames], step if target > env else -step, out=ramp)
            ramp += env
            if target > env:
                np.minimum(ramp, target, out=ramp)
            else:
                np.maximum(ramp, target, out=ramp)
            buf *= ramp[:, None]
            env = float(ramp[-1])
        self._env = env
        if self._state == _CONCEALING and env == 0.0:
            self._state = _BUFFERING

    def _route(self, out: npt.NDArray[np.float32], buf: npt.NDArray[np.float32]) -> None:
        """Copy stereo to the mapped device outputs (1-based), silence elsewhere."""
        if self._map == (1, 2) and self._width == 2:
            np.copyto(out, buf)
            return
        out.fill(0.0)
        if len(self._map) == 1:
            np.add(buf[:, 0], buf[:, 1], out=out[:, self._map[0] - 1])
            out[:, self._map[0] - 1] *= 0.5
        else:
            out[:, self._map[0] - 1] = buf[:, 0]
            out[:, self._map[1] - 1] = buf[:, 1]

    # --- the loop side ---------------------------------------------------------------
    def feed(self, chunk: AudioChunk) -> None:
        """Queue a chunk (never blocks; resampled to the device rate if needed)."""
        samples = np.asarray(chunk.samples, dtype=np.float32)
        if samples.ndim == 1 or samples.shape[1] == 1:
            samples = np.repeat(samples.reshape(-1, 1), 2, axis=1)
        if chunk.rate != self.rate:
            samples = self._resample(samples, chunk.rate)
        written = self._ring.write(samples)
        if written < samples.shape[0]:
            # only when a caller ignores wants_more(): say so rather than grow silently
            log.warning("audio buffer full: %d frames not queued", samples.shape[0] - written)
        self.tick()

    def _resample(self, samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
        if rate == SAMPLE_RATE and self._resampler is not None:
            out: npt.NDArray[np.float32] = self._resampler.resample_chunk(samples)
            return out
        return np.asarray(soxr.resample(samples, rate, self.rate), dtype=np.float32)

    def wants_more(self) -> bool:
        """False above the high mark: the daemon stops pulling from the engine."""
        self.tick()
        return jitter.wants_more(self.fill_seconds, self._level)

    def tick(self, now: float | None = None) -> None:
        """Adapt the target to underruns seen by the audio thread; log them (rate-limited)."""
        now = time.monotonic() if now is None else now
        if self._underruns != self._seen_underruns:
            self._seen_underruns = self._underruns
            self._level = jitter.on_underrun(self._level, now)
            held = self._log_limit.held
            report, self._log_limit = jitter.rate_limited(self._log_limit, now)
            if report:
                log.warning(
                    "audio underrun #%d (concealed by a fade)%s; buffer target now %.2f s",
                    self._underruns,
                    f", {held} more since the last report" if held else "",
                    self._level.target,
                )
        else:
            self._level = jitter.on_tick(self._level, now)
        self._start_frames = jitter.start_frames(self._level, self.rate, _MAX_BLOCK // 8)

    @property
    def fill_seconds(self) -> float:
        return self._ring.fill / self.rate

    @property
    def gain(self) -> float:
        return self._gain

    @gain.setter
    def gain(self, value: float) -> None:
        """Master gain 0..2, reached through a ramp (no zipper noise, no click)."""
        self._gain = min(2.0, max(0.0, float(value)))

    def fade_out(self, seconds: float | None = None) -> None:
        """Ramp to silence (>= 10 ms), then hold the buffer (pause, stop, reconnect, exit)."""
        self._set_fade(seconds)
        self._paused = True

    def fade_in(self, seconds: float | None = None) -> None:
        """Resume playing the buffer, ramping up from silence (>= 10 ms)."""
        self._set_fade(seconds)
        self._paused = False

    def _set_fade(self, seconds: float | None) -> None:
        self._fade_now = max(0.01, self._fade if seconds is None else seconds)
        self._step = jitter.fade_step(self._fade_now, self.rate)

    def flush(self) -> None:
        """Drop everything buffered (after ``fade_out``: a STOP or a context reset)."""
        self._flush = True

    @property
    def fade_seconds(self) -> float:
        return self._fade

    def delay(self) -> tuple[float, float]:
        """(seconds until a frame fed now is heard, the device's output latency): the ring,
        the frames queued for the device, and the latency the device reports. The beat
        grid of what is heard (``bridge.heard``) is timed with it."""
        link = self._link
        if link is None:  # the headless clock renders a block at a time
            return self.fill_seconds + _NONE_BLOCK / 2 / self.rate, 0.0
        return self.fill_seconds + link.queued / self.rate + link.latency, link.latency

    def stats(self) -> dict[str, Any]:
        """A JSON-able snapshot (the fields of ``PlayerStats``)."""
        return asdict(self.snapshot())

    def snapshot(self) -> PlayerStats:
        return PlayerStats(
            device=self.device_name,
            rate=self.rate,
            fill_seconds=round(self.fill_seconds, 3),
            target_seconds=round(self._level.target, 3),
            high_mark_seconds=round(self._level.high_mark, 3),
            underruns=self._underruns,
            device_xruns=self._xruns + (self._link.xruns if self._link else 0),
            played_seconds=round(self._played / self.rate, 3),
            recording=None if self._recorder is None else str(self._recorder.path),
            record_error=self.record_error,
            output_lost=self._link.lost if self._link else False,
            output_losses=self._link.losses if self._link else 0,
        )

    # --- recording -------------------------------------------------------------------
    def start_recording(self, path: str | Path, fmt: SampleFormat = "int16") -> None:
        """Record everything played from now on (post-gain) to a WAV file."""
        if self._record_ring is None:
            raise DeviceError("start the player before recording (the device rate decides)")
        self.stop_recording()
        self._begin_recording(WavRecorder(path, rate=self.rate, channels=2, fmt=fmt))

    def _begin_recording(self, rec: WavRecorder) -> None:
        self._recorder = rec
        self.record_error = None
        self._pump_stop.clear()
        self._pump = threading.Thread(target=self._pump_loop, name="wav-writer", daemon=True)
        self._pump.start()
        self._recording = True
        log.info("recording to %s", rec.path)

    def stop_recording(self) -> None:
        """Stop recording; what was played up to now is in the file."""
        self._recording = False
        if self._pump is not None:
            self._pump_stop.set()
            self._pump.join(timeout=5)
            self._pump = None
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None

    def _pump_loop(self) -> None:
        """Writer thread: drain the record ring into the file every ~50 ms."""
        scratch = np.zeros((round(0.25 * self.rate), 2), dtype=np.float32)
        while True:
            stopping = self._pump_stop.wait(0.05)
            if not self._drain(scratch):
                return
            if stopping:
                return

    def _drain(self, scratch: npt.NDArray[np.float32]) -> bool:
        ring, rec = self._record_ring, self._recorder
        if ring is None or rec is None:
            return False
        while ring.fill:
            n = ring.read_into(scratch, scratch.shape[0])
            try:
                rec.write(scratch[:n])
            except RecorderError as exc:
                # playback goes on; the error is reported once and kept for status
                self._recording = False
                self.record_error = str(exc)
                log.error("%s", exc)
                return False
        return True

    # --- shutdown --------------------------------------------------------------------
    async def aclose(self) -> None:
        """Fade out, then close the device and the recording."""
        if not self._paused:
            self.fade_out()
        await asyncio.sleep(self._fade_now + 0.05)
        self._close_now()

    def close(self) -> None:
        """Blocking variant of ``aclose`` (for commands without a loop)."""
        if not self._paused:
            self.fade_out()
        time.sleep(self._fade_now + 0.05)
        self._close_now()

    def _close_now(self) -> None:
        if self._link is not None:
            self._link.stop()
            self._link = None
        if self._sink is not None:
            self._sink.stop()
            self._sink = None
        self.stop_recording()


class _ClockSink:
    """``--output none``: a thread that renders blocks at real time into nowhere."""

    def __init__(self, player: Player) -> None:
        self._player = player
        self._stop = threading.Event()
        self._out = np.zeros((_NONE_BLOCK, 2), dtype=np.float32)
        self._thread = threading.Thread(target=self._run, name="clock-sink", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        period = _NONE_BLOCK / self._player.rate
        deadline = time.monotonic()
        while not self._stop.is_set():
            self._player._render(self._out, _NONE_BLOCK)
            deadline += period
            delay = deadline - time.monotonic()
            if delay < -1.0:  # suspended for a long time: do not race to catch up
                deadline = time.monotonic()
            elif delay > 0:
                self._stop.wait(delay)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class _DeviceChild:
    """One device process: ``python -m bridge.audio.player --device-child ...``.

    It answers one JSON line (``{"ok": ...}`` or ``{"error": ...}``), then ``{"lost": ...}``
    if its stream dies; a reader thread keeps the answers so nobody waits on the pipe.
    """

    def __init__(self, fd: int, spec: str, width: int, rate: int) -> None:
        argv = [str(fd), spec, str(width), str(rate)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.audio.player", "--device-child", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # JACK prints a line per failed connect while polling
            pass_fds=(fd,),
            text=True,
        )
        self.reply: dict[str, Any] | None = None
        self.ended = threading.Event()  # the stream died or the process is gone
        self.replied = threading.Event()
        threading.Thread(target=self._read, name="audio-child", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if self.reply is None:
                    self.reply = message
                    self.replied.set()
                elif "lost" in message:
                    self.ended.set()
        self.proc.stdout.close()
        if self.reply is None:
            self.reply = {"error": f"audio process exited ({self.proc.wait()})"}
            self.replied.set()
        self.ended.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask for a clean close; kill it when the server is gone and close hangs."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.ended.wait(2)  # the reader closes stdout at EOF
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


class _DeviceLink:
    """The player's side of the device child: the shared ring, the pump, the reopening."""

    def __init__(self, player: Player, spec: str, width: int) -> None:
        self._player = player
        self._spec = spec
        self._width = width
        self._fd = os.memfd_create("promptbridge-audio")
        size = _HDR * 8 + _SHM_FRAMES * width * 4
        os.ftruncate(self._fd, size)
        self._mm = mmap.mmap(self._fd, size)
        self._hdr = np.frombuffer(self._mm, dtype=np.int64, count=_HDR)
        self._data = np.frombuffer(self._mm, dtype=np.float32, offset=_HDR * 8).reshape(
            _SHM_FRAMES, width
        )
        self._scratch = np.zeros((_NONE_BLOCK, width), dtype=np.float32)
        self._fence = _fence_factory()  # used by the pump thread only
        self._child: _DeviceChild | None = None
        self._rate = 0
        self.latency = 0.0  # the device's output latency (s), as its stream reports it
        self._xruns_before = 0  # xruns counted by children that are gone
        self._progress = (0, time.monotonic())  # (frames the child had read, when)
        self.lost = False
        self.losses = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audio-pump", daemon=True)

    @property
    def xruns(self) -> int:
        return self._xruns_before + int(self._hdr[2])

    @property
    def queued(self) -> int:
        """Frames handed to the device child that it has not played yet."""
        return max(0, int(self._hdr[0]) - int(self._hdr[1]))

    def open(self) -> tuple[int, OutputDevice]:
        """Start the first child and wait for it: (rate, device) or DeviceError."""
        child = self._spawn(0)
        if not child.replied.wait(_CHILD_TIMEOUT):
            child.stop(0.1)
            raise DeviceError(f"audio output {self._spec!r} did not open within {_CHILD_TIMEOUT} s")
        reply = child.reply or {}
        if "ok" not in reply:
            child.stop(0.5)
            raise DeviceError(str(reply.get("error", "audio output failed to open")))
        self._child = child
        self._progress = (0, time.monotonic())
        self._rate = int(reply["rate"])
        self.latency = float(reply.get("latency") or 0.0)
        return self._rate, OutputDevice(**reply["ok"])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self._child is not None:
            self._child.stop()
            self._child = None
        # drop the views first: an mmap with live numpy views cannot close
        self._hdr = np.zeros(_HDR, dtype=np.int64)
        self._data = np.zeros((0, self._width), dtype=np.float32)
        with contextlib.suppress(OSError, BufferError):
            self._mm.close()
        os.close(self._fd)

    def _spawn(self, rate: int) -> _DeviceChild:
        self._hdr[:] = 0  # a fresh ring for a fresh child
        return _DeviceChild(self._fd, self._spec, self._width, rate)

    # --- the pump thread ------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            child = self._child
            if child is not None and not child.ended.is_set():
                self._pump()
            else:
                self._without_device(child)

    def _pump(self) -> None:
        """Keep ``_SHM_TARGET`` frames queued for the child; it plays them at device time."""
        written, read = int(self._hdr[0]), int(self._hdr[1])
        self._watch(read)
        if written - read >= _SHM_TARGET:
            time.sleep(0.005)  # the ring holds ~64 ms: a 5 ms nap keeps it topped up
            return
        start = written % _SHM_FRAMES
        n = min(_PUMP_BLOCK, _SHM_FRAMES - start)
        self._player._render(self._data[start : start + n], n)
        self._fence()  # the frames must be visible to the child before the counter that covers them
        self._hdr[0] = written + n  # published after the copy: the child never reads ahead

    def _watch(self, read: int) -> None:
        """A device that stops pulling frames (but never says so) counts as lost too."""
        now = time.monotonic()
        if read != self._progress[0]:
            self._progress = (read, now)
        elif now - self._progress[1] > _STALL_SECONDS and self._child is not None:
            log.warning("audio output %s stopped pulling audio", self._spec)
            self._child.ended.set()

    def _without_device(self, dead: _DeviceChild | None) -> None:
        """The output is gone: play on at real time into nowhere; retry every 0.5 s."""
        if dead is not None:
            self._xruns_before += int(self._hdr[2])
            dead.stop(0.5)
            self._child = None
            self.lost = True
            self.losses += 1
            log.warning(
                "audio output %s lost; playing on without it, reopening when it is back",
                self._spec,
            )
        since = time.monotonic()
        deadline = since
        period = _NONE_BLOCK / self._rate
        trial: _DeviceChild | None = None
        next_try = tried_at = since
        while not self._stop.is_set():
            now = time.monotonic()
            if trial is None and now >= next_try:
                trial, tried_at = self._spawn(self._rate), now
            if trial is not None and (trial.replied.is_set() or now - tried_at > _CHILD_TIMEOUT):
                if "ok" in (trial.reply or {}) and not trial.ended.is_set():
                    self._resume(trial, time.monotonic() - since)
                    return
                trial.stop(0.5)  # failed, or hung while the server is half up: kill it
                trial, next_try = None, time.monotonic() + _REOPEN_EVERY
            self._player._render(self._scratch, _NONE_BLOCK)
            deadline += period
            delay = deadline - time.monotonic()
            if delay < -1.0:
                deadline = time.monotonic()
            elif delay > 0:
                self._stop.wait(delay)
        if trial is not None:  # closing while a reopen was under way
            trial.stop(0.5)

    def _resume(self, child: _DeviceChild, gone: float) -> None:
        self._child = child
        self._progress = (0, time.monotonic())
        self.lost = False
        self._player._env = 0.0  # fade back in: the device starts mid-signal, no click
        log.info("audio output %s reopened after %.1f s", self._spec, gone)


def _device_child(fd: int, spec: str, width: int, rate: int) -> int:
    """The device process: open the output, play the shared ring, report, exit hard.

    It leaves with ``os._exit`` so PortAudio's exit handler never runs against a server
    that vanished (it would hang or abort); the kernel closes its JACK connection.
    """
    try:
        devices = list_outputs()
        dev = (
            _default_output(devices) if spec.lower() == "default" else select_output(spec, devices)
        )
        if width > dev.channels:
            raise DeviceError(
                f"audio output {dev.name!r} has {dev.channels} channels; "
                f"channel {width} does not exist"
            )
        rate = rate or _pick_rate(dev, width)
        stream = _open_child_stream(fd, dev, width, rate)
    except DeviceError as exc:
        _answer({"error": str(exc)})
        os._exit(2)
    _answer({"ok": asdict(dev), "rate": rate, "latency": float(stream.latency)})
    threading.Thread(target=_watch_stream, args=(stream,), daemon=True).start()
    sys.stdin.readline()  # "stop", or EOF when the player's process is gone
    stream.stop()
    stream.close()
    _sd()._terminate()
    os._exit(0)


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _watch_stream(stream: Any) -> None:
    """The stream stops by itself only when its server went away: say so and leave."""
    while stream.active:
        time.sleep(0.05)
    _answer({"lost": "the audio stream stopped"})
    os._exit(3)


def _pick_rate(dev: OutputDevice, width: int) -> int:
    """48 kHz when the device takes it, else its default rate (the player resamples)."""
    sd = _sd()
    try:
        sd.check_output_settings(
            device=dev.index, samplerate=SAMPLE_RATE, channels=width, dtype="float32"
        )
        return SAMPLE_RATE
    except Exception:  # PortAudioError or ValueError: the rate is not supported
        return round(dev.default_rate)


def _fence_factory() -> Callable[[], None]:
    """A full memory barrier between the two processes sharing the ring (one per thread).

    x86 keeps stores in order, but ARM (the Raspberry Pi) may make the counter visible
    before the frames it covers. Python has no fence, but releasing then re-acquiring a
    private lock is a release (sem_post) followed by an acquire (sem_wait): no memory
    access moves across the pair. Held by one thread only, it never blocks (~0.1 µs).
    """
    lock = threading.Lock()
    lock.acquire()

    def fence() -> None:
        lock.release()
        lock.acquire()

    return fence


def _open_child_stream(fd: int, dev: OutputDevice, width: int, rate: int) -> Any:
    """A stream whose callback copies from the shared ring (zeros and an xrun when empty)."""
    sd = _sd()
    mm = mmap.mmap(fd, 0)
    hdr = np.frombuffer(mm, dtype=np.int64, count=_HDR)
    data = np.frombuffer(mm, dtype=np.float32, offset=_HDR * 8).reshape(-1, width)
    cap = data.shape[0]
    _fence = _fence_factory()  # used by the PortAudio thread only

    def callback(out: Any, frames: int, _time: Any, status: Any) -> None:
        written, read = int(hdr[0]), int(hdr[1])
        _fence()  # read the frames only after the counter that published them
        n = min(frames, written - read)
        start = read % cap
        first = min(n, cap - start)
        out[:first] = data[start : start + first]
        out[first:n] = data[: n - first]
        if n < frames:
            out[n:] = 0.0
        if status.output_underflow or (n < frames and written):
            hdr[2] += 1  # the device, or the pump behind it, was late
        hdr[1] = read + n

    try:
        stream = sd.OutputStream(
            device=dev.index, samplerate=rate, channels=width, dtype="float32", callback=callback
        )
        stream.start()
    except Exception as exc:  # PortAudioError: translate at the boundary
        raise DeviceError(f"cannot open audio output {dev}: {exc}") from None
    return stream


if __name__ == "__main__" and sys.argv[1:2] == ["--device-child"]:
    _fd, _spec, _width, _rate = sys.argv[2:6]
    raise SystemExit(_device_child(int(_fd), _spec, int(_width), int(_rate)))
