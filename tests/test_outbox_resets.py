"""The outbox's RESET_CONTEXT rule follows what the engine says needs one (pure)."""

from __future__ import annotations

from bridge.core.outbox import Outbox
from bridge.core.types import Change, Control, Playback, SetConfig
from bridge.engines import supports
from tests.test_outbox import run

RESET = Control(Playback.RESET_CONTEXT)


def test_no_reset_after_bpm_or_scale_for_an_engine_that_ignores_them() -> None:
    """Magenta declares no reset fields: a bpm or scale change is a plain config."""
    outbox = Outbox(resets=supports("magenta").resets)
    script = [(1.0, Change("config.bpm", 128)), (3.0, Change("config.scale", "D_MAJOR_B_MINOR"))]
    sent, perf, _ = run(script, outbox)
    assert [type(u) for _, u in sent] == [SetConfig, SetConfig]
    assert sent[-1][1] == SetConfig(perf.config)
    assert outbox.stats.resets == 0


def test_explicit_reset_still_goes_to_such_an_engine() -> None:
    """A performer's reset button is not a bpm side effect: it is always sent."""
    sent, _, _ = run([(1.0, Change("playback", "reset"))], Outbox(resets=frozenset()))
    assert [u for _, u in sent] == [RESET]


def test_lyria_keeps_its_reset_after_bpm() -> None:
    sent, perf, _ = run([(1.0, Change("config.bpm", 128))], Outbox(resets=supports("lyria").resets))
    assert [u for _, u in sent] == [SetConfig(perf.config), RESET]


def test_an_engine_may_name_other_fields() -> None:
    sent, perf, _ = run(
        [(1.0, Change("config.density", 0.2))], Outbox(resets=frozenset({"density"}))
    )
    assert [u for _, u in sent] == [SetConfig(perf.config), RESET]
