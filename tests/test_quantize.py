"""Launch quantization and the beat grid: pure, plain values, a simulated clock."""

from __future__ import annotations

import pytest

from bridge.config import loads
from bridge.core.drive import Driver
from bridge.core.grid import Grid
from bridge.core.instrument import Fade, Instrument, Send
from bridge.core.quantize import Quantizer
from bridge.core.types import Change, Control, MidiEvent, Playback, SetConfig

PROFILE = """
[controller]
name = "C"
port = "test"
channel = 1
clock = true
transport = true

[[slots]]
text = "techno"
weight = 1.0

[[scenes]]
name = "drop"
weights = { 1 = 0.5 }
glide = 2.0

[[bind]]
note = 36
target = "tap_tempo"
"""

GRID = Grid(bpm=120, downbeat=0.0)  # a bar every 2 s


def driver(quantize: str = "bar") -> Driver:
    d = Driver(Instrument(loads(PROFILE, "test"), quantize=quantize))  # type: ignore[arg-type]
    d.replay()
    d.feed(Change("playback", "play"))
    d.poll()
    return d


def sends(timed: list[tuple[float, object]]) -> list[tuple[float, object]]:
    return [(t, e.update) for t, e in timed if isinstance(e, Send)]


# --- the grid ---------------------------------------------------------------------------
def test_grid_positions_and_boundaries() -> None:
    """Bars and beats follow from one downbeat, forwards and backwards in time."""
    grid = Grid(bpm=120, downbeat=10.0)
    assert grid.next_boundary(10.1, "bar") == pytest.approx(12.0)
    assert grid.next_boundary(10.1, "beat") == pytest.approx(10.5)
    assert grid.next_boundary(12.0, "bar") == pytest.approx(12.0)  # on the line: now
    assert grid.next_boundary(7.9, "bar") == pytest.approx(8.0)
    where = grid.position(13.25)
    assert (where.bar, where.beat, where.phase) == (1, 2, pytest.approx(0.5))
    assert grid.status(10.0)["beat"] == 1


def test_grid_offset_is_the_nearest_beat() -> None:
    a, b = Grid(120, 0.0), Grid(120, 0.51)
    assert a.offset(b) == pytest.approx(-0.01)
    assert b.offset(a) == pytest.approx(0.01)


def test_grid_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="bpm must be a positive"):
        Grid(bpm=0, downbeat=0)


# --- the quantizer alone ------------------------------------------------------------------
def test_without_a_grid_everything_passes() -> None:
    """No tempo known: nothing to land on, changes apply at once (rule 2)."""
    d = driver()
    out = d.feed(Change("config.bpm", 128), now=0.3)
    assert any(isinstance(u, SetConfig) and u.config.bpm == 128 for _, u in sends(out))


def test_low_confidence_grid_is_ignored() -> None:
    d = driver()
    d.instrument.grid(Grid(120, 0.0, confidence=0.2))
    out = d.feed(Change("config.bpm", 128), now=0.3)
    assert any(isinstance(u, SetConfig) for _, u in sends(out))


def test_bpm_lands_on_the_next_bar_with_its_reset() -> None:
    """config.bpm waits for the bar at 2.0 s; SetConfig then RESET_CONTEXT go out there."""
    d = driver()
    d.instrument.grid(GRID)
    d.now = 0.3
    outcome = d.instrument.apply(Change("config.bpm", 128), 0.3)
    assert outcome.refused is None and "lands on the grid in 1.70 s" in (outcome.note or "")
    assert sends(d.poll()) == []
    assert d.instrument.quantizer.next_deadline() == pytest.approx(2.0)
    out = sends(d.advance(2.5))
    assert [t for t, _ in out] == [pytest.approx(2.0)] * 2
    assert isinstance(out[0][1], SetConfig) and out[0][1].config.bpm == 128
    assert out[1][1] == Control(Playback.RESET_CONTEXT)


def test_engine_lead_releases_early_so_it_is_heard_on_the_bar() -> None:
    """With 0.4 s from the instrument to the ear, the change leaves at 1.6 s (rule 3)."""
    d = driver()
    d.instrument.grid(GRID, engine_lead=0.4)
    d.feed(Change("config.scale", "D_MAJOR_B_MINOR"), now=0.3)
    out = sends(d.advance(3.0))
    assert out and out[0][0] == pytest.approx(1.6)


