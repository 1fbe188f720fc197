"""Numpy DSP of the embedded engine: oscillators, drum sounds, texture, reverb, limiter. No I/O.

Everything is vectorised so the engine runs many times faster than real time on one
small core:

* Pitched voices read band-limited *wavetables*: one cycle built by inverse FFT from
  harmonic amplitudes, with the tone filter (brightness) applied to the harmonics, so
  there is no aliasing and no recursive filter to run per sample. Tables are cached.
* Drum sounds are synthesised once per kit setting and cached; a hit is a scaled add.
* The texture is a *periodic* noise loop (shaped in the frequency domain, so it loops
  without a seam) read at the absolute stream position.
* The reverb is a uniformly partitioned FFT convolution (cost proportional to the audio,
  whatever the block length); the limiter rides the gain per block and ends in a soft
  knee, so no sample ever reaches full scale.

State that must survive chunk boundaries (reverb tail, limiter gain) lives in small
classes; the rest are pure functions of their arguments.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from bridge.core.types import SAMPLE_RATE

F32 = npt.NDArray[np.float32]
SR = SAMPLE_RATE
TABLE = 4096
NYQUIST_GUARD = 0.45 * SR  # harmonics above this are left out (anti-aliasing)
_NOISE_SEED = 0x5EED  # drum and texture noise are fixed: the session seed shapes the music


def midi_hz(note: float) -> float:
    return float(440.0 * 2.0 ** ((note - 69.0) / 12.0))


def _q(value: float, steps: int) -> int:
    """Quantise 0..1 to an int bucket (keeps the caches finite)."""
    return round(min(max(value, 0.0), 1.0) * steps)


# --- wavetables ------------------------------------------------------------------------
@lru_cache(maxsize=256)  # 16 KB each: at most 4 MB
def wavetable(shape_q: int, note: int, cutoff_q: int, formant: int = -1) -> F32:
    """One band-limited cycle for ``note`` (midi), closed with a guard sample.

    ``shape_q`` 0..8: harmonic rolloff from soft (1/k³) to saw (1/k). ``cutoff_q`` is the
    tone filter in sixth-octaves above 40 Hz (a 12 dB/oct low-pass on the harmonics).
    ``formant`` >= 0 picks a vowel for the vocalisation voice.
    """
    f0 = midi_hz(note)
    count = max(1, min(TABLE // 2 - 1, int(NYQUIST_GUARD / f0)))
    k = np.arange(1, count + 1, dtype=np.float64)
    power = 3.0 - 2.0 * shape_q / 8.0
    amps = 1.0 / k**power
    cutoff = 40.0 * 2.0 ** (cutoff_q / 6.0)
    amps /= np.sqrt(1.0 + (k * f0 / cutoff) ** 4)
    if formant >= 0:
        amps *= _vowel_gain(k * f0, formant)
    spec = np.zeros(TABLE // 2 + 1, dtype=np.complex128)
    spec[1 : count + 1] = -1j * amps  # sine phase: every table starts at zero
    cycle = np.fft.irfft(spec, TABLE)
    cycle /= max(float(np.abs(cycle).max()), 1e-9)
    return np.append(cycle, cycle[0]).astype(np.float32)


_VOWELS = ((730.0, 1090.0, 2440.0), (570.0, 840.0, 2410.0), (300.0, 870.0, 2240.0))


def _vowel_gain(freqs: npt.NDArray[np.float64], vowel: int) -> npt.NDArray[np.float64]:
    """Three formant resonances ("ah", "oh", "oo") as gains on harmonic frequencies."""
    gain = np.full_like(freqs, 0.05)
    for i, centre in enumerate(_VOWELS[vowel % len(_VOWELS)]):
        gain += (1.0 / (i + 1)) / (1.0 + ((freqs - centre) / (0.12 * centre)) ** 2)
    return gain


def cutoff_bucket(hz: float) -> int:
    """The ``cutoff_q`` of a filter frequency (sixth-octave steps above 40 Hz)."""
    return round(6.0 * np.log2(max(hz, 40.0) / 40.0))


_RAMP = np.arange(int(8 * SR), dtype=np.float64)


def oscillator(table: F32, hz: float, frames: int) -> F32:
    """``frames`` samples of the table at ``hz``.

    Nearest-sample lookup in a 4096-point table: the error is far below the mix (and
    three times cheaper than interpolating, which matters on a Pi).
    """
    ramp = _RAMP[:frames] if frames <= len(_RAMP) else np.arange(frames, dtype=np.float64)
    idx = (ramp * (hz * TABLE / SR) + 0.5).astype(np.int64) & (TABLE - 1)
    out: F32 = table[idx]
    return out


def envelope(frames: int, attack: float, decay: float, sustain: float, gate: int) -> F32:
    """The amplitude envelope of a note (see ``_envelope``); short ones come from a cache."""
    if frames <= SR // 2:  # drums, bass and lead notes repeat
        return _cached_envelope(frames, attack, decay, sustain, gate)
    # a bar's chord starts its pad notes together, all of one length: computed once, not
    # per note, so the render at a bar line does not spike (the low preset's margin)
    return _cached_long_envelope(frames, attack, decay, sustain, gate)


@lru_cache(maxsize=64)  # at most 96 KB each: 6 MB
def _cached_envelope(frames: int, attack: float, decay: float, sustain: float, gate: int) -> F32:
    return _read_only(_envelope(frames, attack, decay, sustain, gate))


@lru_cache(maxsize=4)  # ~0.5-1.2 MB each (up to 6 s): under 5 MB
def _cached_long_envelope(
    frames: int, attack: float, decay: float, sustain: float, gate: int
) -> F32:
    return _read_only(_envelope(frames, attack, decay, sustain, gate))


def _read_only(array: F32) -> F32:
    """A cached array is shared by every note that uses it: nobody may write to it."""
    array.flags.writeable = False
    return array


def _envelope(frames: int, attack: float, decay: float, sustain: float, gate: int) -> F32:
    """Attack (s), exponential decay (s) to ``sustain``, release after ``gate`` frames.

    The release falls over the remaining frames (the caller sizes the note to include it),
    so every note ends at exactly zero: no clicks.
    """
    t = np.arange(frames, dtype=np.float32) / SR
    a = max(attack, 1e-3)
    env = np.minimum(t / a, 1.0)
    env *= sustain + (1.0 - sustain) * np.exp(-np.maximum(t - a, 0.0) / max(decay, 1e-3))
    rel = frames - gate
    if rel > 0:
        env[gate:] *= np.linspace(1.0, 0.0, rel, dtype=np.float32) ** 2
    out: F32 = env.astype(np.float32)
    return out


# --- drums -----------------------------------------------------------------------------
def _shaped_noise(frames: int, lo: float, hi: float, seed: int) -> F32:
    """White noise band-passed in the frequency domain (periodic over ``frames``)."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(frames))
    f = np.fft.rfftfreq(frames, 1.0 / SR)
    gain = 1.0 / np.sqrt(1.0 + (lo / np.maximum(f, 1.0)) ** 4)
    gain /= np.sqrt(1.0 + (f / hi) ** 4)
    out = np.fft.irfft(spec * gain, frames)
    return (out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)


