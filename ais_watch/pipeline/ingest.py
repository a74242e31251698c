"""The ingest steps around the vessel state: the pipeline clock, and ticks on event time in a replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ais_watch.clock import Clock
from ais_watch.model import IngestStats, Report
from ais_watch.pipeline.stage import Context, StageBase


class EventClock(StageBase):
    """Every report that is not a duplicate moves the clock (a replay's watermark) and is counted."""

    name = "clock"

    def __init__(self, clock: Clock, stats: IngestStats) -> None:
        self.clock = clock
        self.stats = stats
        self.latest_event: datetime | None = None  # newest event time processed (pipeline lag)

    def handle(self, report: Report, ctx: Context) -> None:
        self.clock.observe(report.time)
        self.stats.processed += 1
        if self.latest_event is None or report.time > self.latest_event:
            self.latest_event = report.time


class EventTimeTicks(StageBase):
    """Replay: the time-driven rules run every `interval` of event time, inside the pipeline, before the
    report that crossed the interval moves its vessel (live, a scheduler job ticks on wall time instead).
    `run` is the pipeline's tick, bound when the pipeline is built."""

    name = "event-time ticks"

    def __init__(self, interval: float) -> None:
        self.interval = timedelta(seconds=interval)
        self.run: Callable[[datetime], None] | None = None
        self._next: datetime | None = None

    def handle(self, report: Report, ctx: Context) -> None:
        if self._next is None:
            self._next = report.time + self.interval
        elif report.time >= self._next:
            if self.run is not None:
                self.run(report.time)
            self._next = report.time + self.interval
