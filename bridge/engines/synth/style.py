"""Style parameters of the embedded engine, and blending weighted prompts into one style. No I/O.

A *style* is a point in a small parameter space: scalars (tempo preference, swing,
brightness, layer levels, ...) and distributions over categories (drum pattern family,
bass pattern, chord progression, key). Prompt text is read into a *partial* style (only
the fields the words speak about, each with a mass), and the weighted prompts are
averaged field by field, like the model's weighted-average style embedding. Fields no
prompt speaks about keep the neutral default.

``guidance`` says how closely the result follows the prompts: 4 (the model's default)
takes the blend as is, lower values pull every field back toward neutral, higher values
push past the blend (and sharpen the distributions).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bridge.core.types import WeightedPrompt
from bridge.engines.synth.lexicon import LEXICON, STOPWORDS, Entry

# name -> (neutral default, lo, hi)
SCALARS: dict[str, tuple[float, float, float]] = {
    "tempo": (120.0, 60.0, 200.0),  # preferred bpm when config.bpm is auto
    "swing": (0.04, 0.0, 0.6),  # delay of off-beat 16ths, fraction of a 16th
    "minor": (0.5, 0.0, 1.0),  # 1 = minor tonic of the scale pair, 0 = major
    "extensions": (0.3, 0.0, 1.0),  # 7ths and 9ths in the chords
    "chord_rate": (0.4, 0.0, 1.0),  # 0 = one chord per 2 bars .. 1 = two per bar
    "brightness": (0.5, 0.0, 1.0),  # default tone when config.brightness is auto
    "density": (0.5, 0.0, 1.0),  # default busyness when config.density is auto
    "bass_tone": (0.5, 0.0, 1.0),  # 0 = sine sub .. 1 = buzzy saw
    "pad_tone": (0.5, 0.0, 1.0),  # 0 = soft organ/rhodes .. 1 = bright detuned saws
    "lead_tone": (0.5, 0.0, 1.0),  # 0 = bell/sine .. 1 = square/saw lead
    "acoustic": (0.3, 0.0, 1.0),  # 0 = drum machine .. 1 = acoustic-ish kit
    "space": (0.4, 0.0, 1.0),  # reverb and delay send
    "register": (0.5, 0.0, 1.0),  # lead octave
    "drive": (0.2, 0.0, 1.0),  # saturation of the mix
    "drums": (0.8, 0.0, 1.0),  # layer levels
    "bass": (0.8, 0.0, 1.0),
    "pads": (0.6, 0.0, 1.0),
    "lead": (0.5, 0.0, 1.0),
    "texture": (0.3, 0.0, 1.0),
}

GROOVES = ("four_floor", "breakbeat", "boombap", "halftime", "dnb", "latin", "rock", "sparse")
BASSLINES = ("pulse", "offbeat", "walking", "sub", "octave", "funk")
PROGRESSIONS = ("minor_pop", "epic", "pop", "jazz", "modal", "dorian_vamp", "blues")
KEYS = tuple(str(pc) for pc in range(12))  # tonic pitch class preference, 0 = C

CATEGORIES: dict[str, tuple[str, ...]] = {
    "groove": GROOVES,
    "bassline": BASSLINES,
    "progression": PROGRESSIONS,
    "key": KEYS,
}

# A partial style: field -> (value, mass). Scalars hold floats, categories weight vectors.
Partial = dict[str, tuple[float | np.ndarray, float]]

UNKNOWN_MASS = 0.35  # an unknown word counts about a third of a known one
PRIOR_MASS = 0.2  # the neutral default always takes part a little, so one faint word is faint
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Style:
    """A complete style: every scalar and every category distribution (sums to 1)."""

    scalars: Mapping[str, float]
    dists: Mapping[str, tuple[float, ...]]

    def __getitem__(self, name: str) -> float:
        return self.scalars[name]

    def dist(self, name: str) -> np.ndarray:
        return np.asarray(self.dists[name])

    def top(self, name: str) -> str:
        """The most likely category of ``name``."""
        return CATEGORIES[name][int(np.argmax(self.dists[name]))]


def neutral() -> Style:
    """The style of no prompt at all."""
    return Style(
        scalars={k: v[0] for k, v in SCALARS.items()},
        dists={k: tuple(np.full(len(v), 1.0 / len(v))) for k, v in CATEGORIES.items()},
    )


def entry_partial(entry: Entry, mass: float) -> Partial:
    """A lexicon entry as a partial style with ``mass`` on each field it names."""
    out: Partial = {}
    for name, value in entry.items():
        if name in CATEGORIES:
            out[name] = (_category_vector(name, value), mass)
        else:
            assert isinstance(value, int | float), name
            out[name] = (float(value), mass)
    return out


def _category_vector(name: str, value: object) -> np.ndarray:
    """``"house"`` or ``{"house": 0.7, "funk": 0.3}`` as a weight vector over the categories."""
    names = CATEGORIES[name]
    vec = np.zeros(len(names))
    weights = value if isinstance(value, dict) else {str(value): 1.0}
    for key, w in weights.items():
        vec[names.index(key)] = float(w)
    return vec / vec.sum()


def hashed_partial(word: str, mass: float) -> Partial:
    """Any unknown word as a full, reproducible style (its hash seeds the draw)."""
    digest = hashlib.sha256(word.encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    out: Partial = {}
    for name, (_, lo, hi) in SCALARS.items():
        out[name] = (lo + (hi - lo) * float(rng.beta(2.0, 2.0)), mass)
    for name, names in CATEGORIES.items():
        out[name] = (rng.dirichlet(np.full(len(names), 0.5)), mass)
    return out


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; ``lo-fi`` and ``lofi`` both become ``lo fi``-style tokens."""
    return _TOKEN.findall(text.lower().replace("-", " "))


