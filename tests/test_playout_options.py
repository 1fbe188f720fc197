"""The never-silent options: rig keys, `run` flags (flags win), the Player's checks, and
no stretching for an engine that renders on demand."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bridge.audio import simulate as sim
from bridge.audio.player import Player
from bridge.commands.run import add_rig_arguments, make_parts_audio, settings_from
from bridge.core.types import AudioChunk
from bridge.engines import supports
from bridge.errors import ConfigError, DeviceError
from bridge.rig import RigSettings, parse_rig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_rig_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_on_with_four_percent_and_twenty_seconds() -> None:
    """With nothing said, concealment (up to 20 s) is on and stretching is the latency
    preset's: ±4 % for a streamed engine's presets; none for ``low`` (a local engine), so
    its buffer holds no stretcher look-ahead (the played stream is the fed one, unchanged)."""
    settings, _ = settings_from(parse())
    assert (settings.stretch_limit, settings.conceal, settings.conceal_max) == (None, True, 20.0)
    chunk = np.sin(np.arange(4 * 48_000, dtype=np.float32) / 7.0)[:, None].repeat(2, axis=1)
    for latency, limit, held in (
        ("balanced", 0.04, True),
        ("safe", 0.04, True),
        ("low", 0.0, False),
    ):
        player = Player(output="none", latency=latency)
        player.start(clock_thread=False)
        player.feed(AudioChunk(samples=chunk, rate=48_000))
        out = np.zeros((2400, 2), dtype=np.float32)
        for _ in range(4):
            player.pull(out, 2400)  # 4 s fed: past every preset's start threshold
        assert player._renderer.steering.limit == limit
        assert (player._renderer.stretch.held > 0) is held


def test_rig_keys_and_flags_flags_winning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The rig file sets them; the command line overrides the rig file."""
    rig = tmp_path / "rig.toml"
    rig.write_text("stretch_limit = 0.02\nconceal = false\nconceal_max = 5\n")
    settings, _ = settings_from(parse("--rig", str(rig)))
    assert (settings.stretch_limit, settings.conceal, settings.conceal_max) == (0.02, False, 5.0)
    settings, _ = settings_from(
        parse("--rig", str(rig), "--stretch-limit", "0", "--conceal-max", "60")
    )
    assert (settings.stretch_limit, settings.conceal_max) == (0.0, 60.0)
    settings, _ = settings_from(parse("--no-conceal"))
    assert settings.conceal is False


def test_out_of_range_values_name_the_key_and_line() -> None:
    """stretch_limit over 0.1 or a conceal_max of 0 is an error naming key and line."""
    with pytest.raises(ConfigError) as err:
        parse_rig("latency = 'low'\nstretch_limit = 0.5\n", "rig.toml")
    assert "rig.toml:2" in str(err.value) and "stretch_limit" in str(err.value)
    with pytest.raises(ConfigError, match="conceal_max"):
        parse_rig("conceal_max = 0\n", "rig.toml")


def test_the_player_checks_its_own_arguments() -> None:
    """Constructed directly, the player rejects the same ranges with its allowed values."""
    with pytest.raises(DeviceError, match=r"stretch_limit must be in range 0\.\.0\.1"):
        Player(output="none", stretch_limit=0.2)
    with pytest.raises(DeviceError, match="conceal_max"):
        Player(output="none", conceal_max=0.0)


def test_the_loop_tempo_is_the_bpm_given_even_before_start() -> None:
    """set_bpm before start() is kept (the daemon passes the config's bpm when it replays
    its state); None hands the loop length back to the measured tempo."""
    player = Player(output="none")
    player.set_bpm(128.0)
    player.start(clock_thread=False)
    try:
        assert player.stats()["loop_bpm"] == 128.0
        player.set_bpm(None)
        assert player.stats()["loop_bpm"] is None  # nothing measured yet
    finally:
        player.close()


@pytest.mark.parametrize(("engine", "steered"), [("synth", False), ("lyria", True)])
def test_an_engine_rendering_on_demand_is_never_stretched(engine: str, steered: bool) -> None:
    """The player ``run`` makes for the embedded engine (it renders on demand) plays at
    exactly 1.0 even with its buffer under the target: a slower playout would not fill it,
    only lower the tempo a DJ hears. For a streamed engine it slows down."""
    settings = RigSettings(engine=engine, output="none", latency="balanced")  # target 1 s
    player, _ = make_parts_audio(settings, steer=not supports(engine).on_demand)
    player.start(clock_thread=False)
    try:
        tone = sim.tone()
        player.feed(AudioChunk(tone(48_000)))  # 1 s, played down to 0.7 s
        out = np.zeros((256, 2), dtype=np.float32)
        while player.fill_seconds > 0.7:
            player.pull(out, 256)
        for _ in range(100):  # 0.5 s more, topped up a block at a time: under the target
            player.feed(AudioChunk(tone(256)))
            player.pull(out, 256)
        stats = player.stats()
    finally:
        player.close()
    assert stats["underruns"] == 0 and stats["fill_seconds"] < 1.0, stats
    assert (stats["playout_ratio_min"] < 0.999) is steered, stats
    assert (stats["playout_ratio_max"] == stats["playout_ratio_min"] == 1.0) is not steered
