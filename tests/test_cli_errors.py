"""Command-line mistakes are one error line and one hint, not argparse's whole usage."""

from __future__ import annotations

import os
import sys

import pytest

from bridge.cli import main


@pytest.mark.parametrize(
    ("argv", "error", "command"),
    [
        (["render", "x.wav"], "the following arguments are required: --prompt", "render"),
        (["run", "--latency", "fast"], "argument --latency: invalid choice: 'fast'", "run"),
        (["run", "--bogus"], "unrecognized arguments: --bogus", "run"),
        (["check"], "the following arguments are required: FILE", "check"),
        (["nope"], "argument COMMAND: invalid choice: 'nope'", ""),
        (["--bogus"], "unrecognized arguments: --bogus", ""),
    ],
)
def test_argparse_error_is_one_line_and_a_hint(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str, command: str
) -> None:
    """Exit 2 with `promptbridge: error: ...` and a hint naming the command's --help."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2, captured.err
    assert lines[0].startswith("promptbridge: error: ") and error in lines[0]
    prog = f"promptbridge {command}".strip()
    assert lines[1] == f"hint: {prog} --help lists the options"
    assert captured.out == ""


def test_output_into_a_closed_pipe_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check --show ... | head`: the reader leaving ends the command quietly, exit 0."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    with open(write_end, "w", buffering=1, encoding="utf-8") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        assert main(["check", "--show", "generic"]) == 0
        monkeypatch.undo()
