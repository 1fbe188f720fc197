"""The MIDI clock plan (core.clock): which message when, from a grid. Pure."""

from __future__ import annotations

import itertools

import pytest

from bridge.core.clock import CLOCK, CONTINUE, START, STOP, ClockPlan, Planned
from bridge.core.grid import Grid


def run(plan: ClockPlan, start: float, until: float, late: float = 0.0) -> list[Planned]:
    """Send every planned message up to ``until`` (each ``late`` after its time)."""
    out, now = [], start
    while (planned := plan.next(now)) is not None and planned.at <= until:
        out.append(planned)
        plan.sent(planned)
        now = max(now, planned.at + late)
    return out


def test_nothing_without_a_grid() -> None:
    assert ClockPlan().next(0.0) is None


def test_24_ticks_a_beat_on_the_grid() -> None:
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    sent = run(plan, 0.01, 1.0)
    assert all(p.status == CLOCK for p in sent)
    assert len(sent) == 48  # ticks 1..48 (0.5 s a beat); tick 0 was before the start
    assert sent[0].at == pytest.approx(0.5 / 24)
    assert sent[23].at == pytest.approx(0.5)


def test_planned_times_never_accumulate_lateness() -> None:
    """A sender 3 ms late each time still sends tick k at k/24 beat (planned, no drift)."""
    plan = ClockPlan()
    plan.set_grid(Grid(128, 0.0))
    sent = run(plan, 0.0, 10.0, late=0.003)
    assert sent[-1].at == pytest.approx(sent[-1].tick * 60 / 128 / 24)
    assert [p.tick for p in sent] == list(range(sent[0].tick or 0, (sent[-1].tick or 0) + 1))


def test_start_waits_for_the_downbeat() -> None:
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    plan.play()
    sent = run(plan, 0.3, 2.1)
    starts = [p for p in sent if p.status == START]
    assert len(starts) == 1 and starts[0].tick == 96  # the bar at 2.0 s
    after = sent[sent.index(starts[0]) + 1]
    assert after.status == CLOCK and after.tick == 96 and after.at == pytest.approx(2.0)
    assert sent[0].status == CLOCK  # ticks before it: the receiver sees the tempo


def test_stop_is_at_once_and_continue_on_the_next_tick() -> None:
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    run(plan, 0.0, 0.5)
    plan.stop()
    stop = plan.next(0.51)
    assert stop == Planned(0.51, STOP)
    plan.sent(stop)
    plan.resume()
    cont = plan.next(0.52)
    assert cont is not None and cont.status == CONTINUE and cont.at < 0.5 + 2 / 48


def test_a_grid_moved_back_sends_no_burst() -> None:
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    sent = run(plan, 0.0, 1.0)
    plan.set_grid(Grid(120, 0.01))  # 10 ms later: ticks move, none twice
    more = run(plan, 1.0, 2.0)
    gaps = [b.at - a.at for a, b in zip([sent[-1], *more], more, strict=False)]
    assert min(gaps) > 0.5 / 24 / 2


def test_a_new_tempo_is_followed_at_once() -> None:
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    run(plan, 0.0, 1.0)
    plan.set_grid(Grid(100, 1.0))
    more = run(plan, 1.0, 3.0)
    gaps = {round(b.at - a.at, 6) for a, b in itertools.pairwise(more)}
    assert gaps == {round(0.6 / 24, 6)}


def receiver_count(first: Planned, more: list[Planned]) -> list[int]:
    """The bar place (tick mod 96) a receiver counting from ``first`` gives each tick."""
    return [((first.tick or 0) + i) % 96 for i in range(1, len(more) + 1)]


@pytest.mark.parametrize("moved", [0.015, 0.2])
def test_a_grid_jumped_later_keeps_the_receivers_count(moved: float) -> None:
    """What is heard slipped later (15 ms: more than half a tick; 200 ms): one long
    interval, then the ticks go on in the bar where a receiver counting them expects."""
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    sent = run(plan, 0.0, 1.0)
    plan.set_grid(Grid(120, moved))
    more = run(plan, 1.0, 3.0)
    assert [(p.tick or 0) % 96 for p in more] == receiver_count(sent[-1], more)
    assert more[0].at == pytest.approx(1.0 + 0.5 / 24 + moved)
    assert all(p.at == pytest.approx(moved + (p.tick or 0) * 0.5 / 24) for p in more)


@pytest.mark.parametrize("moved", [0.015, 0.2])
def test_a_grid_jumped_earlier_is_caught_up_without_a_burst(moved: float) -> None:
    """Heard 15 ms (or 200 ms: ten ticks) earlier: no tick dropped from the count, none
    closer than a quarter interval, and on the new grid's times once caught up."""
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    sent = run(plan, 0.0, 1.0)
    plan.set_grid(Grid(120, -moved))
    more = run(plan, 1.0, 3.0)
    assert [(p.tick or 0) % 96 for p in more] == receiver_count(sent[-1], more)
    gaps = [b.at - a.at for a, b in itertools.pairwise([sent[-1], *more])]
    assert min(gaps) >= 0.5 / 24 / 4 - 1e-9
    assert more[-1].at == pytest.approx(-moved + (more[-1].tick or 0) * 0.5 / 24)


def test_a_grid_moved_half_a_beat_or_more_is_not_chased() -> None:
    """A new idea of where the beat is (a tracker's) is not caught up tick by tick:
    the ticks simply follow the new grid from the next one on time."""
    plan = ClockPlan()
    plan.set_grid(Grid(120, 0.0))
    sent = run(plan, 0.0, 1.0)
    plan.set_grid(Grid(120, -0.25))  # half a beat ahead
    more = run(plan, 1.0, 2.0)
    gaps = [b.at - a.at for a, b in itertools.pairwise([sent[-1], *more])]
    assert min(gaps) > 0.5 / 24 / 2
    assert all(p.at == pytest.approx(-0.25 + (p.tick or 0) * 0.5 / 24) for p in more)
