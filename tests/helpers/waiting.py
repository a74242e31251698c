"""Waiting for something that happens in another task or process: poll until it holds, or fail saying
what never came."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_for(predicate: Callable[[], Awaitable[bool] | bool], timeout: float, what: str,
                   interval: float = 0.02) -> None:
    """Poll `predicate` (plain or async) every `interval` s; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