@lru_cache(maxsize=32)  # ~86 KB each
def kick(note: int, decay_q: int, bright_q: int, thin: bool = False) -> F32:
    """A pitch-swept sine tuned to ``note`` with a click whose tone follows brightness.

    ``thin`` (muteBass) moves the body two octaves up and shortens it: the kick keeps
    its punch but leaves the sub-bass region empty, like a mix with no bass.
    """
    frames = int(0.45 * SR)
    t = np.arange(frames) / SR
    end = midi_hz(note + (24 if thin else 0))
    freq = end + (end * 2.0) * np.exp(-t / 0.015)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    decay = 0.04 if thin else 0.1 + 0.2 * decay_q / 8.0
    body = np.sin(phase) * np.exp(-t / decay)
    click = _shaped_noise(frames, 1500.0, 2000.0 + 800.0 * bright_q, _NOISE_SEED + 1)
    body += 0.35 * click * np.exp(-t / 0.004)
    fade = np.minimum(1.0, (frames - np.arange(frames)) / 256.0)
    return (body * fade).astype(np.float32)


@lru_cache(maxsize=32)
def snare(note: int, acoustic_q: int, bright_q: int) -> F32:
    """Snare (acoustic) blended with a clap (electronic); noise band follows brightness."""
    frames = int(0.35 * SR)
    t = np.arange(frames) / SR
    hi = 3000.0 + 1200.0 * bright_q
    noise = _shaped_noise(frames, 900.0, hi, _NOISE_SEED + 2)
    ac = acoustic_q / 8.0
    tone = np.sin(2 * np.pi * midi_hz(note) * t) * np.exp(-t / 0.05)
    drum = 0.55 * tone + noise * np.exp(-t / 0.07)
    bursts = sum(np.exp(-np.maximum(t - d, 0) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.022))
    clap = noise * (0.6 * bursts + 0.5 * np.exp(-np.maximum(t - 0.022, 0) / 0.09) * (t >= 0.022))
    out = ac * drum + (1.0 - ac) * clap
    return (out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)


