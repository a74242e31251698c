"""The pipeline clock. Every time-driven rule reads it, never `datetime.now()`: wall time live, the
event-time watermark in a replay, so a replay gives exactly the results that living through it would have.
(The demo's sped-up clock is in demo.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def observe(self, event_time: datetime) -> None: ...


class WallClock:
    """Live mode: time is the wall clock."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._source()

    def observe(self, event_time: datetime) -> None:
        pass


class ReplayClock:
    """Replay: time is the latest event time seen (the watermark); it never runs backwards."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start

    def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("replay clock read before any event")
        return self._now

    def observe(self, event_time: datetime) -> None:
        if self._now is None or event_time > self._now:
            self._now = event_time
