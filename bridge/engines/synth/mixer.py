"""The embedded engine's mixing desk: buses on a canvas, sends, reverb, drive, limiter. No I/O.

Notes are written whole onto a *canvas* (they ring past the block they start in) on one
of three buses: drums, bass, music (pads, lead; the texture joins it when mixed). Each
render block, ``Desk.mix`` reads the block's part of the canvas and mixes it with the
block's ``Levels``: bus gains (the mutes), reverb send, drive, texture level and colour.

Every level *ramps* from the previous block's value to the new one over the block's first
``RAMP_S`` (10 ms: no click), then holds, so a mute cuts even a ringing note within 10 ms
of its beat and a control moves without zipper noise. The ramps sit on the stream's own
block grid, so the audio does not depend on how it is cut into chunks.

The *tilt* is brightness heard at once: notes take their brightness when they start (a
pad rings on in its old tone), so the whole mix also passes a tilt ``x + g * (x - lp(x))``
whose ``g`` follows how far brightness is from the style's own (``tilt_of``): 0 there (the
engine's sound is unchanged), up to a +14 dB shelf above ~4 kHz at 1.0, down to the
low-pass at 0.0.
``lp`` is a binomial smoother (``TILT_TAPS`` taps, linear phase, response cos^36(w/2):
-6 dB at 3 kHz, no ripple), so the shelf is smooth and costs one short convolution. It
always runs, so its delay (``TILT_DELAY`` frames, 0.4 ms) never changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bridge.engines.synth import voices
from bridge.engines.synth.voices import F32, SR

CANVAS_S = 9.0  # longest note (6 s + release) + SHIFT_S + one block, with room to spare
SHIFT_S = 2.0  # move the canvas back once the head passes this point
MASTER = 0.7
BUSES = ("drums", "bass", "music")
BUS_OF = {"bass": 1, "pad": 2, "lead": 2}  # every other layer is a drum
RAMP_S = 0.01  # every level change takes this long (>= 10 ms: no click)
TILT_UP = 4.0  # g at full brightness above the style's: a +14 dB shelf
TILT_DOWN = 0.9  # -g at full brightness below it: the low-pass, with a tenth of the air
TILT_TAPS = 37
TILT_DELAY = TILT_TAPS // 2
# binomial coefficients C(36, i) / 2**36: the smoothest low-pass of its length
_TILT_LP = np.array([math.comb(TILT_TAPS - 1, i) for i in range(TILT_TAPS)], dtype=np.float64)
_TILT_LP = (_TILT_LP / _TILT_LP.sum()).astype(np.float32)
DRIVE_FLOOR = 0.05  # below this the style's drive is not applied (saves the tanh)
SWELL_S = 8.0  # period of the texture's slow swell


def bus_of(layer: str) -> int:
    return BUS_OF.get(layer, 0)


@dataclass(frozen=True, slots=True)
class Levels:
    """The desk's settings for one block; it ramps to them from the previous block's."""

    buses: tuple[float, float, float] = (1.0, 1.0, 1.0)  # drums, bass, music (0 = muted)
    wet: float = 0.0  # reverb return gain
    drive: float = 0.0  # saturation blend
    texture: float = 0.0  # texture level
    colour: int = 0  # texture colour (quantised brightness)
    tilt: float = 0.0  # brightness against the style's, -1..1 (0: the tilt is flat)


def tilt_of(brightness: float, own: float) -> float:
    """How far ``brightness`` is from the style's ``own`` towards 1 (> 0) or 0 (< 0):
    brightness 1.0 is the brightest tilt and 0.0 the darkest, whatever the style."""
    if brightness >= own:
        return (brightness - own) / max(1.0 - own, 1e-6)
    return (brightness - own) / max(own, 1e-6)


def tilt_gain(tilt: float) -> float:
    """The tilt's ``g`` for a brightness offset: ``-TILT_DOWN`` .. ``TILT_UP``."""
    t = min(1.0, max(-1.0, tilt))
    return (TILT_UP if t > 0 else TILT_DOWN) * t


