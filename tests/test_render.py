"""``promptbridge render`` writes a real audio file with the requested controls (CLI, files)."""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge import analysis
from bridge.cli import main
from bridge.commands.render import parse_prompt


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as f:
        assert f.getsampwidth() == 2
        frames = f.readframes(f.getnframes())
        samples = np.frombuffer(frames, dtype="<i2").reshape(-1, f.getnchannels())
        return samples.astype(np.float32) / 32767.0, f.getframerate()


def test_render_writes_the_requested_length_and_tempo(tmp_path: Path) -> None:
    """render writes 16-bit stereo 48 kHz audio of the asked length at the asked bpm."""
    out = tmp_path / "out.wav"
    code = main(
        [
            "render",
            "--prompt",
            "deep house:1.0",
            "--prompt",
            "rhodes:0.5",
            "--bpm",
            "124",
            "--seconds",
            "6",
            "--seed",
            "42",
            str(out),
        ]
    )
    assert code == 0
    samples, rate = read_wav(out)
    assert rate == 48_000 and samples.shape == (6 * 48_000, 2)
    assert analysis.tempo(samples, rate, 124 / 1.45, 124 * 1.45) == pytest.approx(124, rel=0.02)


def test_render_passes_every_control(tmp_path: Path) -> None:
    """The control flags reach the engine: muting the drums empties the hats band."""
    args = [
        "render",
        "--prompt",
        "techno",
        "--seconds",
        "4",
        "--seed",
        "1",
        "--density",
        "0.8",
        "--brightness",
        "0.7",
        "--scale",
        "D_MAJOR_B_MINOR",
        "--temperature",
        "0.5",
        "--top-k",
        "10",
        "--guidance",
        "5",
        "--mode",
        "DIVERSITY",
    ]
    assert main([*args, str(tmp_path / "full.wav")]) == 0
    assert main([*args, "--mute-drums", "--mute-bass", str(tmp_path / "bare.wav")]) == 0
    assert main([*args, "--only-bass-and-drums", str(tmp_path / "only.wav")]) == 0
    full, rate = read_wav(tmp_path / "full.wav")
    bare, _ = read_wav(tmp_path / "bare.wav")
    only, _ = read_wav(tmp_path / "only.wav")
    hats = analysis.band_energy(full, rate, 6000, 20000) / analysis.band_energy(
        bare, rate, 6000, 20000
    )
    assert analysis.db(hats) > 10
    low = analysis.band_energy(full, rate, 20, 150) / analysis.band_energy(bare, rate, 20, 150)
    assert analysis.db(low) > 10
    mid = analysis.band_energy(full, rate, 300, 3000) / analysis.band_energy(only, rate, 300, 3000)
    assert analysis.db(mid) > 6
    b_minor = {2, 4, 6, 7, 9, 11, 1}
    assert analysis.scale_fraction(full, rate, b_minor) >= 0.75


