"""The Instrument: inputs in, effects out, decided from the accepted state (pure)."""

from __future__ import annotations

import math

import pytest

from bridge.config import loads
from bridge.core.drive import Driver
from bridge.core.instrument import (
    Fade,
    Feedback,
    Instrument,
    Record,
    SaveState,
    Send,
    SetGain,
    StatusChanged,
)
from bridge.core.types import Change, Control, MidiEvent, Playback, SetPrompts

PROFILE = """
[controller]
name = "C"
port = "test"
output = "test out"
channel = 1

[[slots]]
text = "techno"
weight = 1.0
[[slots]]
text = "dub"

[[bind]]
cc = 7
target = "master_volume"
takeover = "immediate"

[[bind]]
cc = 20
target = "slot.2.weight"
takeover = "immediate"
feedback = true
"""


def driver(rig_gain: float = 1.0) -> Driver:
    d = Driver(Instrument(loads(PROFILE, "test"), rig_gain=rig_gain))
    d.replay()
    d.poll()
    return d


def effects(timed: list[tuple[float, object]], kind: type) -> list[object]:
    return [e for _, e in timed if isinstance(e, kind)]


def test_a_refused_volume_never_reaches_the_audio() -> None:
    """master_volume = NaN is refused with a reason; no gain effect follows."""
    d = driver()
    out = d.feed(Change("master_volume", math.nan))
    assert d.outcomes[-1].refused == "master_volume must be a number in 0..1"
    assert effects(out, SetGain) == []
    assert d.instrument.perf.master_volume == 1.0


def test_a_clamped_volume_plays_as_shown_and_is_said() -> None:
    """master_volume = 1.5 is applied as 1.0 (what the status shows), times the rig gain."""
    d = driver(rig_gain=0.8)
    d.feed(Change("master_volume", 0.5))
    out = d.feed(Change("master_volume", 1.5))
    assert d.outcomes[-1].refused is None
    assert d.outcomes[-1].note == "master_volume: 1.5 is outside 0..1, set to 1"
    assert effects(out, SetGain) == [SetGain(0.8)]


def test_gain_is_emitted_only_when_it_changes() -> None:
    d = driver()
    first = d.feed(Change("master_volume", 0.25))
    again = d.feed(Change("master_volume", 0.25))
    assert effects(first, SetGain) == [SetGain(0.25)] and effects(again, SetGain) == []


def test_a_restored_volume_reaches_the_player() -> None:
    """A volume from the saved state is emitted on the first poll after the restore."""
    instrument = Instrument(loads(PROFILE, "test"), rig_gain=0.5)
    assert instrument.restore({"master_volume": 0.4}) == []
    d = Driver(instrument)
    assert effects(d.poll(), SetGain) == [SetGain(0.2)]


def test_a_knob_moves_volume_through_the_mapper() -> None:
    d = driver()
    out = d.feed(bytes([0xB0, 7, 0]))
    assert effects(out, SetGain) == [SetGain(0.0)]


def test_playback_brings_its_local_fade_before_the_wire_control() -> None:
    """PLAY fades in, PAUSE fades out, STOP fades out and flushes: each before it is sent."""
    d = driver()
    plays = [e for _, e in d.feed(Change("playback", "play")) if isinstance(e, Fade | Send)]
    assert plays[-2:] == [Fade("in"), Send(Control(Playback.PLAY))]
    pause = [e for _, e in d.feed(Change("playback", "pause")) if isinstance(e, Fade | Send)]
    assert pause == [Fade("out"), Send(Control(Playback.PAUSE))]
    stop = [e for _, e in d.feed(Change("playback", "stop")) if isinstance(e, Fade | Send)]
    assert stop == [Fade("out", flush=True), Send(Control(Playback.STOP))]


def test_recording_follows_the_record_flag() -> None:
    d = driver()
    assert effects(d.feed(Change("record", "start")), Record) == [Record(True)]
    assert effects(d.feed(Change("record", "start")), Record) == []
    assert effects(d.feed(Change("record", "toggle")), Record) == [Record(False)]


def test_a_recorder_that_stopped_by_itself_is_shown_stopped_and_can_restart() -> None:
    d = driver()
    d.feed(Change("record", "start"))
    d.instrument.recording_stopped(d.now)
    assert d.instrument.current("record") is False
    assert effects(d.poll(), Record) == []
    assert effects(d.feed(Change("record", "start")), Record) == [Record(True)]


def test_state_is_saved_once_a_second_after_the_first_change() -> None:
    """A burst of changes is saved once, one second after it began, then nothing is due."""
    d = driver()
    out = d.run([(10.0 + i * 0.1, Change("slot.2.weight", i / 10)) for i in range(5)])
    saves = [(t, e) for t, e in out if isinstance(e, SaveState)]
    assert [t for t, _ in saves] == [pytest.approx(11.0)]
    assert saves[0][1].snapshot["slots"][1]["weight"] == 0.4
    assert d.instrument.next_deadline() is None


def test_feedback_follows_the_state() -> None:
    """A change from any input (here the status API) lights the controller's LED."""
    d = driver()
    out = d.feed(Change("slot.2.weight", 2.0))
    assert Feedback("C", MidiEvent("cc", 0, 20, 127)) in effects(out, Feedback)


def test_a_refused_change_changes_nothing_and_says_why() -> None:
    d = driver()
    before = d.instrument.perf.snapshot()
    out = d.feed(Change("config.bpm", "fast"))
    assert d.outcomes[-1].refused is not None and "config.bpm must be a whole number" in str(
        d.outcomes[-1].refused
    )
    assert d.instrument.perf.snapshot() == before
    assert effects(out, StatusChanged) == [] and d.instrument.counters.refused == 1


def test_reload_keeps_the_running_state_and_rearms_takeover() -> None:
    d = driver()
    d.feed(Change("slot.2.weight", 1.2))
    d.instrument.reload(loads(PROFILE.replace('"dub"', '"dub techno"'), "test"), d.now)
    assert d.instrument.current("slot.2.weight") == 1.2
    assert d.instrument.current("slot.2.text") == "dub techno"
    out = d.advance(d.now + 0.1)
    sent = [e.update for e in effects(out, Send) if isinstance(e, Send)]
    assert any(isinstance(u, SetPrompts) and len(u.prompts) == 2 for u in sent)
