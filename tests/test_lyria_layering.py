"""Layering of the session code: who may import websockets, and the protocol stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge.engines.lyria import create
from bridge.errors import ConfigError
from tests.fakekeys import fake_key

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"
WEBSOCKETS_ALLOWED = ("engines/lyria.py", "server/", "status/")
IMPURE = {"asyncio", "socket", "websockets", "threading", "time", "os", "sounddevice", "mido"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_adapters_import_websockets():
    """websockets is imported only by the lyria engine, the server and the status server."""
    offenders = [
        str(path.relative_to(BRIDGE))
        for path in BRIDGE.rglob("*.py")
        if "websockets" in imported_roots(path)
        and not str(path.relative_to(BRIDGE)).startswith(WEBSOCKETS_ALLOWED)
    ]
    assert offenders == []


def test_protocol_package_is_pure():
    """bridge/protocol (codec, backoff, rotation, replay, events, the session machine) imports
    no I/O, clock or thread module."""
    for path in (BRIDGE / "protocol").glob("*.py"):
        assert imported_roots(path) & IMPURE == set(), path.name


def test_the_engine_is_a_pump():
    """The lyria engine performs the session machine's actions; the policies (backoff,
    close codes, playback transitions) are not its imports."""
    tree = ast.parse((BRIDGE / "engines" / "lyria.py").read_text(encoding="utf-8"))
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bridge")
        for alias in node.names
    }
    assert names.isdisjoint({"backoff", "playback", "Playback", "PlayState", "after"}), names


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "http://example.com/ws"}, "ws://HOST"),
        (
            {"url": f"wss://h/ws?key={fake_key('LeakedKeyLeakedKey12345')}"},
            "must not carry the API key",
        ),
        ({"model": " "}, "model must not be empty"),
    ],
)
def test_bad_engine_options_are_config_errors(options, message):
    """A wrong URL (or a key in it) or an empty model is a one-line ConfigError."""
    with pytest.raises(ConfigError, match=message) as info:
        create(**options)
    assert "AIzaLeaked" not in str(info.value)
