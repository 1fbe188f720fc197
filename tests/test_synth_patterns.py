"""Patterns and styles of the embedded engine: pure functions driven with plain values."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.core.types import WeightedPrompt
from bridge.engines.synth import patterns
from bridge.engines.synth.lexicon import LEXICON
from bridge.engines.synth.patterns import Controls
from bridge.engines.synth.style import CATEGORIES, SCALARS, blend, neutral, text_partial


def controls(**kw: object) -> Controls:
    base = dict(
        seed=5, density=0.6, temperature=1.1, top_k=40, mode="QUALITY", tonic=0, minor=False
    )
    base.update(kw)
    return Controls(**base)  # type: ignore[arg-type]


def rhythms(
    c: Controls, bars: int = 32, prompt: str = "deep house"
) -> list[frozenset[tuple[str, float]]]:
    """The sounding (layer, start) set of each bar, skipping phrase-end fill bars."""
    style = blend((WeightedPrompt(prompt, 1.0),))
    phrase = patterns.first_phrase(style, c)
    out = []
    for bar in range(bars):
        phrase = patterns.next_phrase(phrase, style, c, bar)
        events = patterns.plan_bar(phrase, style, c, bar)
        if bar % patterns.PHRASE != patterns.PHRASE - 1:
            out.append(
                frozenset(
                    (e.layer, e.start) for e in events if e.sounds(c.density) and e.layer != "pad"
                )
            )
    return out


def test_lexicon_has_at_least_60_terms() -> None:
    """The lexicon maps at least 60 genres, instruments and moods; each names real fields."""
    assert len(LEXICON) >= 60
    for term, entry in LEXICON.items():
        for name, value in entry.items():
            assert name in SCALARS or name in CATEGORIES, (term, name)
            if name in SCALARS:
                lo, hi = SCALARS[name][1:]
                assert lo <= float(value) <= hi, (term, name)  # type: ignore[arg-type]


def test_longest_phrase_wins() -> None:
    """'deep house' reads as the phrase, not as 'deep' + 'house'."""
    assert blend((WeightedPrompt("deep house", 1.0),)) == blend(
        (WeightedPrompt("Deep-House!", 1.0),)
    )
    assert blend((WeightedPrompt("deep house", 1.0),)) != blend((WeightedPrompt("house", 1.0),))


def test_unknown_words_map_to_a_reproducible_style() -> None:
    """Any unknown word changes the style, the same way every time, and unlike another word."""
    a1 = blend((WeightedPrompt("zorblax", 1.0),))
    a2 = blend((WeightedPrompt("zorblax", 1.0),))
    b = blend((WeightedPrompt("quuxly", 1.0),))
    assert a1 == a2
    assert a1 != b
    assert a1 != neutral()


def test_stopwords_are_ignored() -> None:
    """Filler words ('a', 'with', 'music') do not change a prompt's style."""
    assert text_partial("techno").keys() == text_partial("a techno track with music").keys()
    assert blend((WeightedPrompt("techno", 1.0),)) == blend(
        (WeightedPrompt("a techno track with music", 1.0),)
    )


def test_weights_blend_like_an_average() -> None:
    """Tempo of a weighted blend lies between the two prompts', nearer the heavier one."""
    fast = blend((WeightedPrompt("drum and bass", 1.0),))["tempo"]
    slow = blend((WeightedPrompt("ambient", 1.0),))["tempo"]
    mostly_fast = blend((WeightedPrompt("drum and bass", 3.0), WeightedPrompt("ambient", 1.0)))
    assert slow < mostly_fast["tempo"] < fast
    assert abs(mostly_fast["tempo"] - fast) < abs(mostly_fast["tempo"] - slow)


def test_weights_are_normalised() -> None:
    """Scaling every weight by the same factor changes nothing (like the model)."""
    a = blend((WeightedPrompt("techno", 1.0), WeightedPrompt("piano", 0.5)))
    b = blend((WeightedPrompt("techno", 4.0), WeightedPrompt("piano", 2.0)))
    assert a.scalars == pytest.approx(b.scalars)


def test_instrument_words_only_touch_their_fields() -> None:
    """Adding 'rhodes' changes the pads but leaves the groove family of 'techno' alone."""
    techno = blend((WeightedPrompt("techno", 1.0),))
    both = blend((WeightedPrompt("techno", 1.0), WeightedPrompt("rhodes", 0.5)))
    assert both.top("groove") == techno.top("groove") == "four_floor"
    assert both["pad_tone"] < techno["pad_tone"]


