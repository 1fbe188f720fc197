"""Reconnect policy: delays with jitter, and what a close code means. Pure: no I/O, no sleep.

Like websockets' ``backoff()``, the delays are a plain generator that the asyncio client
merely sleeps on. The first retry comes at once, within ``first`` seconds (a dropped TCP
connection usually reconnects at once; the jitter keeps many rigs losing the same server
from arriving in the same millisecond); later ones grow exponentially up to ``cap``
seconds, each scaled by a random factor in [0.5, 1) for the same reason.

Close codes (see the field reports in docs/lyria-protocol.md):

=====================  ===========  ==============================================
close                  disposition  why
=====================  ===========  ==============================================
1007                   REJECT       key rejected or malformed payload: retry can't fix
HTTP 401/403           REJECT       the server refused our key at the handshake
HTTP 404               REJECT       no Lyria endpoint at that URL: retry can't fix
1011 + quota/exhaust   QUOTA        quota: back off for minutes
anything else          RETRY        1011 (outage, 600 s cap), 1006, 1013, TCP drop
=====================  ===========  ==============================================
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from enum import StrEnum

from bridge.protocol.codec import SERVICE_PATH

# What to tell the user when the handshake is refused for good (HTTP rows of the table).
HTTP_HINTS = {
    401: "the server refused the API key (HTTP 401): check GEMINI_API_KEY or the key file",
    403: "the server refused the API key (HTTP 403): check GEMINI_API_KEY or the key file"
    " (for `promptbridge serve`: the key in its --api-key-env variable)",
    404: "the server has no Lyria endpoint at {path} (HTTP 404): check the URL's path"
    f" (the service's is {SERVICE_PATH})",
}


class Disposition(StrEnum):
    RETRY = "retry"
    QUOTA = "quota"
    REJECT = "reject"


QUOTA_WORDS = ("quota", "exhausted", "resource_exhausted", "rate limit")


def classify(code: int | None, reason: str = "", http_status: int | None = None) -> Disposition:
    """What to do after a session ended with ``code``/``reason`` (or an HTTP refusal)."""
    if http_status in (401, 403, 404) or code == 1007:
        return Disposition.REJECT
    if code == 1011 and any(word in reason.lower() for word in QUOTA_WORDS):
        return Disposition.QUOTA
    return Disposition.RETRY


def delays(
    initial: float = 0.5,
    factor: float = 2.0,
    cap: float = 5.0,
    rng: random.Random | None = None,
    first: float = 0.25,
) -> Iterator[float]:
    """Endless retry delays in seconds: one in [0, first), then ~initial·factorⁿ with
    jitter, at most ``cap``."""
    rng = rng or random.Random()
    yield first * rng.random()
    delay = initial
    while True:
        yield min(cap, delay) * (0.5 + rng.random() / 2)
        delay *= factor


def quota_delay(base: float = 120.0, rng: random.Random | None = None) -> float:
    """How long to wait after a quota close: minutes, jittered by up to +50 %."""
    rng = rng or random.Random()
    return base * (1.0 + rng.random() / 2)
