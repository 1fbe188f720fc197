"""The instruments of the embedded engine: one stereo buffer per note event. Pure numpy, no I/O.

Each function turns a ``patterns.Event`` and the current ``Tone`` (the per-beat sound
settings) into a float32 ``[frames, 2]`` buffer that already includes the note's
release, so notes never end in a click. Levels are set here so the mix has headroom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.engines.synth import voices
from bridge.engines.synth.patterns import Event
from bridge.engines.synth.voices import F32, SR

MAX_NOTE_S = 6.0


@dataclass(frozen=True, slots=True)
class Tone:
    """The sound settings of one beat: brightness (resolved), style timbre, levels, tempo."""

    brightness: float
    bass_tone: float
    pad_tone: float
    lead_tone: float
    acoustic: float
    frames_per_beat: float
    drums: float
    bass: float
    pads: float
    lead: float
    texture: float
    vocal: bool = False
    sub: bool = True  # the kick keeps its sub (False while the bass is muted)


# Reverb send per layer (the rest stays dry).
SENDS = {"snare": 0.25, "perc": 0.3, "pad": 0.45, "lead": 0.55, "open_hat": 0.1}
DRUM_GAIN = {"kick": 0.55, "snare": 0.4, "hat": 0.45, "open_hat": 0.3, "perc": 0.3}
DRUM_PAN = {"kick": 0.0, "snare": 0.0, "hat": 0.3, "open_hat": -0.25, "perc": -0.35}


def _pan(mono: F32, pan: float) -> F32:
    """Constant-power-ish pan: -1 left .. 1 right."""
    left = np.float32(np.cos((pan + 1) * np.pi / 4) * np.sqrt(2))
    right = np.float32(np.sin((pan + 1) * np.pi / 4) * np.sqrt(2))
    return np.stack([mono * left, mono * right], axis=1)


def drum(event: Event, tone: Tone) -> F32:
    """A cached drum sample scaled by velocity; hats and snares follow brightness."""
    b = tone.brightness
    bright_q = voices._q(b, 8)
    ac_q = voices._q(tone.acoustic, 8)
    if event.layer == "kick":
        sample = voices.kick(event.pitch, ac_q, bright_q, not tone.sub)
    elif event.layer == "snare":
        sample = voices.snare(event.pitch, ac_q, bright_q)
    elif event.layer in ("hat", "open_hat"):
        sample = voices.hat(event.layer == "open_hat", bright_q) * np.float32(0.3 + 1.4 * b)
    else:
        sample = voices.perc(event.pitch, ac_q)
    gain = DRUM_GAIN[event.layer] * event.velocity * tone.drums
    pan = DRUM_PAN[event.layer] * (1 if int(event.start * 4) % 2 else -1)
    return _pan(sample * np.float32(gain), pan)


def _note_frames(event: Event, tone: Tone, release: float) -> tuple[int, int]:
    """(gate, total) frames of a note: its length in beats plus the release tail."""
    gate = int(min(event.length * tone.frames_per_beat, MAX_NOTE_S * SR))
    return gate, gate + int(release * SR)


def bass(event: Event, tone: Tone) -> F32:
    """A plucked wavetable bass: a bright attack falling to the tone-filtered body."""
    gate, frames = _note_frames(event, tone, 0.04)
    hz = voices.midi_hz(event.pitch)
    shape = voices._q(tone.bass_tone, 8)
    cut = 110.0 * 2.0 ** (4.5 * tone.brightness)
    body = voices.oscillator(
        voices.wavetable(shape, event.pitch, voices.cutoff_bucket(cut)), hz, frames
    )
    edge = voices.oscillator(
        voices.wavetable(shape, event.pitch, voices.cutoff_bucket(cut * 3)), hz, frames
    )
    t = np.arange(frames, dtype=np.float32) / SR
    pluck = np.exp(-t / 0.06)
    sound = body + pluck * (edge - body)
    env = voices.envelope(frames, 0.004, 0.35, 0.75, gate)
    gain = np.float32(0.24 * event.velocity * tone.bass)
    return _pan(sound * env * gain, 0.0)


def pad(event: Event, tone: Tone) -> F32:
    """Two detuned oscillators, one per side (stereo width), slow attack and release."""
    gate, frames = _note_frames(event, tone, 0.35)
    shape = voices._q(tone.pad_tone, 8)
    cut = 220.0 * 2.0 ** (5.5 * tone.brightness)
    table = voices.wavetable(shape, event.pitch, voices.cutoff_bucket(cut))
    hz = voices.midi_hz(event.pitch)
    detune = 2.0 ** (7.0 / 1200.0)
    env = voices.envelope(frames, 0.05 + 0.25 * (1 - tone.pad_tone), 1.5, 0.8, gate)
    gain = np.float32(0.15 * event.velocity * tone.pads)
    left = voices.oscillator(table, hz / detune, frames) * env * gain
    right = voices.oscillator(table, hz * detune, frames) * env * gain
    return np.stack([left, right], axis=1)


def lead(event: Event, tone: Tone) -> F32:
    """A plucked lead (or, in VOCALIZATION mode, a sung vowel) panned note by note."""
    if tone.vocal:
        gate, frames = _note_frames(event, tone, 0.12)
        table = voices.wavetable(4, event.pitch, 60, formant=event.pitch % 3)
        env = voices.envelope(frames, 0.04, 0.6, 0.8, gate)
    else:
        gate, frames = _note_frames(event, tone, 0.08)
        cut = 400.0 * 2.0 ** (4.5 * tone.brightness)
        shape = voices._q(tone.lead_tone, 8)
        table = voices.wavetable(shape, event.pitch, voices.cutoff_bucket(cut))
        env = voices.envelope(frames, 0.004, 0.22, 0.3, gate)
    sound = voices.oscillator(table, voices.midi_hz(event.pitch), frames) * env
    pan = 0.3 if event.pitch % 2 else -0.3
    return _pan(sound * np.float32(0.26 * event.velocity * tone.lead), pan)


def render(event: Event, tone: Tone) -> F32:
    """The stereo buffer of any event."""
    if event.layer == "bass":
        return bass(event, tone)
    if event.layer == "pad":
        return pad(event, tone)
    if event.layer == "lead":
        return lead(event, tone)
    return drum(event, tone)