def text_partial(text: str) -> Partial:
    """Read one prompt text: known phrases (longest first), then hashed unknown words."""
    words = tokens(text)
    parts: list[Partial] = []
    i = 0
    while i < len(words):
        for n in (3, 2, 1):
            phrase = " ".join(words[i : i + n])
            if len(words) - i >= n and phrase in LEXICON:
                parts.append(entry_partial(LEXICON[phrase], 1.0))
                i += n
                break
        else:
            if words[i] not in STOPWORDS:
                parts.append(hashed_partial(words[i], UNKNOWN_MASS))
            i += 1
    return merge([(p, 1.0) for p in parts])


def merge(parts: Sequence[tuple[Partial, float]]) -> Partial:
    """Weighted average of partials, field by field, over those that name the field."""
    sums: dict[str, float | np.ndarray] = {}
    masses: dict[str, float] = {}
    for part, weight in parts:
        for name, (value, mass) in part.items():
            m = mass * weight
            sums[name] = sums.get(name, 0.0) + value * m
            masses[name] = masses.get(name, 0.0) + m
    return {n: (sums[n] / masses[n], masses[n]) for n in sums if masses[n] > 0}


def blend(prompts: Sequence[WeightedPrompt], guidance: float = 4.0) -> Style:
    """The style of a weighted prompt set (weights normalised like the model does)."""
    total = sum(abs(p.weight) for p in prompts)
    parts = [(text_partial(p.text), abs(p.weight) / total) for p in prompts] if total else []
    mixed = merge(parts)
    base = neutral()
    pull = 0.25 + 0.75 * guidance / 4.0  # 0.25 at guidance 0, 1 at 4, 1.375 at 6
    scalars: dict[str, float] = {}
    for name, (default, lo, hi) in SCALARS.items():
        value, mass = mixed.get(name, (default, 0.0))
        value = (float(value) * mass + default * PRIOR_MASS) / (mass + PRIOR_MASS)
        scalars[name] = float(np.clip(default + (value - default) * pull, lo, hi))
    dists: dict[str, tuple[float, ...]] = {}
    for name in CATEGORIES:
        flat = np.asarray(base.dists[name])
        value, mass = mixed.get(name, (flat, 0.0))
        vec = (np.asarray(value) * mass + flat * PRIOR_MASS) / (mass + PRIOR_MASS)
        vec = np.maximum(vec, 1e-9) ** pull  # sharper with more guidance, flatter with less
        dists[name] = tuple(float(v) for v in vec / vec.sum())
    return Style(scalars=scalars, dists=dists)


def interpolate(a: Style, b: Style, t: float) -> Style:
    """The style ``t`` of the way from ``a`` to ``b`` (prompt changes glide over bars)."""
    scalars = {k: a.scalars[k] + (b.scalars[k] - a.scalars[k]) * t for k in a.scalars}
    dists = {
        k: tuple(float(x + (y - x) * t) for x, y in zip(a.dists[k], b.dists[k], strict=True))
        for k in a.dists
    }
    return Style(scalars=scalars, dists=dists)
