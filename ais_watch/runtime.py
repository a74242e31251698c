"""Wiring shared by `serve` and `replay`: database, writer and pipeline built from the settings."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.config import Settings
from ais_watch.model import IngestStats
from ais_watch.pipeline import Clock, Pipeline, PipelineOptions
from ais_watch.store.db import open_database
from ais_watch.store.writer import StoreWriter

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    engine: AsyncEngine
    pipeline: Pipeline
    stats: IngestStats


@asynccontextmanager
async def running_pipeline(settings: Settings, clock: Clock, *, periodic_flush: bool = True,
                           stats: IngestStats | None = None) -> AsyncIterator[Runtime]:
    """A started pipeline on a migrated database; on exit everything batched is flushed and written."""
    stats = stats or IngestStats()
    engine = await open_database(settings["db"])
    try:
        writer = StoreWriter(engine, stats, queue_batches=settings["store.queue_batches"],
                             retry_max_delay=settings["store.retry_max_delay"])
        options = PipelineOptions(batch_size=settings["store.batch_size"],
                                  flush_interval=settings["store.flush_interval"],
                                  dedup_window=settings["dedup.window"],
                                  vessel_flush_interval=settings["store.vessel_flush_interval"])
        pipeline = Pipeline(engine, writer, stats, clock, options)
        await pipeline.start(periodic_flush=periodic_flush)
        try:
            yield Runtime(engine, pipeline, stats)
        finally:
            await pipeline.close()
    finally:
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