def test_same_seed_same_file(tmp_path: Path) -> None:
    """Rendering twice with the same seed gives byte-identical WAV files."""
    for name in ("a.wav", "b.wav"):
        assert (
            main(
                [
                    "render",
                    "--prompt",
                    "lo-fi hip hop",
                    "--seconds",
                    "2",
                    "--seed",
                    "5",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "x:0"], "prompt weight must be non-zero"),
        (["--prompt", "x", "--density", "1.5"], "out of range: 1.5 (allowed 0..1"),
        (["--prompt", "x", "--bpm", "300"], "out of range: 300 (allowed 60..200"),
        (["--prompt", "x", "--scale", "H_MAJOR"], "invalid choice"),
        (["--prompt", "x", "--engine", "nope"], "unknown engine 'nope'"),
        (["--prompt", "x", "--seconds", "0"], "--seconds must be positive"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Bad flags exit non-zero with one line naming the problem, and write no file."""
    out = tmp_path / "o.wav"
    try:
        code = main(["render", *args, str(out)])
    except SystemExit as exc:  # argparse's own errors (exit status 2)
        code = int(exc.code or 0)
    stderr = capsys.readouterr().err
    assert code != 0
    error_lines = [line for line in stderr.splitlines() if message in line]
    assert len(error_lines) == 1
    assert "Traceback" not in stderr
    assert not out.exists()


def test_parse_prompt() -> None:
    """TEXT:WEIGHT splits on the last colon; no weight means 1.0; a colon in text is kept."""
    assert parse_prompt("deep house:0.5") == parse_prompt(" deep house :0.5")
    assert parse_prompt("deep house").weight == 1.0
    assert parse_prompt("ratio 3:2 groove").text == "ratio 3:2 groove"
    assert parse_prompt("minimal:-0.5").weight == -0.5


def test_render_works_with_the_lyria_engine(tmp_path: Path) -> None:
    """render drives the lyria engine too: against a real loopback server serving the synth,
    the audio equals a local synth render to within one 16-bit step (the wire is int16)."""
    import asyncio

    from bridge.commands.render import render
    from bridge.core.types import GenerationConfig, WeightedPrompt
    from bridge.engines import create_engine
    from bridge.server.lyria_server import bound_port, start_server

    prompts = (WeightedPrompt("funk", 1.0),)
    config = GenerationConfig(seed=3, bpm=100)

    async def remote() -> np.ndarray:
        _, server = await start_server(
            lambda: create_engine("synth", chunk_seconds=1.0), "127.0.0.1", 0
        )
        try:
            path = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateMusic"
            url = f"ws://127.0.0.1:{bound_port(server)}{path}"
            samples, rate = await asyncio.wait_for(
                render("lyria", prompts, config, 3.0, url=url, api_key=None), 60
            )
        finally:
            server.close()
            await server.wait_closed()
        assert rate == 48_000
        return samples

    far = asyncio.run(remote())
    near, _ = asyncio.run(render("synth", prompts, config, 3.0, chunk_seconds=1.0))
    assert far.shape == near.shape == (3 * 48_000, 2)
    assert np.abs(far - near).max() <= 1.5 / 32767


def test_lyria_without_a_key_fails_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine lyria against Google with no API key is one clear error, not a long wait."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    code = main(["render", "--engine", "lyria", "--prompt", "funk", str(tmp_path / "o.wav")])
    assert code == 1
    assert "needs an API key" in capsys.readouterr().err


def test_weight_that_is_not_a_number_is_an_error() -> None:
    """`techno:loud` is a bad weight, not a prompt text; a spaced tail is still text, and a
    text ending in `:word` takes an explicit weight."""
    with pytest.raises(argparse.ArgumentTypeError, match="prompt weight 'loud' is not a number"):
        parse_prompt("techno:loud")
    assert parse_prompt("reggae dub: skank guitar").text == "reggae dub: skank guitar"
    assert parse_prompt("genre:techno:1") == parse_prompt("genre:techno:1.0")
    assert parse_prompt("genre:techno:1").text == "genre:techno"


@pytest.mark.parametrize(
    ("name", "magic"),
    [("o.flac", b"fLaC"), ("o.ogg", b"OggS"), ("o.mp3", b"\xff"), ("o.WAV", b"RIFF")],
)
def test_output_format_follows_the_extension(tmp_path: Path, name: str, magic: bytes) -> None:
    """FLAC, Ogg Vorbis and MP3 files carry their own format's bytes, not WAV's."""
    out = tmp_path / name
    assert main(["render", "--prompt", "techno", "--seconds", "1", "--seed", "1", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(magic) or (name.endswith("mp3") and data.startswith(b"ID3"))
    if not name.endswith("WAV"):
        assert not data.startswith(b"RIFF")


def test_flac_holds_the_same_samples_as_wav(tmp_path: Path) -> None:
    """FLAC is lossless: decoded, it equals the WAV render of the same seed."""
    import soundfile

    for name in ("a.wav", "a.flac"):
        args = ["render", "--prompt", "techno", "--seconds", "1", "--seed", "4"]
        assert main([*args, str(tmp_path / name)]) == 0
    wav, _ = soundfile.read(tmp_path / "a.wav", dtype="int16")
    flac, rate = soundfile.read(tmp_path / "a.flac", dtype="int16")
    assert rate == 48_000 and (wav == flac).all()


def test_unknown_extension_is_refused_before_rendering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An extension with no known format is one clear line, and nothing is written."""
    out = tmp_path / "o.aiff"
    assert main(["render", "--prompt", "techno", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"promptbridge: cannot write {out}: the format follows the extension "
        "(got '.aiff'; allowed .wav, .flac, .ogg, .mp3)"
    )
    assert not out.exists()


def test_unseeded_renders_differ_and_print_a_reproducible_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --seed each render draws a seed (as the model does) and prints it; passing
    the printed seed renders the same file again."""
    args = ["render", "--prompt", "lo-fi hip hop", "--seconds", "2"]
    seeds = []
    for name in ("a.wav", "b.wav"):
        assert main([*args, str(tmp_path / name)]) == 0
        seeds.append(capsys.readouterr().out.strip().rsplit("seed ", 1)[1].rstrip(")"))
    assert (tmp_path / "a.wav").read_bytes() != (tmp_path / "b.wav").read_bytes()
    assert main([*args, "--seed", seeds[0], str(tmp_path / "again.wav")]) == 0
    assert (tmp_path / "again.wav").read_bytes() == (tmp_path / "a.wav").read_bytes()