def test_a_lead_past_the_boundary_takes_the_following_bar() -> None:
    d = driver()
    d.instrument.grid(GRID, engine_lead=0.4)
    d.feed(Change("config.bpm", 100), now=1.7)  # 1.7 + 0.4 is past the bar at 2.0
    out = sends(d.advance(5.0))
    assert out[0][0] == pytest.approx(3.6)


def test_beat_mode_lands_on_the_next_beat() -> None:
    d = driver("beat")
    d.instrument.grid(GRID)
    d.feed(Change("config.bpm", 100), now=0.3)
    out = sends(d.advance(3.0))
    assert out[0][0] == pytest.approx(0.5)


def test_off_mode_applies_at_once() -> None:
    d = driver("off")
    d.instrument.grid(GRID)
    out = d.feed(Change("config.bpm", 100), now=0.3)
    assert sends(out)


def test_a_swept_knob_lands_once_at_its_final_value() -> None:
    """Held changes of one target coalesce (rule 4): one SetConfig, one reset."""
    d = driver()
    d.instrument.grid(GRID)
    for i, bpm in enumerate((121, 125, 130, 134)):
        d.feed(Change("config.bpm", bpm), now=0.2 + 0.1 * i)
    out = sends(d.advance(3.0))
    configs = [u for _, u in out if isinstance(u, SetConfig)]
    resets = [u for _, u in out if u == Control(Playback.RESET_CONTEXT)]
    assert [c.config.bpm for c in configs] == [134] and len(resets) == 1


def test_other_targets_pass_at_once() -> None:
    """Weights, density, pause are not hard changes: they never wait."""
    d = driver()
    d.instrument.grid(GRID)
    out = d.feed(Change("config.density", 0.3), now=0.3)
    assert any(isinstance(u, SetConfig) for _, u in sends(out))
    out = d.feed(Change("playback", "pause"), now=0.4)
    assert Control(Playback.PAUSE) in [u for _, u in sends(out)]


def test_stop_fades_on_the_bar_with_the_output_lead() -> None:
    """STOP is heard through the local fade: released the sound card's latency early."""
    d = driver()
    d.instrument.grid(GRID, engine_lead=1.0, output_lead=0.01)
    d.feed(Change("playback", "stop"), now=0.3)
    out = d.advance(3.0)
    fades = [(t, e) for t, e in out if isinstance(e, Fade)]
    assert fades == [(pytest.approx(1.99), Fade("out", flush=True))]


def test_scene_glide_starts_at_the_bar() -> None:
    """A recalled scene's 2 s glide starts at the boundary, not at the press."""
    d = driver()
    d.instrument.grid(GRID)
    d.feed(Change("scene.recall", "drop"), now=0.5)
    assert d.instrument.perf.slots[0].weight == 1.0
    d.advance(3.0)
    assert d.instrument.perf.slots[0].weight == pytest.approx(1.0 - 0.5 * 1.0 / 2.0)
    d.advance(4.5)
    assert d.instrument.perf.slots[0].weight == pytest.approx(0.5)


def test_a_refused_change_is_refused_at_once() -> None:
    """Rule 5: a bad scene or scale is refused now, with the Performance's reason."""
    d = driver()
    d.instrument.grid(GRID)
    assert "no scene" in (d.instrument.apply(Change("scene.recall", "nope"), 0.3).refused or "")
    refused = d.instrument.apply(Change("config.scale", "H_MAJOR"), 0.3).refused
    assert refused and "config.scale" in refused
    assert d.instrument.next_deadline() is None or d.instrument.quantizer.held == ()


def test_a_new_grid_retimes_what_waits() -> None:
    d = driver()
    d.instrument.grid(GRID)
    d.feed(Change("config.bpm", 100), now=0.3)
    d.instrument.grid(Grid(bpm=120, downbeat=0.5))
    assert d.instrument.quantizer.next_deadline() == pytest.approx(0.5)
    d.instrument.grid(None)  # grid lost: release at the next poll
    assert d.instrument.quantizer.next_deadline() == pytest.approx(0.3)


