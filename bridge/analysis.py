"""Small audio measurements for tests, benchmarks and the render command. Pure numpy, no I/O.

Every function takes samples (``[frames]`` mono or ``[frames, channels]``, any float
dtype) and the sample rate, and returns plain numbers or arrays:

* ``onset_envelope``: spectral flux (how much new energy each hop brings), optionally
  limited to a frequency band.
* ``onset_times`` / ``onset_rate``: peaks of that envelope.
* ``tempo``: beats per minute by autocorrelation of the onset envelope.
* ``chroma`` / ``scale_fraction``: energy of spectral peaks per pitch class.
* ``spectral_centroid``, ``band_energy``, ``db``.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def mono(samples: npt.ArrayLike) -> Array:
    """Average the channels (a 1-D array is returned as float64 unchanged)."""
    x = np.asarray(samples, dtype=np.float64)
    return x.mean(axis=1) if x.ndim == 2 else x


def frames(x: Array, size: int, hop: int) -> Array:
    """Hann-windowed frames ``[count, size]`` of a mono signal (zero-padded to one frame)."""
    if len(x) < size:
        x = np.pad(x, (0, size - len(x)))
    count = 1 + (len(x) - size) // hop
    view = np.lib.stride_tricks.sliding_window_view(x, size)[::hop][:count]
    return view * np.hanning(size)


def power_spectrogram(x: Array, size: int, hop: int) -> Array:
    """``|STFT|²`` with shape ``[frames, size // 2 + 1]``."""
    return np.abs(np.fft.rfft(frames(x, size, hop), axis=1)) ** 2


# Four wide bands: kick/bass, body, snare/keys, hats. Wide bands give steady energy
# estimates for noise (texture, pads) while a hit still jumps by many decibels.
BANDS = (30.0, 200.0, 1500.0, 6000.0, 20000.0)


def band_rises(
    samples: npt.ArrayLike, rate: int, hop: int = 256, lo: float = 0.0, hi: float | None = None
) -> Array:
    """Rise in dB of each band's energy over two hops, ``[frames, bands]`` (falls count 0).

    A band's floor is 20 dB under its mean, so near-silence cannot make huge relative
    jumps. Bands wholly outside ``lo..hi`` Hz are left out.
    """
    size = 8 * hop  # 43 ms at 48 kHz: a bass period fits, so its leakage is steady
    power = power_spectrogram(mono(samples), size, hop)
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    top = hi if hi is not None else rate / 2
    columns = []
    for b_lo, b_hi in itertools.pairwise(BANDS):
        if b_hi <= lo or b_lo >= top:
            continue
        mask = (freqs >= max(b_lo, lo)) & (freqs < min(b_hi, top))
        energy = power[:, mask].sum(axis=1)
        floor = 1e-2 * energy.mean() + 1e-20
        columns.append(10.0 * np.log10(energy + floor))
    if not columns:
        return np.zeros((len(power), 0))
    level = np.stack(columns, axis=1)
    lag = 2
    rise = np.zeros_like(level)
    rise[lag:] = np.maximum(level[lag:] - level[:-lag], 0.0)
    return rise


def onset_envelope(
    samples: npt.ArrayLike,
    rate: int,
    hop: int = 256,
    lo: float = 0.0,
    hi: float | None = None,
) -> Array:
    """Onset strength per hop: the summed dB rises of the bands in ``lo..hi`` Hz."""
    return band_rises(samples, rate, hop, lo, hi).sum(axis=1)


def onset_times(
    samples: npt.ArrayLike,
    rate: int,
    hop: int = 256,
    lo: float = 0.0,
    hi: float | None = None,
    min_gap: float = 0.07,
    threshold_db: float = 6.0,
) -> Array:
    """Times (s) of onsets: peaks of the onset strength of at least ``threshold_db``.

    Peaks closer than ``min_gap`` seconds count once (the stronger one wins).
    """
    env = onset_envelope(samples, rate, hop, lo, hi)
    fps = rate / hop
    gap = max(1, int(min_gap * fps))
    peaks: list[int] = []
    for i in np.flatnonzero(env >= threshold_db):
        if 0 < i < len(env) - 1 and env[i] >= env[i - 1] and env[i] >= env[i + 1]:
            if peaks and i - peaks[-1] < gap:
                if env[i] > env[peaks[-1]]:
                    peaks[-1] = int(i)
                continue
            peaks.append(int(i))
    return np.asarray(peaks, dtype=np.float64) / fps


def onset_rate(samples: npt.ArrayLike, rate: int, **kwargs: float) -> float:
    """Onsets per second over the whole signal (keyword arguments as ``onset_times``)."""
    x = mono(samples)
    seconds = len(x) / rate
    return len(onset_times(x, rate, **kwargs)) / seconds if seconds else 0.0  # type: ignore[arg-type]


def _smooth(x: Array, width: int) -> Array:
    """Moving average of odd ``width`` (edges use the available samples)."""
    kernel = np.ones(width) / width
    num = np.convolve(x, kernel, mode="same")
    den = np.convolve(np.ones_like(x), kernel, mode="same")
    return num / den


def _autocorrelation(env: Array) -> Array:
    """Normalised autocorrelation (lag 0 = 1) of a zero-mean copy of ``env``."""
    x = env - env.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    return ac / ac[0] if ac[0] > 0 else ac


def _peak_near(ac: Array, lag: float, radius: int) -> float:
    """The lag of the largest ``ac`` value within ``radius`` of ``lag``, refined to a fraction."""
    lo = max(1, round(lag) - radius)
    hi = min(len(ac) - 2, round(lag) + radius)
    if hi <= lo:
        return lag
    i = lo + int(np.argmax(ac[lo : hi + 1]))
    a, b, c = ac[i - 1], ac[i], ac[i + 1]
    denom = a - 2 * b + c
    # Parabolic interpolation: the peak between samples, for sub-hop precision.
    return i + (0.5 * (a - c) / denom if denom < 0 else 0.0)


def tempo(samples: npt.ArrayLike, rate: int, lo: float = 60.0, hi: float = 200.0) -> float:
    """Beats per minute in ``lo..hi`` by autocorrelation of the onset envelope.

    The onset strength is kept per band (``BANDS``) and their normalised autocorrelations
    averaged: a kick on the beat and hats on the off-beat then agree on the beat period
    instead of adding up to a fake half-beat period. The strongest period in range wins
    (the faster octave if it is nearly as strong); it is then refined on its furthest
    clean multiple, which divides the error.

    Which *octave* is the beat is ambiguous for any autocorrelation method (a beat also
    repeats every two beats, and 16th hats at 65 bpm pulse at 130): give a range one
    octave wide (``hi = 2 * lo``) when the octave is known, as the tests do.
    """
    hop = 128
    return tempo_of_rises(band_rises(samples, rate, hop), rate / hop, lo, hi)


def tempo_of_rises(rises: Array, fps: float, lo: float = 60.0, hi: float = 200.0) -> float:
    """``tempo`` from band rises already computed (``band_rises``) at ``fps`` hops/s."""
    acs = []
    for env in rises.T:
        env = np.maximum(env - _smooth(env, int(0.5 * fps) | 1), 0.0)
        if env.any():
            acs.append(_autocorrelation(env))
    if not acs:
        return 0.0
    ac = np.mean(acs, axis=0)
    lags = np.arange(int(60 * fps / hi), int(60 * fps / lo) + 2)
    lags = lags[lags < len(ac) // 2]
    if len(lags) == 0:
        return 0.0
    best = int(lags[np.argmax(ac[lags])])
    while best // 2 >= lags[0] and ac[best // 2 - 1 : best // 2 + 2].max() >= 0.85 * ac[best]:
        best //= 2
    period = _peak_near(ac, best, 2)
    k = max(1, min(8, int((len(ac) // 3) / period)))
    period = _peak_near(ac, k * period, 3) / k
    return 60.0 * fps / period


def spectral_centroid(samples: npt.ArrayLike, rate: int, size: int = 2048) -> float:
    """Power-weighted mean frequency (Hz) over the whole signal."""
    power = power_spectrogram(mono(samples), size, size // 2).sum(axis=0)
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    total = power.sum()
    return float((freqs * power).sum() / total) if total > 0 else 0.0


def band_energy(samples: npt.ArrayLike, rate: int, lo: float, hi: float) -> float:
    """Mean power per sample of the ``lo..hi`` Hz band (Parseval over one big FFT)."""
    x = mono(samples)
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    band = (freqs >= lo) & (freqs < hi)
    return float(2.0 * spec[band].sum() / (len(x) ** 2)) if len(x) else 0.0


def db(ratio: float) -> float:
    """A power ratio in decibels (silence is -inf, not an error)."""
    return float(10.0 * np.log10(ratio)) if ratio > 0 else float("-inf")


def chroma(
    samples: npt.ArrayLike, rate: int, lo: float = 80.0, hi: float = 5000.0, size: int = 8192
) -> Array:
    """Energy per pitch class (C..B, sums to 1) of the tonal spectral peaks.

    Only peaks standing 10x above the local median spectrum count, so noise (hats,
    snares, air) does not smear energy over every pitch class; each peak's frequency is
    refined by parabolic interpolation, which matters where semitones are a few Hz apart.
    """
    power = power_spectrogram(mono(samples), size, size // 2)
    freqs = np.asarray(np.fft.rfftfreq(size, 1.0 / rate), dtype=np.float64)
    keep = np.flatnonzero((freqs >= lo) & (freqs <= hi))
    first, last = int(keep[0]), int(keep[-1])
    out = np.zeros(12)
    for spec in power:
        out += _frame_chroma(spec, freqs, first, last)
    total = out.sum()
    return out / total if total > 0 else out


def _frame_chroma(spec: Array, freqs: Array, first: int, last: int) -> Array:
    """Pitch-class energy of the tonal peaks of one power spectrum frame."""
    width = 31
    padded = np.pad(spec, width // 2, mode="edge")
    median = np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)
    k = np.arange(max(first, 2), min(last, len(spec) - 3))
    is_peak = (spec[k] > spec[k - 1]) & (spec[k] >= spec[k + 1]) & (spec[k] > 10 * median[k])
    k = k[is_peak]
    out = np.zeros(12)
    if len(k) == 0:
        return out
    a, b, c = (np.log(spec[k + d] + 1e-30) for d in (-1, 0, 1))
    denom = a - 2 * b + c
    shift = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    freq = freqs[k] + shift * (freqs[1] - freqs[0])
    energy = sum(spec[k + d] for d in (-2, -1, 0, 1, 2))
    pcs = np.round(12 * np.log2(freq / 440.0) + 69).astype(int) % 12
    np.add.at(out, pcs, energy)
    return out


def scale_fraction(samples: npt.ArrayLike, rate: int, pitch_classes: set[int]) -> float:
    """The share of tonal energy that falls on ``pitch_classes`` (0 = C .. 11 = B)."""
    c = chroma(samples, rate)
    return float(sum(c[p] for p in pitch_classes))
