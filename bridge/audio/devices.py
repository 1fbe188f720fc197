"""Device choice: list the audio outputs, select one by index or name, pick its rate.

The only importer of sounddevice (lazily, in ``sounddevice()``): PortAudio is initialised
in the device child process (``bridge.audio.child``) and by ``promptbridge devices``, never
by the daemon's own process. Does device I/O (queries PortAudio); ``select_output`` is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bridge.core.types import SAMPLE_RATE
from bridge.errors import DeviceError


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


def sounddevice() -> Any:
    """Import sounddevice lazily, translating a missing PortAudio into a DeviceError."""
    try:
        import sounddevice as sd
    except OSError as exc:  # libportaudio2 not installed
        raise DeviceError(f"PortAudio is not available: {exc}") from None
    return sd


def list_outputs() -> list[OutputDevice]:
    """Every device with at least one output channel."""
    sd = sounddevice()
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


def default_output(devices: Sequence[OutputDevice]) -> OutputDevice:
    """PortAudio's default output, else the first one listed."""
    sd = sounddevice()
    index = sd.default.device[1]
    for d in devices:
        if d.index == index:
            return d
    if devices:
        return devices[0]
    raise DeviceError("no audio output device found (use --output none for record-only)")


def choose(spec: str, width: int) -> OutputDevice:
    """The output ``spec`` names (or the default), checked to have ``width`` channels."""
    devices = list_outputs()
    dev = default_output(devices) if spec.lower() == "default" else select_output(spec, devices)
    if width > dev.channels:
        raise DeviceError(
            f"audio output {dev.name!r} has {dev.channels} channels; channel {width} does not exist"
        )
    return dev


def pick_rate(dev: OutputDevice, width: int) -> int:
    """48 kHz when the device takes it, else its default rate (the player resamples)."""
    sd = sounddevice()
    try:
        sd.check_output_settings(
            device=dev.index, samplerate=SAMPLE_RATE, channels=width, dtype="float32"
        )
        return SAMPLE_RATE
    except Exception:  # PortAudioError or ValueError: the rate is not supported
        return round(dev.default_rate)