class Desk:
    """The canvas of the three buses and their sends, and the per-block mix."""

    def __init__(self) -> None:
        frames = int(CANVAS_S * SR)
        # one contiguous canvas per bus: a note is one contiguous add
        self._canvas = np.zeros((len(BUSES), frames, 2), dtype=np.float32)
        self._send = np.zeros((len(BUSES), frames), dtype=np.float32)
        self._reverb = voices.Reverb()
        self._limiter = voices.Limiter()
        self.reset()

    def reset(self) -> None:
        """Silence: no tails, no reverb, the limiter at rest, the stream at frame 0."""
        self._canvas[:] = 0.0
        self._send[:] = 0.0
        self._reverb.reset()
        self._limiter.reset()
        self._tilt_in = np.zeros((TILT_TAPS - 1, 2), dtype=np.float32)  # the tilt's history
        self._origin = 0  # absolute frame of canvas index 0
        self._extent = 0  # canvas frames (from index 0) that may hold sound
        self._last: Levels | None = None  # the previous block's levels (None: no ramp)

    def add(self, layer: str, frame: int, sound: F32, send: float) -> None:
        """Write a note's buffer at absolute ``frame``, with ``send`` of it to the reverb."""
        offset = frame - self._origin
        end = min(offset + len(sound), self._canvas.shape[1])
        bus = bus_of(layer)
        self._canvas[bus, offset:end] += sound[: end - offset]
        if send:
            self._send[bus, offset:end] += sound[: end - offset, 0] * np.float32(send)
        self._extent = max(self._extent, end)

    def mix(self, position: int, frames: int, levels: Levels) -> F32:
        """The finished stereo block at absolute ``position`` (then the canvas moves on)."""
        head = position - self._origin
        last = self._last or levels
        ramp = np.arange(1, frames + 1, dtype=np.float32)
        ramp /= np.float32(min(frames, round(RAMP_S * SR)))
        np.minimum(ramp, 1.0, out=ramp)

        def glide(a: float, b: float) -> F32:
            return np.float32(a) + np.float32(b - a) * ramp

        span = slice(head, head + frames)
        dry = np.zeros((frames, 2), dtype=np.float32)
        send = np.zeros(frames, dtype=np.float32)
        for bus, (a, b) in enumerate(zip(last.buses, levels.buses, strict=True)):
            if a == b == 0.0:
                continue  # muted all block long
            gain = glide(a, b)
            dry += self._canvas[bus, span] * gain[:, None]
            send += self._send[bus, span] * gain
        air = self._texture(position, frames, last, levels, ramp)
        if air is not None:
            music = glide(last.buses[2], levels.buses[2])
            dry += air * (glide(last.texture, levels.texture) * music)[:, None]
        wet = self._reverb.process(send)
        mix = (dry + wet * glide(last.wet, levels.wet)[:, None]) * np.float32(MASTER)
        if max(last.drive, levels.drive) > DRIVE_FLOOR:  # the style's grit: a tanh blend
            shaped = np.tanh(mix * np.float32(2.0)) * np.float32(0.5)
            mix = mix + glide(last.drive, levels.drive)[:, None] * (shaped - mix)
        mix = self._tilt(mix, glide(tilt_gain(last.tilt), tilt_gain(levels.tilt)))
        self._last = levels
        out = self._limiter.process(mix.astype(np.float32))
        self._shift(position + frames)
        return out

    def _tilt(self, mix: F32, gain: F32) -> F32:
        """``x[n-d] + g * (x[n-d] - lp(x)[n])``: the brightness tilt, ``TILT_DELAY`` late."""
        x = np.concatenate([self._tilt_in, mix])
        self._tilt_in = x[len(mix) :].copy()
        mid = x[TILT_DELAY : TILT_DELAY + len(mix)]
        if not gain.any():
            return mid.copy()  # flat: the delay alone (the usual case: no convolution)
        high = np.empty_like(mid)
        for ch in range(2):
            high[:, ch] = mid[:, ch] - np.convolve(x[:, ch], _TILT_LP, mode="valid")
        out: F32 = mid + high * gain[:, None]
        return out

    def _texture(
        self, position: int, frames: int, last: Levels, levels: Levels, ramp: F32
    ) -> F32 | None:
        """The air bed under its slow swell, crossfaded when its colour changes."""
        if last.texture <= 0 and levels.texture <= 0:
            return None
        air = voices.texture(levels.colour, position, frames)
        if last.colour != levels.colour:  # a new colour fades in across the block
            old = voices.texture(last.colour, position, frames)
            air = old + (air - old) * ramp[:, None]
        phase = (position + np.arange(frames)) * (2 * np.pi / (SWELL_S * SR))
        swell = (0.7 + 0.3 * np.sin(phase)).astype(np.float32)
        out: F32 = air * swell[:, None]
        return out

    def _shift(self, position: int) -> None:
        """Slide the canvas back so the head stays near the start (tails move with it)."""
        head = position - self._origin
        if head < SHIFT_S * SR:
            return
        used = max(self._extent, head)  # only the written part needs moving
        self._canvas[:, : used - head] = self._canvas[:, head:used]
        self._canvas[:, used - head : used] = 0.0
        self._send[:, : used - head] = self._send[:, head:used]
        self._send[:, used - head : used] = 0.0
        self._extent = used - head
        self._origin = position
