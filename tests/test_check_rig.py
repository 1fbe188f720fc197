"""``check`` on rig files: recognised by their keys even with a typo, and refusing what
``run`` refuses (the same line from both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import build_parser
from bridge.commands.check import check_one
from bridge.commands.run import settings_from
from bridge.config.schema import TOP_KEYS
from bridge.errors import ConfigError
from bridge.rig import looks_like_rig

RIG_WITH_TYPO = """\
engine = "synth"
output = "default"
latency = "balanced"
gian = 1.5
autoplay = true
chunk_seconds = 1.0
log_level = "info"
log_format = "text"
"""


def _write(tmp_path: Path, text: str, name: str = "rig.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rig_keys_win_over_one_typo() -> None:
    """Keys vote for the kind they belong to (or are closest to); a typo cannot flip it."""
    assert looks_like_rig(["engine", "gian"], TOP_KEYS)
    assert looks_like_rig(["gian"], TOP_KEYS)  # closest to a rig key
    assert not looks_like_rig(["slot", "bind"], TOP_KEYS)  # `slot` is closest to `slots`
    assert not looks_like_rig([], TOP_KEYS)
    assert not looks_like_rig(["use", "engine"], TOP_KEYS)  # a tie stays a mapping


def test_misspelt_key_in_rig_file_is_the_only_problem(tmp_path: Path) -> None:
    """A rig file with one misspelt key gets one problem with a did-you-mean, not eight."""
    problems = [str(p) for p in check_one(str(_write(tmp_path, RIG_WITH_TYPO)))]
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path}/rig.toml:4: gian: unknown key")
    assert problems[0].endswith("did you mean 'gain'?")


def test_status_off_loopback_without_token_refused_by_check_and_run(tmp_path: Path) -> None:
    """check reports what run refuses, with the same line: a public status address needs
    a token."""
    rig = _write(tmp_path, 'engine = "synth"\nstatus = "0.0.0.0:8780"\n')
    (problem,) = check_one(str(rig))
    assert (problem.file, problem.line, problem.key) == (str(rig), 2, "status")
    assert "needs a token" in problem.message and "0.0.0.0:8780" in problem.message
    args = build_parser().parse_args(["run", "--rig", str(rig)])
    with pytest.raises(ConfigError) as info:
        settings_from(args)
    assert info.value.problems == [problem]


def test_status_token_from_file_or_flag_is_accepted(tmp_path: Path) -> None:
    """With a token (in the file, or as a flag for run) the address is fine."""
    with_token = _write(tmp_path, 'status = "0.0.0.0:8780"\nstatus_token = "s3cret-pb"\n')
    assert check_one(str(with_token)) == []
    bare = _write(tmp_path, 'status = "0.0.0.0:8780"\n', "bare.toml")
    args = build_parser().parse_args(["run", "--rig", str(bare), "--status-token", "s3cret-pb"])
    settings, _ = settings_from(args)
    assert settings.status_token == "s3cret-pb"


def test_bad_status_port_reported_by_check(tmp_path: Path) -> None:
    """A status address whose port is not a number is a check problem, not a run crash."""
    rig = _write(tmp_path, 'status = "localhost:http"\n')
    (problem,) = check_one(str(rig))
    assert problem.line == 1 and "port must be a number in 0..65535" in problem.message


def test_unknown_mapping_named_by_rig_points_at_rig_line(tmp_path: Path) -> None:
    """The mappings a rig names are loaded as run loads them; an unknown name is reported
    at the rig's `mappings` line with a did-you-mean."""
    rig = _write(tmp_path, 'engine = "synth"\nmappings = ["nanokontrl2"]\n')
    (problem,) = check_one(str(rig))
    assert (problem.line, problem.key) == (2, "mappings")
    assert 'did you mean "nanokontrol2"?' in problem.message


def test_unsafe_key_file_reported_by_check(tmp_path: Path) -> None:
    """A key file readable by others is refused by run; check says so too."""
    key = _write(tmp_path, "k" * 39 + "\n", "key.txt")
    key.chmod(0o644)
    rig = _write(tmp_path, f'api_key_file = "{key}"\n')
    (problem,) = check_one(str(rig))
    assert problem.key == "api_key_file" and "chmod 600" in problem.message


def test_record_needs_a_wav_name_and_an_existing_folder(tmp_path: Path) -> None:
    """Recordings are WAV: an .mp3 name would hold WAV bytes; a missing folder would fail
    at start. check and run both refuse, naming the key's line."""
    for record, phrase in [
        (tmp_path / "set.mp3", "recordings are WAV files"),
        (tmp_path / "nope" / "set.wav", "no folder"),
    ]:
        rig = _write(tmp_path, f'engine = "synth"\nrecord = "{record}"\n')
        (problem,) = check_one(str(rig))
        assert (problem.line, problem.key) == (2, "record") and phrase in problem.message
        with pytest.raises(ConfigError):
            settings_from(build_parser().parse_args(["run", "--rig", str(rig)]))
    assert check_one(str(_write(tmp_path, f'record = "{tmp_path / "set.wav"}"\n'))) == []
