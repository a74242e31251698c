"""The same transmission heard by several receivers (or sources) passes once."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from datetime import datetime, timedelta

from ais_watch.model import IngestStats, PositionReport, Report
from ais_watch.pipeline.stage import Context, StageBase


class Deduplicator:
    """NMEA: same MMSI and identical payload within `window`. JSON sources have no payload: same MMSI,
    message type, time and position. Memory is bounded by what arrives within one window.
    """

    def __init__(self, window: float, max_entries: int = 2_000_000) -> None:
        self.window = timedelta(seconds=window)
        self.max_entries = max_entries
        self._seen: dict[Hashable, datetime] = {}
        self._order: deque[tuple[datetime, Hashable]] = deque()
        self._watermark: datetime | None = None

    @staticmethod
    def key(report: Report) -> Hashable:
        if report.payload is not None:
            return (report.mmsi, report.payload)
        if isinstance(report, PositionReport):
            return (report.mmsi, report.msg_type, report.time, report.lat, report.lon)
        return (report.mmsi, report.msg_type, report.part, report.time)

    def is_duplicate(self, report: Report) -> bool:
        if not self.window:
            return False
        when = report.time
        if self._watermark is None or when > self._watermark:
            self._watermark = when
            horizon = when - self.window
            order, seen = self._order, self._seen
            while order and (order[0][0] < horizon or len(order) > self.max_entries):
                old_time, old_key = order.popleft()
                if seen.get(old_key) == old_time:
                    del seen[old_key]
        key = self.key(report)
        previous = self._seen.get(key)
        if previous is not None and abs(when - previous) <= self.window:
            return True
        self._seen[key] = when
        self._order.append((when, key))
        return False

    def __len__(self) -> int:
        return len(self._seen)


class Deduplicate(StageBase):
    """The step: a duplicate is counted and goes no further."""

    name = "dedup"

    def __init__(self, window: float, stats: IngestStats) -> None:
        self.dedup = Deduplicator(window)
        self.stats = stats

    def handle(self, report: Report, ctx: Context) -> None:
        if self.dedup.is_duplicate(report):
            self.stats.duplicates += 1
            ctx.dropped = True
