"""What survives a mapping reload: the running state, except slot texts the file changed."""

from __future__ import annotations

from bridge.core.instrument import carry_over
from bridge.core.performance import Performance
from bridge.core.types import Change, PerformanceSpec, SlotSpec

OLD = PerformanceSpec(slots=(SlotSpec("techno", 1.0), SlotSpec("ambient"), SlotSpec("jazz")))


def running() -> Performance:
    perf = Performance(OLD)
    perf.apply(Change("slot.1.weight", 1.7), 0.0)
    perf.apply(Change("slot.2.text", "drone"), 0.0)  # changed on stage, not in the file
    perf.apply(Change("config.density", 0.8), 0.0)
    return perf


def restored(new: PerformanceSpec) -> Performance:
    perf = Performance(new)
    perf.restore(carry_over(running().snapshot(), OLD, new))
    return perf


def test_weights_config_and_stage_texts_survive_an_unrelated_edit() -> None:
    """An edit that leaves the slot texts alone keeps everything the performer did."""
    perf = restored(OLD)
    assert perf.get("slot.1.weight") == 1.7
    assert perf.get("slot.2.text") == "drone"
    assert perf.get("config.density") == 0.8


def test_a_text_edited_in_the_file_wins() -> None:
    """Slot 1's text changed in the file: the new text plays, its weight is kept."""
    new = PerformanceSpec(
        slots=(SlotSpec("acid techno", 1.0), SlotSpec("ambient"), SlotSpec("jazz"))
    )
    perf = restored(new)
    assert perf.get("slot.1.text") == "acid techno"
    assert perf.get("slot.1.weight") == 1.7
    assert perf.get("slot.2.text") == "drone"


def test_added_and_removed_slots_follow_the_file() -> None:
    """A slot added by the file starts as written; a removed slot is gone."""
    fewer = restored(PerformanceSpec(slots=(SlotSpec("techno", 1.0),)))
    assert len(fewer.snapshot()["slots"]) == 1
    more = restored(PerformanceSpec(slots=(*OLD.slots, SlotSpec("dub", 0.5))))
    assert more.get("slot.4.text") == "dub"
    assert more.get("slot.4.weight") == 0.5
