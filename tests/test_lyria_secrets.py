"""Where the API key comes from, and that a key file others can read is refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bridge.errors import SecretError
from bridge.logs import RedactingFilter
from bridge.secrets import load_api_key, read_key_file, require_api_key
from tests.fakekeys import fake_key

KEY = fake_key("SySecretsTestKey_abcdefghijklmnop")


def key_file(tmp_path: Path, mode: int, text: str = KEY + "\n") -> Path:
    path = tmp_path / "gemini.key"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_environment_order():
    """GEMINI_API_KEY wins over GOOGLE_API_KEY; blank values count as absent."""
    # (values long enough that registering them as secrets redacts nothing else)
    gemini, google = "gemini-env-key-value-1", "google-env-key-value-2"
    assert load_api_key(env={"GEMINI_API_KEY": gemini, "GOOGLE_API_KEY": google}) == gemini
    assert load_api_key(env={"GEMINI_API_KEY": " ", "GOOGLE_API_KEY": google}) == google
    assert load_api_key(env={}) is None


def test_key_file_wins_and_is_stripped(tmp_path: Path):
    """An explicit key file (mode 600) is used before the environment, whitespace stripped."""
    path = key_file(tmp_path, 0o600)
    assert load_api_key(path, env={"GEMINI_API_KEY": "gemini-env-key-value-1"}) == KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int):
    """A key file its group or others can read is refused, with the fix in the message."""
    path = key_file(tmp_path, mode)
    with pytest.raises(SecretError) as info:
        read_key_file(path)
    message = str(info.value)
    assert f"mode {mode:03o}" in message and f"chmod 600 {path}" in message
    assert KEY not in message


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "exactly one key"), ("two keys\n", "exactly one key")],
)
def test_key_file_content_errors(tmp_path: Path, text: str, message: str):
    """An empty file or one with several words is an error that quotes nothing from it."""
    with pytest.raises(SecretError, match=message):
        read_key_file(key_file(tmp_path, 0o600, text))


def test_missing_key_file_and_missing_key(tmp_path: Path):
    """A missing file names the file; no key at all says how to provide one."""
    with pytest.raises(SecretError, match=r"nope\.key"):
        read_key_file(tmp_path / "nope.key")
    with pytest.raises(SecretError, match="GEMINI_API_KEY"):
        require_api_key(env={})


def test_loaded_key_is_redacted_from_log_lines(tmp_path: Path):
    """Once loaded, the key is replaced by *** in any log record, even a non-Google shape."""
    odd_key = "plain-secret-value-42"
    assert load_api_key(env={"GEMINI_API_KEY": odd_key}) == odd_key
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sent %s", (odd_key,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "sent ***"