@lru_cache(maxsize=18)
def hat(open_: bool, bright_q: int) -> F32:
    """High-passed noise; brightness lifts the band, open hats ring longer."""
    frames = int((0.4 if open_ else 0.09) * SR)
    t = np.arange(frames) / SR
    lo = 4000.0 + 600.0 * bright_q
    noise = _shaped_noise(frames, lo, 9000.0 + 1500.0 * bright_q, _NOISE_SEED + 3 + open_)
    env = np.exp(-t / (0.12 if open_ else 0.022))
    env[-128:] *= np.linspace(1, 0, 128)
    return (noise * env).astype(np.float32)


@lru_cache(maxsize=32)
def perc(note: int, acoustic_q: int) -> F32:
    """A tuned conga/tom (acoustic) or a short shaker tick (electronic)."""
    frames = int(0.3 * SR)
    t = np.arange(frames) / SR
    hz = midi_hz(note)
    tom = np.sin(2 * np.pi * np.cumsum(hz * (1 + 0.5 * np.exp(-t / 0.01))) / SR)
    tom *= np.exp(-t / 0.09)
    shaker = _shaped_noise(frames, 5000.0, 12000.0, _NOISE_SEED + 5) * np.exp(-t / 0.02)
    ac = acoustic_q / 8.0
    out = ac * tom + (1 - ac) * (0.5 * tom + 0.6 * shaker)
    out[-128:] *= np.linspace(1, 0, 128)
    return out.astype(np.float32)


# --- texture ---------------------------------------------------------------------------
TEXTURE_FRAMES = 1 << 16  # ~1.4 s loop, 0.5 MB per colour


@lru_cache(maxsize=9)
def texture_loop(bright_q: int) -> F32:
    """A seamless stereo noise loop ``[TEXTURE_FRAMES, 2]``: air whose colour follows brightness.

    Steady on purpose: the engine adds a slow swell tied to the stream position, so the
    loop length is never heard as a rhythm.
    """
    hi = 600.0 * 2.0 ** (bright_q / 2.0)
    left = _shaped_noise(TEXTURE_FRAMES, 150.0, hi, _NOISE_SEED + 7)
    right = _shaped_noise(TEXTURE_FRAMES, 150.0, hi, _NOISE_SEED + 8)
    return np.stack([left, right], axis=1)


def texture(bright_q: int, start: int, frames: int) -> F32:
    """``frames`` of the loop from absolute stream position ``start``."""
    loop = texture_loop(bright_q)
    first = start % TEXTURE_FRAMES
    if first + frames <= TEXTURE_FRAMES:
        return loop[first : first + frames]
    idx = (first + np.arange(frames)) % TEXTURE_FRAMES
    out: F32 = loop[idx]
    return out


# --- effects ---------------------------------------------------------------------------
IR_FRAMES = int(0.7 * SR)


@lru_cache(maxsize=1)
def _impulse() -> npt.NDArray[np.float64]:
    """A decorrelated stereo reverb tail ``[IR_FRAMES, 2]`` (exponential noise, darker late)."""
    rng = np.random.default_rng(_NOISE_SEED + 9)
    t = np.arange(IR_FRAMES) / SR
    ir = rng.standard_normal((IR_FRAMES, 2)) * np.exp(-t / 0.22)[:, None]
    # Darken: a gentle low-pass in the frequency domain, since real rooms absorb highs.
    spec = np.fft.rfft(ir, axis=0)
    f = np.fft.rfftfreq(IR_FRAMES, 1.0 / SR)
    spec /= np.sqrt(1.0 + (f / 4000.0) ** 2)[:, None]
    ir = np.fft.irfft(spec, IR_FRAMES, axis=0)
    ir[:240] *= np.linspace(0, 1, 240)[:, None]  # pre-delay softness
    return ir / np.sqrt((ir**2).sum() / 2)


REVERB_PART = 2048  # frames per partition: also the reverb's pre-delay (43 ms, like a plate's)


