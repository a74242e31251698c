"""Live-mode jobs (APScheduler): the time-driven rules on wall time, and reloading what may change
under a running service (the watchlist, user geofences). In a replay nothing here runs: the pipeline
ticks on event time itself, so both modes feed the same rules through the same path."""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from ais_watch.config import Settings
from ais_watch.runtime import Runtime
from ais_watch.store.schema import watchlist
from ais_watch.watchlist import load_index

log = logging.getLogger(__name__)


class WatchlistReloader:
    """Swaps in a new watchlist index when the table changed (an import while the service runs)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._signature: tuple[Any, ...] | None = None

    async def __call__(self) -> bool:
        engine = self.runtime.engine
        async with engine.connect() as conn:
            signature = tuple((await conn.execute(
                select(func.count(), func.max(watchlist.c.updated_at)))).one())
        if signature == self._signature:
            return False
        first = self._signature is None
        self._signature = signature
        if first:
            return False  # the index built at start-up is this one
        self.runtime.parts["watchlist"].replace_index(await load_index(engine))
        log.info("watchlist reloaded: %s entries", signature[0])
        return True


def reload_zones(runtime: Runtime) -> bool:
    zones = runtime.parts["zones"]
    if not zones.reload_if_changed():
        return False
    runtime.parts["dark"].ports = zones.index.ports()
    log.info("geofences reloaded: %d zones", len(zones.index))
    return True


def start_scheduler(runtime: Runtime, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(runtime.pipeline.run_ticks, "interval", seconds=settings["ticks.interval"],
                      id="ticks", max_instances=1, coalesce=True)
    if runtime.parts:
        scheduler.add_job(WatchlistReloader(runtime), "interval", seconds=60, id="watchlist-reload",
                          max_instances=1, coalesce=True)
        scheduler.add_job(reload_zones, "interval", args=[runtime], seconds=30, id="zones-reload",
                          max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