def test_tap_sets_the_phase_last_tap_is_the_downbeat() -> None:
    """Taps at 125 bpm: the grid's downbeat is the last tap; the bpm is heard a bar later."""
    d = driver()
    d.instrument.grid(GRID, engine_lead=0.3)
    beat = 60 / 125
    for i in range(4):
        d.feed(MidiEvent("note_on", 0, 36, 100, "test", 0), now=10.0 + i * beat)
    last = 10.0 + 3 * beat
    grid = d.instrument.quantizer.grid
    assert grid is not None and grid.source == "tap" and grid.downbeat == pytest.approx(last)
    out = sends(d.advance(20.0))
    configs = [(t, u) for t, u in out if isinstance(u, SetConfig)]
    assert configs[-1][1].config.bpm == 125
    assert configs[-1][0] == pytest.approx(last + 4 * beat - 0.3)


def test_midi_start_sets_the_phase() -> None:
    """Clock at 100 bpm, then Start: a downbeat at the Start; its reset waits for nothing
    (it *is* on the downbeat), so the clock's DJ starts the bar."""
    d = driver()
    tick = 60 / 100 / 24
    for i in range(60):
        d.feed(MidiEvent("clock", -1, 0, 0, "test", 0), now=1.0 + i * tick)
    d.advance(5.0)
    start = 5.0
    d.feed(MidiEvent("start", -1, 0, 0, "test", 0), now=start)
    grid = d.instrument.quantizer.grid
    assert grid is not None and grid.source == "midi clock"
    assert grid.bpm == 100 and grid.downbeat == start


def test_quantizer_status_names_what_waits() -> None:
    q = Quantizer()
    q.set_grid(GRID)
    status = q.status(0.5)
    assert status["mode"] == "bar" and status["active"] is True and status["held"] == []


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="quantize must be one of bar, beat, off"):
        Quantizer("bars")  # type: ignore[arg-type]


def test_an_engine_landing_on_its_beats_gets_changes_half_a_beat_early() -> None:
    """The embedded engine applies a reset on its next beat: released at bar - lead - 0.7
    beat, its next beat is the bar."""
    d = driver()
    d.instrument.grid(GRID, engine_lead=0.4, on_beats=True)
    d.feed(Change("config.bpm", 100), now=0.3)
    out = sends(d.advance(3.0))
    assert out[0][0] == pytest.approx(2.0 - 0.4 - 0.7 * 0.5)


def test_a_lead_that_grew_under_a_held_change_moves_it_to_the_next_bar() -> None:
    """The rig's beat-late bpm move: timed with a lead of 0.4 s, the buffer then fills to
    0.9 s before the release. Released then, the engine's next beat would be heard at
    2.5 s, a beat after the bar; it waits for the bar it can still reach, 4.0 s (rule 7)."""
    d = driver()
    d.instrument.grid(GRID, engine_lead=0.4, on_beats=True)
    d.feed(Change("config.bpm", 100), now=0.3)
    assert d.instrument.quantizer.next_deadline() == pytest.approx(2.0 - 0.4 - 0.35)
    d.advance(1.2)
    d.instrument.quantizer.set_leads(0.9, 0.0, on_beats=True)  # what sync does each refresh
    out = sends(d.advance(5.0))
    assert out[0][0] == pytest.approx(4.0 - 0.9 - 0.35)
    assert isinstance(out[0][1], SetConfig) and out[0][1].config.bpm == 100


def test_a_release_late_within_the_engines_slack_still_goes() -> None:
    """A loop held up 0.1 s past the release: the on-beats engine still lands it on the
    bar (0.4 beat of slack), so it goes at once; a model's change 0.1 s late would be
    heard after the bar, so it waits for the next one (rule 7)."""
    d = driver()
    d.instrument.grid(GRID, engine_lead=0.4, on_beats=True)
    d.feed(Change("config.bpm", 100), now=0.3)
    d.now = 1.25 + 0.1
    assert sends(d.poll())[0][0] == pytest.approx(1.35)
    model = driver()
    model.instrument.grid(GRID, engine_lead=0.4)
    model.feed(Change("config.bpm", 100), now=0.3)
    model.now = 1.6 + 0.1
    assert sends(model.poll()) == []
    assert model.instrument.quantizer.held[0].boundary == pytest.approx(4.0)