@lru_cache(maxsize=1)
def _partitions() -> npt.NDArray[np.complex64]:
    """The impulse cut into ``REVERB_PART``-frame pieces, each as a ``2 * PART`` spectrum."""
    count = -(-IR_FRAMES // REVERB_PART)
    ir = np.zeros((count * REVERB_PART, 2))
    ir[:IR_FRAMES] = _impulse()
    pieces = ir.reshape(count, REVERB_PART, 2)
    spectra = np.fft.rfft(pieces, 2 * REVERB_PART, axis=1).astype(np.complex64)
    # [bin, partition, channel]: one small matrix product per bin is the fastest sum here
    return np.ascontiguousarray(spectra.transpose(1, 0, 2))


class Reverb:
    """Uniformly partitioned FFT convolution of a mono send with the stereo impulse.

    The send is cut into fixed ``REVERB_PART``-frame partitions on the stream's own grid
    (overlap-save, a delay line of partition spectra), so the wet signal is the same
    whatever lengths ``process`` is called with, and each call costs in proportion to its
    length: the engine can render short blocks. The price is a pre-delay of one
    partition, which a room has anyway.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        bins, count, _ = _partitions().shape
        # The delay line of input spectra, stored twice over so that the newest ``count``
        # are always one contiguous window, newest first: no shifting per partition.
        self._fdl = np.zeros((bins, 1, 2 * count), dtype=np.complex64)
        self._head = 0
        self._prev = np.zeros(REVERB_PART, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)  # send not yet a whole partition
        self._ready = np.zeros((REVERB_PART, 2), dtype=np.float32)  # the pre-delay

    def process(self, send: F32) -> F32:
        n = len(send)
        pending = np.concatenate([self._pending, send.astype(np.float32)])
        parts = [self._ready]
        whole = len(pending) // REVERB_PART * REVERB_PART
        for start in range(0, whole, REVERB_PART):
            parts.append(self._partition(pending[start : start + REVERB_PART]))
        self._pending = pending[whole:]
        ready = np.concatenate(parts) if len(parts) > 1 else self._ready
        out: F32 = ready[:n]
        self._ready = ready[n:]
        return out

    def _partition(self, block: F32) -> F32:
        """The wet output one partition later: the delay line times the impulse pieces."""
        spec = np.fft.rfft(np.concatenate([self._prev, block]))
        self._prev = block
        h = _partitions()
        count = h.shape[1]
        self._head = (self._head - 1) % count
        self._fdl[:, 0, self._head] = self._fdl[:, 0, self._head + count] = spec
        acc = np.matmul(self._fdl[:, :, self._head : self._head + count], h)[:, 0, :]
        wet: F32 = np.fft.irfft(acc, 2 * REVERB_PART, axis=0)[REVERB_PART:].astype(np.float32)
        return wet


class Limiter:
    """Rides the gain down per block when peaks exceed ``threshold``, then a soft knee.

    The gain moves linearly within each block (no zipper noise) and recovers slowly; the
    knee above ``threshold`` bends any remaining peak smoothly below full scale, so the
    output never clips.
    """

    BLOCK = 512

    def __init__(self, threshold: float = 0.8, release_s: float = 0.4) -> None:
        self.threshold = threshold
        self.gain = 1.0
        self.release = self.BLOCK / (release_s * SR)

    def reset(self) -> None:
        self.gain = 1.0

    def process(self, x: F32) -> F32:
        n = len(x)
        if n == 0:
            return x
        starts = np.arange(0, n, self.BLOCK)
        peaks = np.maximum.reduceat(np.abs(x).max(axis=1), starts)
        gains = np.empty(len(starts) + 1)
        gains[0] = g = self.gain
        for i, p in enumerate(peaks):
            target = min(1.0, self.threshold / p) if p > 0 else 1.0
            g = min(target, g + self.release)
            gains[i + 1] = g
        self.gain = g
        ends = np.append(starts[1:], n)
        curve = np.interp(np.arange(n), np.concatenate(([0], ends - 1)), gains)
        y = x * curve[:, None].astype(np.float32)
        return soft_knee(y, self.threshold)


def soft_knee(y: F32, threshold: float) -> F32:
    """Identity below ``threshold``; above it, a tanh curve that approaches (never reaches) 1."""
    a = np.abs(y)
    over = a > threshold
    if over.any():
        room = 1.0 - threshold
        bent = threshold + room * np.tanh((a[over] - threshold) / room) * 0.999
        y = y.copy()
        y[over] = np.sign(y[over]) * bent
    return y
