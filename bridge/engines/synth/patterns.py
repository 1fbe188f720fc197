"""Patterns of the embedded engine: what plays in each bar. Pure, no I/O, deterministic.

Theory of operation
-------------------
A bar is 4 beats of 16 steps. Each layer has a *template*: an importance per step
(``"X"`` = 1.0, ``"0"``..``"9"`` = 0.0..0.9). A step sounds when
``importance + jitter >= 1 - density``, so density adds the less important hits (hats
on 16ths, ghost notes, passing notes) and never removes the backbone (the kick on the
beat). Everything random is drawn from ``rng(seed, bar, salt)`` in a fixed amount per
bar, so the same seed and controls give the same music, and changing density or
brightness never reshuffles what the rest plays.

The generation controls of the real model map onto the choice and change of patterns:

* ``top_k`` - the *candidate pool*: how many variants of each template may be chosen
  (variant 0 is the template itself; the others are perturbed copies, with ghost notes).
* ``temperature`` - how far down the pool a choice may go (0 = always variant 0), how
  often the loop mutates, and how much velocity and step jitter there is.
* ``musicGenerationMode`` - QUALITY keeps a 4-bar phrase, mutates only at phrase
  starts and plays the dominant groove of the style; DIVERSITY may mutate every bar and
  samples the groove and bassline from the style's blend; VOCALIZATION is QUALITY with
  the lead sung by a formant voice.
* ``guidance`` - handled in ``style``: how closely the style follows the prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bridge.engines.synth.style import BASSLINES, GROOVES, PROGRESSIONS, Style

STEPS = 16
BEATS = 4
PHRASE = 4  # bars


def _imp(pattern: str) -> tuple[float, ...]:
    assert len(pattern) == STEPS, pattern
    return tuple(1.0 if c == "X" else int(c) / 10.0 for c in pattern)


# Drum templates per groove: kick, snare (or clap), closed hat, open hat, percussion.
DRUM_VOICES = ("kick", "snare", "hat", "open_hat", "perc")
GROOVE_TEMPLATES: dict[str, tuple[str, str, str, str, str]] = {
    "four_floor": (
        "X000X000X000X000",
        "0000900000009000",
        "3585358535853585",
        "0020002000200020",
        "0002000100200010",
    ),
    "breakbeat": (
        "X000000060X00000",
        "0000X0020000X002",
        "8484848484848484",
        "0000000000000030",
        "0000200000002000",
    ),
    "boombap": (
        "X000000700X00000",
        "0000X0000000X000",
        "8383838383838383",
        "0000000000000020",
        "0000000030000020",
    ),
    "halftime": (
        "X000000000060000",
        "00000000X0000000",
        "8686868686868686",
        "0000000000000000",
        "0000000000000303",
    ),
    "dnb": (
        "X000000000X00000",
        "0000X0000000X000",
        "8383838383838383",
        "0000000000000020",
        "0030000000300000",
    ),
    "latin": (
        "X0000060X0000060",
        "0000500000005000",
        "6464646464646464",
        "0000000000000000",
        "9009009000909000",
    ),
    "rock": (
        "X0000000X0600000",
        "0000X0000000X000",
        "9393939393939393",
        "0000000000000020",
        "0000000000000000",
    ),
    "sparse": (
        "7000000050000000",
        "0000000000004000",
        "3030303030303030",
        "0000000000000000",
        "0030000000200000",
    ),
}

# Bass: importance per step and the note's role: R root, O octave, F fifth,
# S scale step up from the root, A approach (a step below the next chord's root).
BASS_TEMPLATES: dict[str, tuple[str, str]] = {
    "pulse": ("X070907090709070", "RRRRRRRRRRRRRRRR"),
    "offbeat": ("00X030X000X030X0", "RRRROROORRRRORRR"),
    "walking": ("X000X000X000X000", "RRRRSSSSFFFFAAAA"),
    "sub": ("X000000000005000", "RRRRRRRRRRRRFFFF"),
    "octave": ("X5859585X5859585", "RORORFRORORORFRA"),
    "funk": ("X006007090060070", "RROFRORRROFRORRA"),
}

LEAD_TEMPLATE = "X030603080306030"  # arpeggio rhythm: beats, then 8ths, then 16ths

# Chord progressions as scale degrees (0 = tonic of the current mode).
PROGRESSION_DEGREES: dict[str, tuple[int, ...]] = {
    "minor_pop": (0, 5, 2, 6),
    "epic": (0, 5, 6, 4),
    "pop": (0, 4, 5, 3),
    "jazz": (1, 4, 0, 5),
    "modal": (0, 0, 6, 0),
    "dorian_vamp": (0, 3, 0, 3),
    "blues": (0, 3, 0, 4),
}

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True, slots=True)
class Controls:
    """What the pattern generator reads from the generation config, resolved."""

    seed: int
    density: float
    temperature: float
    top_k: int
    mode: str
    tonic: int  # pitch class of the tonic (0 = C)
    minor: bool


@dataclass(frozen=True, slots=True)
class Event:
    """One candidate note. ``start``/``length`` in beats from the bar start.

    ``importance`` and ``jitter`` decide at render time whether it sounds for the
    current density (see the module docstring).
    """

    layer: str  # kick snare hat open_hat perc bass pad lead
    start: float
    length: float
    pitch: int  # midi note (drums: tuning)
    velocity: float
    importance: float
    jitter: float = 0.0
    fill: bool = False

    def sounds(self, density: float) -> bool:
        return self.importance > 0 and self.importance + self.jitter >= 1.0 - density - 1e-9


@dataclass(frozen=True, slots=True)
class Phrase:
    """The slowly changing choices: groove, bassline, progression and variant indices."""

    groove: str
    bassline: str
    progression: str
    drum_variant: int = 0
    bass_variant: int = 0
    lead_variant: int = 0


def pool_size(top_k: int) -> int:
    """The candidate pool per layer for ``top_k`` (1 -> 1, 40 -> 12, 1000 -> 20)."""
    return max(1, min(20, 1 + round(2 * np.log2(max(top_k, 1)))))


def bar_rng(seed: int, bar: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, bar, salt])


def choose_variant(rng: np.random.Generator, temperature: float, pool: int) -> int:
    """A variant index: 0 at temperature 0, further down the pool as it rises."""
    if temperature <= 1e-6 or pool == 1:
        return 0
    logits = -np.arange(pool) / (1.5 * temperature)
    p = np.exp(logits - logits.max())
    return int(rng.choice(pool, p=p / p.sum()))


def mutation_rate(temperature: float, mode: str) -> float:
    """Chance per layer and opportunity that the loop changes (0 at temperature 0)."""
    scale = 0.6 if mode == "DIVERSITY" else 0.35
    return float(min(1.0, scale * temperature))


def first_phrase(style: Style, c: Controls) -> Phrase:
    """The phrase a fresh context starts with: the style's dominant choices, variant 0."""
    return Phrase(
        groove=style.top("groove"),
        bassline=style.top("bassline"),
        progression=style.top("progression"),
    )