def test_distributions_sum_to_one() -> None:
    """Every category distribution of a blended style is a probability distribution."""
    style = blend((WeightedPrompt("jazz", 1.0), WeightedPrompt("trap", 0.7)), guidance=6.0)
    for name in CATEGORIES:
        assert float(np.sum(style.dist(name))) == pytest.approx(1.0)


def test_density_only_adds_hits() -> None:
    """Every hit at density 0.3 also sounds at 0.8: density adds, never reshuffles."""
    sparse = rhythms(controls(density=0.3))
    busy = rhythms(controls(density=0.8))
    assert all(s <= b for s, b in zip(sparse, busy, strict=True))
    assert sum(map(len, busy)) > 1.5 * sum(map(len, sparse))


def test_temperature_zero_loops() -> None:
    """At temperature 0 every (non-fill) bar has the same rhythm: a steady loop."""
    bars = rhythms(controls(temperature=0.0))
    assert len(set(bars)) == 1


def test_high_temperature_mutates_the_loop() -> None:
    """At temperature 2 the rhythm changes over a 32-bar stretch."""
    assert len(set(rhythms(controls(temperature=2.0)))) > 2


def test_top_k_one_keeps_the_template() -> None:
    """top_k=1 is a pool of one: even a hot temperature cannot pick another variant."""
    assert patterns.pool_size(1) == 1
    c = controls(temperature=2.0, top_k=1)
    style = blend((WeightedPrompt("deep house", 1.0),))
    phrase = patterns.first_phrase(style, c)
    for bar in range(32):
        phrase = patterns.next_phrase(phrase, style, c, bar)
        assert (phrase.drum_variant, phrase.bass_variant, phrase.lead_variant) == (0, 0, 0)


def test_top_k_widens_the_pool() -> None:
    """A larger top_k means a larger candidate pool, up to a cap."""
    sizes = [patterns.pool_size(k) for k in (1, 2, 10, 40, 200, 1000)]
    assert sizes == sorted(sizes) and sizes[0] == 1 and sizes[-1] <= 20


def test_diversity_changes_more_than_quality() -> None:
    """DIVERSITY changes the phrase (variants, groove) more often than QUALITY does."""

    def changes(mode: str) -> int:
        c = controls(temperature=1.0, mode=mode)
        style = blend((WeightedPrompt("deep house", 1.0), WeightedPrompt("jazz", 0.8)))
        phrase = patterns.first_phrase(style, c)
        count = 0
        for bar in range(64):
            new = patterns.next_phrase(phrase, style, c, bar)
            count += new != phrase
            phrase = new
        return count

    assert changes("DIVERSITY") > changes("QUALITY") > 0


def test_notes_stay_in_the_scale() -> None:
    """Every pitched note of a bar is in the scale of the controls (here D minor)."""
    c = controls(tonic=2, minor=True, density=1.0)
    scale = set(patterns.scale_notes(c))
    style = blend((WeightedPrompt("jazz", 1.0),))
    phrase = patterns.first_phrase(style, c)
    for bar in range(8):
        for event in patterns.plan_bar(phrase, style, c, bar):
            if event.layer in ("bass", "pad", "lead", "snare", "perc"):
                assert event.pitch % 12 in scale, event


def test_backbone_survives_every_variant() -> None:
    """Variants never move a step of importance >= 0.9 (the kick on the beat stays)."""
    template = patterns._imp(patterns.GROOVE_TEMPLATES["four_floor"][0])
    for index in range(1, 20):
        v = patterns.variant(template, 3, "four_floorkick", index)
        assert all(v[s] == 1.0 for s in (0, 4, 8, 12))


def test_the_synth_core_is_pure() -> None:
    """Only engine.py touches asyncio; the rest of the synth and bridge.analysis do no I/O."""
    import ast
    from pathlib import Path

    bridge = Path(__file__).resolve().parent.parent / "bridge"
    impure = {"asyncio", "socket", "threading", "time", "os", "sounddevice", "mido", "wave"}
    files = [*sorted((bridge / "engines" / "synth").glob("*.py")), bridge / "analysis.py"]
    offenders = {}
    for path in files:
        if path.name in ("engine.py", "__init__.py"):
            continue
        roots = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
        if roots & impure:
            offenders[path.name] = roots & impure
    assert offenders == {}
    assert len(files) >= 7
