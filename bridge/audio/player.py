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

Threads: the PortAudio callback (or the clock thread) only copies from the ring buffer,
applies the gain envelope in preallocated arrays and copies the result to the record
ring; it never blocks, logs or locks. The loop side (``feed``, ``wants_more``, ``tick``)
adapts the target level (``bridge.audio.jitter``) and logs underruns (rate-limited). A
writer thread drains the record ring into the ``WavRecorder``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
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
        self._stream: Any = None
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
        devices = list_outputs()
        dev = (
            _default_output(devices)
            if str(self._output).lower() == "default"
            else select_output(self._output, devices)
        )
        width = max(self._map)
        if width > dev.channels:
            raise DeviceError(
                f"audio output {dev.name!r} has {dev.channels} channels; "
                f"channel {width} does not exist"
            )
        self._device = dev
        self.rate = self._pick_rate(dev, width)
        self._allocate(width)
        self._open_stream(dev, width)

    def _pick_rate(self, dev: OutputDevice, width: int) -> int:
        """48 kHz when the device takes it, else its default rate (we resample)."""
        sd = _sd()
        try:
            sd.check_output_settings(
                device=dev.index, samplerate=SAMPLE_RATE, channels=width, dtype="float32"
            )
            return SAMPLE_RATE
        except Exception:  # PortAudioError or ValueError: the rate is not supported
            return round(dev.default_rate)

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

    def _open_stream(self, dev: OutputDevice, width: int) -> None:
        sd = _sd()

        def callback(outdata: Any, frames: int, _time: Any, status: Any) -> None:
            if status.output_underflow:
                self._xruns += 1
            self._render(outdata, frames)

        try:
            self._stream = sd.OutputStream(
                device=dev.index,
                samplerate=self.rate,
                channels=width,
                dtype="float32",
                callback=callback,
            )
            self._stream.start()
        except Exception as exc:  # PortAudioError: translate at the boundary
            raise DeviceError(f"cannot open audio output {dev}: {exc}") from None
        log.info("audio out: %s at %d Hz, outputs %s", dev.name, self.rate, self._map)

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
            device_xruns=self._xruns,
            played_seconds=round(self._played / self.rate, 3),
            recording=None if self._recorder is None else str(self._recorder.path),
            record_error=self.record_error,
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
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
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
