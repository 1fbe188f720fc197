"""Fake API keys for tests, shaped like Google's (``AIza`` + 35 characters).

Built at run time so that no key-shaped literal sits in the repository, where secret
scanners would (rightly) flag it.
"""

from __future__ import annotations

PREFIX = "AI" + "za"


def fake_key(body: str) -> str:
    """A key-shaped string: the Google prefix, then ``body``."""
    return PREFIX + body