def next_phrase(phrase: Phrase, style: Style, c: Controls, bar: int) -> Phrase:
    """The phrase for ``bar``.

    The groove, bassline and progression follow the style at every bar (a prompt change
    lands on the next bar); the variants mutate only at phrase starts in QUALITY, at any
    bar in DIVERSITY, which also samples the groove and bassline from the style's blend.
    """
    diverse = c.mode == "DIVERSITY"
    rng = bar_rng(c.seed, bar, 1)
    rolls = rng.random(6)
    picks = [choose_variant(rng, c.temperature, pool_size(c.top_k)) for _ in range(3)]
    groove = _follow(phrase.groove, style, "groove", GROOVES, rng, diverse and bar % PHRASE == 0)
    bassline = _follow(
        phrase.bassline, style, "bassline", BASSLINES, rng, diverse and bar % PHRASE == 0
    )
    rate = mutation_rate(c.temperature, c.mode)
    progression = _follow(phrase.progression, style, "progression", PROGRESSIONS, rng, False)
    if bar % (2 * PHRASE) == 0 and rolls[5] < rate / 2:
        progression = _follow(progression, style, "progression", PROGRESSIONS, rng, True)
    if bar % PHRASE and not diverse:
        rate = 0.0  # QUALITY keeps the loop within a phrase
    return replace(
        phrase,
        groove=groove,
        bassline=bassline,
        progression=progression,
        drum_variant=picks[0] if rolls[0] < rate else phrase.drum_variant,
        bass_variant=picks[1] if rolls[1] < rate else phrase.bass_variant,
        lead_variant=picks[2] if rolls[2] < rate else phrase.lead_variant,
    )


def _follow(
    current: str,
    style: Style,
    name: str,
    names: tuple[str, ...],
    rng: np.random.Generator,
    sample: bool,
) -> str:
    """Keep ``current`` while the style still gives it half the top weight; else the top.

    ``sample`` draws a fresh choice from the style's distribution instead (DIVERSITY).
    """
    dist = style.dist(name)
    if sample:
        return names[int(rng.choice(len(names), p=dist))]
    plausible = dist[names.index(current)] >= 0.5 * dist.max()
    return current if plausible else style.top(name)


