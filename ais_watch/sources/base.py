"""What every source shares: the sink it feeds, its status, and reconnect backoff."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ais_watch.model import Report

Emit = Callable[[Report], Awaitable[None]]


class Source(Protocol):
    name: str

    @property
    def connected(self) -> bool: ...

    async def run(self) -> None:
        """Feed reports to the sink until cancelled; reconnect on failure, never return on error."""


@dataclass(slots=True)
class SourceStatus:
    """What the feed-health checks and /readyz read about a source."""

    connected: bool = False
    connects: int = 0
    disconnects: int = 0
    last_message_at: datetime | None = None  # wall time the last line/message arrived
    last_error: str | None = None


class Backoff:
    """Exponential backoff with full jitter, capped (AWS architecture blog's 'full jitter')."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2.0 ** self.attempt))
        self.attempt += 1
        # Never below half the ceiling, so a refused connection cannot turn into a tight loop.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
