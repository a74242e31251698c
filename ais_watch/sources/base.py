"""What every source shares: the sink it feeds and its status (reconnect delays: ais_watch.backoff)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ais_watch.model import Report

Emit = Callable[[Report], Awaitable[None]]
# A chunk of reports at once, in order: what a replay hands over when it is not paced, so that the
# pipeline runs them in one loop instead of one coroutine a report (Pipeline.submit_many).
EmitMany = Callable[[list[Report]], Awaitable[None]]


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