def variant(template: tuple[float, ...], seed: int, key: str, index: int) -> tuple[float, ...]:
    """Variant ``index`` of a template: 0 is the template; others move the weaker steps.

    Steps at 0.9 or more (the backbone) never move, so a variant keeps the groove's
    identity and the beat stays where it is.
    """
    if index == 0:
        return template
    salt = int.from_bytes(key.encode()[:8].ljust(8, b"\0"), "little")
    rng = np.random.default_rng([seed & 0xFFFFFFFF, salt, index])
    t = np.asarray(template)
    moved = np.clip(t + rng.normal(0.0, 0.18, STEPS), 0.0, 0.85)
    ghosts = (t == 0) & (rng.random(STEPS) < 0.15)
    out = np.where(t >= 0.9, t, np.where(t > 0, moved, np.where(ghosts, 0.25, 0.0)))
    return tuple(float(v) for v in out)


def swing_offset(step: int, swing: float) -> float:
    """Delay (beats) of a 16th step: off-beat 16ths are pushed by ``swing`` of a 16th."""
    return 0.25 * swing if step % 2 else 0.0


def scale_notes(c: Controls) -> tuple[int, ...]:
    """The 7 pitch classes of the mode, starting at the tonic."""
    return tuple((c.tonic + i) % 12 for i in (MINOR if c.minor else MAJOR))


def degree_note(c: Controls, degree: int, low: int) -> int:
    """The midi note of scale ``degree`` (any int, wraps octaves) at or above ``low``."""
    intervals = MINOR if c.minor else MAJOR
    octave, d = divmod(degree, 7)
    pc = (c.tonic + intervals[d]) % 12
    note = low + (pc - low) % 12
    return note + 12 * octave


def chord_degrees(degree: int, extensions: float) -> tuple[int, ...]:
    """Stacked thirds on ``degree``: a triad, a 7th above 0.45, a 9th above 0.8."""
    degrees = [degree, degree + 2, degree + 4]
    if extensions > 0.45:
        degrees.append(degree + 6)
    if extensions > 0.8:
        degrees.append(degree + 8)
    return tuple(degrees)


def chord_span(style: Style) -> float:
    """Beats per chord: 8 (slow harmony), 4 or 2."""
    rate = style["chord_rate"]
    return 8.0 if rate < 0.3 else 4.0 if rate < 0.75 else 2.0


