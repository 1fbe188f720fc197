"""Small asyncio helpers the adapters share. No I/O of their own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancelled(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has stopped."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def settled(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Wait until every task has ended, whatever it ended with (cancelled, failed)."""
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
