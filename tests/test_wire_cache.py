"""The cached ``Performance.wire_prompts()`` always equals the mix rebuilt from scratch.

``wire_prompts`` is cached per slot (the Outbox asks for it after every change); these
tests drive a Performance through random changes, glides, filtering and restores and
compare, after each step, with a reference computed from the public state alone.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.performance import WEIGHT_DIGITS, Performance
from bridge.core.types import Change, PerformanceSpec, SceneSpec, SlotSpec, WeightedPrompt

TEXTS = ("techno", "dub", " ", "ambient", "acid")
SPEC = PerformanceSpec(
    slots=tuple(SlotSpec(TEXTS[n % 5], 0.5, texts=TEXTS) for n in range(6)),
    scenes=(
        SceneSpec("a", weights={1: 0.0, 2: 1.5}, texts={3: "acid"}, glide=1.0),
        SceneSpec("b", weights={4: 2.0}, texts={1: "dub"}),
    ),
    deck_a=(1, 2),
    deck_b=(3, 4),
)


def reference(perf: Performance) -> tuple[WeightedPrompt, ...]:
    """The wire set computed the slow way, from the public state only."""
    out = []
    for number, slot in enumerate(perf.slots, start=1):
        weight = round(slot.weight * perf.gain(number), WEIGHT_DIGITS)
        text = slot.text.strip()
        if weight > 0 and text and text not in perf.filtered:
            out.append(WeightedPrompt(text, weight))
    return tuple(out)


slot_number = st.integers(1, 6)
weight = st.floats(0, 2)
STEPS = st.one_of(
    st.tuples(st.just("weight"), slot_number, weight, st.sampled_from([None, 0.0, 0.3])),
    st.tuples(st.just("text"), slot_number, st.sampled_from([*TEXTS, 0, 3]), st.none()),
    st.tuples(st.just("crossfader"), st.just(0), st.floats(0, 1), st.sampled_from([None, 0.2])),
    st.tuples(st.just("recall"), st.just(0), st.sampled_from(["a", "b", 1, 2]), st.none()),
    st.tuples(st.just("filter"), st.just(0), st.sampled_from(TEXTS), st.none()),
    st.tuples(st.just("tick"), st.just(0), st.floats(0, 0.5), st.none()),
    st.tuples(st.just("restore"), slot_number, weight, st.none()),
)


def do(perf: Performance, step: tuple[object, ...], now: float) -> None:
    kind, number, value, glide = step
    if kind == "weight":
        perf.apply(Change(f"slot.{number}.weight", value, glide=glide), now)  # type: ignore[arg-type]
    elif kind == "text":
        perf.apply(Change(f"slot.{number}.text", value), now)  # type: ignore[arg-type]
    elif kind == "crossfader":
        perf.apply(Change("crossfader", value, glide=glide), now)  # type: ignore[arg-type]
    elif kind == "recall":
        perf.apply(Change("scene.recall", value), now)  # type: ignore[arg-type]
    elif kind == "filter":
        perf.mark_filtered(str(value))
    elif kind == "tick":
        perf.tick(now)
    else:
        perf.restore({"slots": [{"slot": number, "weight": value}], "filtered": ["dub"]})


@settings(max_examples=300, deadline=None)
@given(st.lists(STEPS, max_size=40))
def test_cached_wire_prompts_match_a_fresh_rebuild(steps: list[tuple[object, ...]]) -> None:
    """After any sequence of changes, ticks, filters and restores the cache is exact."""
    perf = Performance(SPEC)
    now = 0.0
    assert perf.wire_prompts() == reference(perf)
    for step in steps:
        now += 0.1
        do(perf, step, now)
        assert perf.wire_prompts() == reference(perf), step


def test_an_unchanged_performance_returns_the_same_tuple() -> None:
    """With nothing changed, wire_prompts is not rebuilt (the same object comes back)."""
    perf = Performance(SPEC)
    first = perf.wire_prompts()
    assert perf.wire_prompts() is first
    perf.apply(Change("slot.1.weight", 1.0), 0.0)
    second = perf.wire_prompts()
    assert second is not first and second == reference(perf)


def test_direct_edits_of_the_filtered_set_are_noticed() -> None:
    """``filtered`` is a public set: adding to it directly still drops the text."""
    perf = Performance(SPEC)
    assert any(p.text == "dub" for p in perf.wire_prompts())
    perf.filtered.add("dub")
    assert all(p.text != "dub" for p in perf.wire_prompts())
