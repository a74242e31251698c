"""A pipeline on a real store, started and closed around a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from ais_watch.alerts.store import AlertStore
from ais_watch.clock import ReplayClock
from ais_watch.model import IngestStats
from ais_watch.pipeline.runner import Pipeline, PipelineOptions
from ais_watch.pipeline.stage import Stage
from ais_watch.steps import build_pipeline
from ais_watch.store.writer import StoreWriter
from tests.helpers.db import engine_on


@asynccontextmanager
async def running_stages(db_url: str, detectors: Sequence[Stage], options: PipelineOptions
                         ) -> AsyncIterator[Pipeline]:
    """build_pipeline()'s pipeline, started on a replay clock, with `detectors` raising alerts into an
    AlertStore on the database; closed on exit, after which no step may have raised."""
    async with engine_on(db_url) as engine:
        stats = IngestStats()
        writer = StoreWriter(engine, stats, retry_initial=0.01, retry_max_delay=0.1)
        pipeline = build_pipeline(engine, writer, stats, ReplayClock(), options, detectors=detectors,
                                  alerts=AlertStore(engine))
        await pipeline.start(periodic_flush=False)
        try:
            yield pipeline
        finally:
            await pipeline.close()
        assert pipeline.stage_errors == {}
