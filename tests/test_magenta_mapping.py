"""Keys and pads in the mapping language: the ``notes`` source, the ``notes``/``drums``
targets, the mapper's events, ``check --engine``, and the daemon handing them over."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
from pathlib import Path

import pytest

from bridge.audio.player import Player
from bridge.cli import main
from bridge.commands.run import make_engine
from bridge.config import load_mapping, loads, mappings_dir
from bridge.config.engine_check import engine_problems
from bridge.core.drive import Driver
from bridge.core.instrument import Instrument, PlayNote
from bridge.core.mapper import Mapper
from bridge.core.types import Change, MidiEvent
from bridge.daemon import Daemon, Parts
from bridge.engines import create_engine, supports
from bridge.engines.magenta.system import MagentaUnavailable
from bridge.errors import ConfigError
from bridge.rig import RigSettings
from tests.fake_magenta import FakeMagentaRT2Jax

KEYS = """
[controller]
name = "Keys"
port = "Keystation"
channel = 1

[[slots]]
text = "piano"
weight = 1.0

[[bind]]
notes = [36, 96]
target = "notes"

[[bind]]
notes = [36, 51]
channel = 10
target = "drums"

[[bind]]
note = 30
target = "playback"
value = "play"
"""
EXAMPLE = mappings_dir() / "examples" / "magenta_keys.toml"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads(text, "bad.toml")
    return [str(p) for p in info.value.problems]


def test_a_notes_source_is_a_keyboard_range() -> None:
    mapping = loads(KEYS)
    keys, pads = mapping.bindings[0], mapping.bindings[1]
    assert (keys.source.kind, keys.source.number, keys.source.top) == ("notes", 36, 96)
    assert keys.source.describe() == "notes 36-96 ch 1"
    assert (pads.source.channel, pads.target) == (9, "drums")


@pytest.mark.parametrize(
    ("bind", "message"),
    [
        ('notes = [60, 48]\ntarget = "notes"', "low note must not be above high note"),
        ('notes = [60]\ntarget = "notes"', "a keyboard range is [low, high]"),
        ('notes = [0, 200]\ntarget = "notes"', "200"),
        ('notes = "all"\ntarget = "slot.1.weight"', 'a notes range plays "notes" or "drums"'),
        ('cc = 7\ntarget = "notes"', "notes takes keys or pads"),
        ('notes = "all"\ntarget = "notes"\nrange = [0, 1]', "notes bindings take no range"),
    ],
)
def test_bad_note_bindings_say_what_is_allowed(bind: str, message: str) -> None:
    text = KEYS.split("[[bind]]")[0] + "[[bind]]\n" + bind + "\n"
    problems = _problems(text)
    assert any(message in p and p.startswith("bad.toml:") for p in problems), problems


def test_a_pad_inside_the_keyboard_range_on_its_channel_clashes() -> None:
    problems = _problems(KEYS + '\n[[bind]]\nnote = 60\ntarget = "playback"\nvalue = "stop"\n')
    assert any("same source" in p for p in problems), problems


def test_mapper_turns_keys_into_note_events_and_pads_into_hits() -> None:
    mapper = Mapper(loads(KEYS))

    def play(kind: str, channel: int, note: int, velocity: int) -> list[Change]:
        event = MidiEvent(kind, channel, note, velocity, port="Keys")  # type: ignore[arg-type]
        return mapper.handle(event, 0.0, lambda target: None)

    assert play("note_on", 0, 60, 100) == [Change("notes.on", 60, source="Keys notes 36-96 ch 1")]
    assert [c.target for c in play("note_on", 0, 60, 90)] == ["notes.on"]  # a repeat
    assert [(c.target, c.value) for c in play("note_off", 0, 60, 0)] == [("notes.off", 60)]
    assert play("note_on", 0, 97, 100) == []  # outside the range
    assert [(c.target, c.value) for c in play("note_on", 9, 38, 120)] == [("drums.hit", 38)]
    assert play("note_off", 9, 38, 0) == []
    assert [c.value for c in play("note_on", 0, 30, 100)] == ["play"]  # other bindings work


def test_check_names_the_engine_that_cannot_play_keys() -> None:
    mapping = load_mapping([EXAMPLE])
    assert engine_problems(mapping, "magenta", supports("magenta")) == []
    problems = engine_problems(mapping, "lyria", supports("lyria"))
    assert len(problems) == 2 and all("the lyria engine has none" in str(p) for p in problems)
    assert all(str(p).startswith(f"{EXAMPLE}:") for p in problems)


def test_check_command_with_engine() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["check", "--engine", "magenta", str(EXAMPLE)]) == 0
        assert main(["check", "--engine", "synth", str(EXAMPLE)]) == 1
    assert "the synth engine has none" in out.getvalue()


def test_the_instrument_passes_keys_on_first_and_keeps_no_state_of_them() -> None:
    """Keys are events: each becomes a PlayNote, in order, ahead of the wire updates of the
    same poll; the performance (what is saved and shown) does not change."""
    driver = Driver(Instrument(loads(KEYS)), port="Keys")
    driver.replay()
    before = driver.instrument.perf.snapshot()
    driver.give(b"\x90\x40\x64")  # note on 64, channel 1
    driver.give(b"\x90\x43\x64")
    driver.give(b"\x80\x40\x00")
    driver.give(b"\x99\x24\x7f")  # a pad on channel 10
    effects = [e for _, e in driver.poll()]
    notes = [e.change for e in effects if isinstance(e, PlayNote)]
    assert [(c.target, c.value) for c in notes] == [
        ("notes.on", 64),
        ("notes.on", 67),
        ("notes.off", 64),
        ("drums.hit", 36),
    ]
    assert isinstance(effects[0], PlayNote)
    assert driver.instrument.perf.snapshot() == before
    assert driver.instrument.counters.refused == 0
    assert [e for _, e in driver.poll() if isinstance(e, PlayNote)] == []


@pytest.mark.anyio
async def test_the_daemon_plays_keys_into_the_engine_and_asks_no_reset_for_bpm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running daemon (fake model, no sound device): a key reaches the model's roll,
    and the outbox has no reset fields for magenta."""
    path = tmp_path / "keys.toml"
    path.write_text(KEYS)
    engine = create_engine("magenta", frames=5, model_class=FakeMagentaRT2Jax)
    root = tmp_path / "home" / "magenta-rt-v2"
    (root / "resources").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "mrt2_small.safetensors").write_bytes(b"")
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path / "home"))
    daemon = Daemon(RigSettings(), load_mapping([path]), Parts(engine, Player(output="none")))
    task = asyncio.create_task(daemon.run())
    async with asyncio.timeout(20):
        await daemon.started.wait()
        daemon.on_midi(MidiEvent("note_on", 0, 64, 100, port="Keys"))
        while engine.status()["held_notes"] != [64]:
            await asyncio.sleep(0.01)
    daemon.stop()
    assert await task == 0
    assert daemon.instrument.outbox.resets == frozenset()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_reload_into_keys_on_an_engine_without_notes_keeps_the_old_mapping(tmp_path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(KEYS.split("[[bind]]")[0] + '[[bind]]\ncc = 1\ntarget = "slot.1.weight"\n')
    parts = Parts(create_engine("synth"), Player(output="none"))
    daemon = Daemon(RigSettings(), load_mapping([path]), parts)
    old = daemon.mapping
    path.write_text(KEYS)
    assert daemon.reload() is False and daemon.mapping is old


def test_no_rotate_makes_rotation_never_due() -> None:
    engine = make_engine(RigSettings(engine="lyria", url="ws://127.0.0.1:9/x", rotate=False))
    assert math.isinf(engine.settings.rotate_after)  # type: ignore[attr-defined]
    engine = make_engine(RigSettings(engine="lyria", url="ws://127.0.0.1:9/x"))
    assert engine.settings.rotate_after == 500.0  # type: ignore[attr-defined]


def test_rig_engine_magenta_fails_in_one_line_without_the_model(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))
    with pytest.raises(MagentaUnavailable):
        make_engine(RigSettings(engine="magenta", magenta_frames=10, magenta_size="mrt2_base"))


def test_a_rig_file_is_checked_against_its_engine(tmp_path: Path) -> None:
    """A rig naming lyria and a keyboard performance: check names the engine and the line."""
    rig = tmp_path / "rig.toml"
    rig.write_text(f'engine = "lyria"\nmappings = ["{EXAMPLE}"]\n')
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["check", str(rig)]) == 1
        rig.write_text(f'engine = "magenta"\nmappings = ["{EXAMPLE}"]\n')
        assert main(["check", str(rig)]) == 0
    assert out.getvalue().count("the lyria engine has none") == 2
