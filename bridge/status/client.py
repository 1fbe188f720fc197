"""A small client of the status API (used by ``promptbridge status``). Network I/O.

``fetch(...)`` connects to ``ws://HOST:PORT/ws``, sends any Changes, and returns the
snapshots it receives (the first one, or a stream with ``watch``). Connection problems
become one-line ``BridgeError``s; the token travels in an ``Authorization`` header, never
in the URL.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bridge.core.types import Change
from bridge.errors import BridgeError


async def snapshots(
    host: str,
    port: int,
    token: str | None = None,
    changes: Sequence[Change] = (),
    timeout: float = 5.0,
    idle: float | None = 5.0,
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield every snapshot the daemon sends, after sending ``changes``.

    ``timeout`` bounds the connection; ``idle`` (None: forever) the wait for a message.
    """
    where = f"{host}:{port}"
    host_part = f"[{host}]" if ":" in host else host
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with connect(
            f"ws://{host_part}:{port}/ws", additional_headers=headers, open_timeout=timeout
        ) as ws:
            await _send_changes(ws, changes)
            # ask for a snapshot: the answer reflects the changes (messages are in order)
            await ws.send(json.dumps({"type": "snapshot", "id": "first"}))
            first = True
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), idle))
                if message.get("type") == "error":
                    raise BridgeError(f"status: the daemon refused: {message.get('message')}")
                if message.get("type") == "notice":  # applied, but not as asked (clamped)
                    print(f"promptbridge: status: {message.get('message')}", file=sys.stderr)
                if message.get("type") != "snapshot" or message.get("data") is None:
                    continue
                if first and message.get("id") != "first":
                    continue  # pushed before our changes were applied
                first = False
                yield message["data"]
    except InvalidStatus as exc:
        code = exc.response.status_code
        if code in (401, 403):
            raise BridgeError(
                f"status: {where} refused the request (HTTP {code}): "
                "a token is needed (PROMPTBRIDGE_STATUS_TOKEN or --token)"
            ) from None
        raise BridgeError(f"status: {where} answered HTTP {code}") from None
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        raise BridgeError(
            f"status: no daemon answering on {where} ({type(exc).__name__}); "
            "start it with `promptbridge run --status HOST:PORT`"
        ) from None
    except ConnectionClosed:
        raise BridgeError(f"status: {where} closed the connection") from None


async def _send_changes(ws: ClientConnection, changes: Sequence[Change]) -> None:
    for change in changes:
        message = {
            "type": "change",
            "target": change.target,
            "value": change.value,
            "glide": change.glide,
        }
        await ws.send(json.dumps(message))


async def fetch(
    host: str,
    port: int,
    token: str | None = None,
    changes: Sequence[Change] = (),
    timeout: float = 5.0,
) -> dict[str, Any]:
    """The current snapshot, taken after ``changes`` were applied."""
    stream = snapshots(host, port, token, changes, timeout, idle=timeout)
    try:
        return await anext(stream)
    finally:
        await stream.aclose()