def chord_at(phrase: Phrase, style: Style, bar: int, beat: float) -> int:
    """The scale degree of the chord sounding at ``beat`` of ``bar``."""
    span = chord_span(style)
    degrees = PROGRESSION_DEGREES[phrase.progression]
    index = int((bar * BEATS + beat) // span)
    return degrees[index % len(degrees)]


def plan_bar(phrase: Phrase, style: Style, c: Controls, bar: int) -> tuple[Event, ...]:
    """Every candidate event of ``bar`` (density filtering happens at render time)."""
    fill = bar % PHRASE == PHRASE - 1
    return (
        *_drums(phrase, style, c, bar, fill),
        *_bass(phrase, style, c, bar),
        *_pads(phrase, style, c, bar),
        *_lead(phrase, style, c, bar),
    )


def _jitter(rng: np.random.Generator, temperature: float) -> np.ndarray:
    """Per-step gate jitter: wider with temperature, zero at 0 (fixed draw count)."""
    return (rng.random(STEPS) - 0.5) * 0.3 * min(temperature, 2.0)


def _velocities(rng: np.random.Generator, temperature: float) -> np.ndarray:
    return 1.0 + rng.normal(0.0, 0.06, STEPS) * min(temperature, 2.0)


def _drums(phrase: Phrase, style: Style, c: Controls, bar: int, fill: bool) -> list[Event]:
    rng = bar_rng(c.seed, bar, 2)
    swing = style["swing"]
    out: list[Event] = []
    tuning = {
        "kick": 24 + (c.tonic - 24) % 12 + (12 if (c.tonic - 24) % 12 < 5 else 0),
        "snare": degree_note(c, 4, 53),
        "perc": degree_note(c, 0, 62),
    }
    for voice, pattern in zip(DRUM_VOICES, GROOVE_TEMPLATES[phrase.groove], strict=True):
        imp = variant(_imp(pattern), c.seed, phrase.groove + voice, phrase.drum_variant)
        jit, vel = _jitter(rng, c.temperature), _velocities(rng, c.temperature)
        for step in range(STEPS):
            i = imp[step]
            is_fill = fill and step >= 12 and voice in ("snare", "perc") and i == 0
            if is_fill:
                i = 0.45 if step % 2 == 0 else 0.25
            if i <= 0:
                continue
            pitch = tuning.get(voice, 0)
            if voice == "perc":
                pitch = degree_note(c, (0, 4, 2, 7)[step % 4], 60)
            out.append(
                Event(
                    voice,
                    step / 4 + swing_offset(step, swing),
                    0.25,
                    pitch,
                    float(np.clip((0.55 + 0.45 * i) * vel[step], 0.1, 1.0)),
                    i,
                    float(jit[step]) if i < 0.9 else 0.0,
                    is_fill,
                )
            )
    return out


def _bass(phrase: Phrase, style: Style, c: Controls, bar: int) -> list[Event]:
    rng = bar_rng(c.seed, bar, 3)
    pattern, roles = BASS_TEMPLATES[phrase.bassline]
    imp = variant(_imp(pattern), c.seed, phrase.bassline, phrase.bass_variant)
    jit, vel = _jitter(rng, c.temperature), _velocities(rng, c.temperature)
    steps = [s for s in range(STEPS) if imp[s] > 0]
    out: list[Event] = []
    for n, step in enumerate(steps):
        beat = step / 4
        nxt = steps[n + 1] if n + 1 < len(steps) else STEPS
        length = max(0.2, (nxt - step) / 4 * (0.95 if phrase.bassline == "sub" else 0.8))
        degree = chord_at(phrase, style, bar, beat)
        role = roles[step]
        if role == "A":
            degree = chord_at(phrase, style, bar, 4.0) - 1  # leads into the next bar
        note = degree_note(c, degree + {"F": 4, "S": 1}.get(role, 0), 33)
        if note > 47:
            note -= 12
        note += 12 if role == "O" else 0
        out.append(
            Event(
                "bass",
                beat + swing_offset(step, style["swing"]),
                length,
                note,
                float(np.clip((0.7 + 0.3 * imp[step]) * vel[step], 0.1, 1.0)),
                imp[step],
                float(jit[step]) if imp[step] < 0.9 else 0.0,
            )
        )
    return out


def _pads(phrase: Phrase, style: Style, c: Controls, bar: int) -> list[Event]:
    span = chord_span(style)
    out: list[Event] = []
    for start in np.arange(0.0, BEATS, min(span, BEATS)):
        absolute = bar * BEATS + start
        if span > BEATS and absolute % span:
            continue  # a two-bar chord started in the previous bar is still sounding
        degree = chord_at(phrase, style, bar, float(start))
        for i, d in enumerate(chord_degrees(degree, style["extensions"])):
            note = degree_note(c, d, 55)
            if i and note <= out[-1].pitch:
                note += 12
            out.append(Event("pad", float(start), span, note, 0.8, 1.0))
    return out


def _lead(phrase: Phrase, style: Style, c: Controls, bar: int) -> list[Event]:
    rng = bar_rng(c.seed, bar, 4)
    imp = variant(_imp(LEAD_TEMPLATE), c.seed, "lead", phrase.lead_variant)
    jit, vel = _jitter(rng, c.temperature), _velocities(rng, c.temperature)
    walk = rng.integers(-2, 3, STEPS)  # melody steps, used by odd variants
    low = 62 + round(12 * style["register"])
    shape = phrase.lead_variant % 3  # 0 up, 1 up-down, 2 walk
    legato = 0.9 if c.mode == "VOCALIZATION" else 0.5
    out: list[Event] = []
    position = 0
    for step in range(STEPS):
        if imp[step] <= 0:
            continue
        beat = step / 4
        chord = chord_degrees(chord_at(phrase, style, bar, beat), style["extensions"])
        if shape == 0:
            degree = chord[position % len(chord)] + 7 * (position // len(chord) % 2)
        elif shape == 1:
            cycle = [*chord, *chord[-2:0:-1]]
            degree = cycle[position % len(cycle)]
        else:
            degree = chord[0] + int(np.cumsum(walk)[step]) % 9
        position += 1
        out.append(
            Event(
                "lead",
                beat + swing_offset(step, style["swing"]),
                0.25 * (1 + 3 * legato) if step % 4 == 0 else 0.25 + 0.25 * legato,
                degree_note(c, degree, low),
                float(np.clip((0.6 + 0.4 * imp[step]) * vel[step], 0.1, 1.0)),
                imp[step] * 0.95,
                float(jit[step]),
            )
        )
    return out
