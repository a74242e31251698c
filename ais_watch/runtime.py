"""Wiring shared by `serve` and `replay`: database, writer and pipeline built from the settings."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.dispatcher import Dispatcher, RetryPolicy
from ais_watch.alerts.notifiers import notifiers_from_settings
from ais_watch.alerts.store import AlertStore
from ais_watch.clock import Clock
from ais_watch.config import Settings
from ais_watch.model import IngestStats
from ais_watch.pipeline.feed_health import FeedHealthStep
from ais_watch.pipeline.reception import Reception, ReceptionOptions
from ais_watch.pipeline.runner import Pipeline, PipelineOptions
from ais_watch.pipeline.stage import Stage
from ais_watch.steps import Detectors, build_detectors, build_pipeline
from ais_watch.store.db import open_database
from ais_watch.store.writer import SLICE_ROWS, TRANSACTION_ROWS, StoreWriter

if TYPE_CHECKING:
    from ais_watch.leader import Leadership
    from ais_watch.watchlist.index import WatchlistIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoMode:
    """Set while `serve` runs the demo: how fast its clock runs and the banner every view shows."""

    speed: float
    banner: str


@dataclass(slots=True)
class Runtime:
    """A running pipeline and what the scheduler, the API and the demo read or refresh in it."""

    engine: AsyncEngine
    pipeline: Pipeline
    stats: IngestStats
    alerts: AlertStore
    dispatcher: Dispatcher | None
    clock: Clock
    feed_health: FeedHealthStep
    detectors: Detectors | None  # None with detectors.enabled off
    reception: Reception | None  # None with reception.enabled off
    demo: DemoMode | None = None
    leadership: Leadership | None = None  # when serve elects a leader

    @property
    def watchlist_index(self) -> WatchlistIndex | None:
        """The watchlist the detectors run on (kept fresh by the reload job and API changes)."""
        return self.detectors.watchlist.index if self.detectors is not None else None


@asynccontextmanager
async def running_pipeline(settings: Settings, clock: Clock, *, periodic_flush: bool = True,
                           stats: IngestStats | None = None, deliver: bool = True,
                           stages: list[Stage] | None = None, detectors: bool = True,
                           event_time_ticks: bool = False, start_dispatcher: bool = True,
                           replayed: bool = False) -> AsyncIterator[Runtime]:
    """A started pipeline on a migrated database; on exit everything batched is flushed and written.

    With `deliver`, alerts get a pending delivery per matching notifier and a dispatcher sends them;
    without it (a replay without --notify) alerts are only stored, so no later run sends them either.
    Without `start_dispatcher` the dispatcher is made but left to the caller to start (serve starts it
    when this instance becomes the leader). `replayed`: the positions are a replay's (history someone
    chose to load, which the service's retention job leaves alone).
    """
    stats = stats or IngestStats()
    notifiers = notifiers_from_settings(settings) if deliver else []
    engine = await open_database(settings["db"], migrate_schema=settings["store.auto_migrate"])
    dispatcher: Dispatcher | None = None
    try:
        alert_store = AlertStore(engine, notifiers, cooldown=settings["alerts.cooldown"],
                                 incident_window=settings["incidents.window"] * 3600)
        if deliver:
            policy = RetryPolicy(max_attempts=settings["alerts.max_attempts"],
                                 max_age=settings["alerts.max_age"],
                                 initial=settings["alerts.retry_initial"],
                                 maximum=settings["alerts.retry_max"])
            dispatcher = Dispatcher(engine, notifiers, alert_store.stats, policy, alerts=alert_store)
            alert_store.subscribe(dispatcher.wake)
            if start_dispatcher:
                dispatcher.start()
        writer = StoreWriter(engine, stats, queue_batches=settings["store.queue_batches"],
                             retry_max_delay=settings["store.retry_max_delay"],
                             close_timeout=settings["store.close_timeout"], replayed=replayed,
                             transaction_rows=TRANSACTION_ROWS if replayed else SLICE_ROWS)
        batch_size = settings["store.replay_batch_size" if replayed else "store.batch_size"]
        options = PipelineOptions(batch_size=batch_size,
                                  flush_interval=settings["store.flush_interval"],
                                  dedup_window=settings["dedup.window"],
                                  vessel_flush_interval=settings["store.vessel_flush_interval"],
                                  event_time_ticks=event_time_ticks, tick_interval=settings["ticks.interval"],
                                  feed_outage_after=settings["feed.outage_after"],
                                  reception=reception_options(settings))
        built = (await build_detectors(engine, settings)
                 if detectors and settings["detectors.enabled"] else None)
        pipeline = build_pipeline(engine, writer, stats, clock, options, alerts=alert_store,
                                  detectors=built.stages() if built is not None else (), extra=stages or (),
                                  ports=built.zones.index.ports() if built is not None else (),
                                  segments=built.segments if built is not None else None)
        await pipeline.start(periodic_flush=periodic_flush)
        try:
            yield Runtime(engine, pipeline, stats, alert_store, dispatcher, clock,
                          pipeline.outages, built, pipeline.reception)
        finally:
            await pipeline.close()
    finally:
        if dispatcher is not None:
            await dispatcher.close()
        await engine.dispose()


async def log_stats_periodically(stats: IngestStats, pipeline: Pipeline, interval: float) -> None:
    """One line of ingest figures every `interval` seconds: what a watch-floor operator tails."""
    last_processed, last_time = stats.processed, time.monotonic()
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        rate = (stats.processed - last_processed) / max(now - last_time, 1e-9)
        last_processed, last_time = stats.processed, now
        log.info("ingest: %.0f reports/s, %d messages decoded, %d positions stored, %d vessels, "
                 "%d duplicates, %d rejected, store queue %d", rate, stats.messages, stats.positions_stored,
                 len(pipeline.vessels), stats.duplicates, sum(stats.rejects.values()),
                 pipeline.writer.queue_depth)


def reception_options(settings: Settings) -> ReceptionOptions | None:
    if not settings["reception.enabled"]:
        return None
    return ReceptionOptions(window=timedelta(seconds=settings["reception.window"]),
                            min_silence=timedelta(seconds=settings["reception.min_silence"]),
                            min_usual=settings["reception.min_usual"],
                            min_vessels=settings["reception.min_vessels"],
                            cell_degrees=settings["reception.cell_degrees"],
                            satellite_gap=timedelta(seconds=settings["reception.satellite_gap"]),
                            learn=timedelta(seconds=settings["reception.learn"]))


def tune_garbage_collector() -> None:
    """Fewer collections, once start-up is done: for `serve` and for `replay`. At 5,000 messages a
    second CPython's defaults ran a full collection every 2 s, each stopping the event loop for about
    130 ms (the soak bench's API latency), and a replay spent a sixth of its main process's time in
    the collector (issue 17: 1 s of 6), walking the same start-up state over and over. That state
    (geofences, watchlist, vessels, the land) is frozen out of the collections, and the young
    generation is collected less often. Cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
