"""Live-mode jobs (APScheduler): the time-driven rules on wall time, and reloading what may change
under a running service (the watchlist, user geofences). In a replay nothing here runs: the pipeline
ticks on event time itself, so both modes feed the same rules through the same path.

A quiet log: a job that runs as it should says nothing (APScheduler's own "Running job" and "executed
successfully" lines are below the level logs.py gives its logger), a job that fails says so in one line
with its name and the error (the traceback only at DEBUG), and the periodic ingest line stays."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from ais_watch.config import Settings
from ais_watch.runtime import Runtime
from ais_watch.sea_routes import SeaRoutes
from ais_watch.store.retention import RetentionPolicy, maintain_positions
from ais_watch.store.schema import watchlist
from ais_watch.watchlist.store import load_index

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
        assert self.runtime.detectors is not None  # the job runs only with detectors
        self.runtime.detectors.watchlist.replace_index(await load_index(engine))
        log.info("watchlist reloaded: %s entries", signature[0])
        return True


async def reload_watchlist(reloader: WatchlistReloader) -> bool:
    # A coroutine function of its own: APScheduler takes an object with an async __call__ for a plain
    # function, calls it in a thread and drops the coroutine unawaited.
    return await reloader()


def reload_zones(runtime: Runtime) -> bool:
    detectors = runtime.detectors
    assert detectors is not None  # the job runs only with detectors
    zones = detectors.zones
    if not zones.reload_if_changed():
        return False
    detectors.dark.ports = list(zones.index.ports())
    detectors.dark.sea = SeaRoutes(detectors.dark.ports)  # the same ports reuse the routes already built
    if runtime.reception is not None:  # reception alerts describe places from the same ports
        runtime.reception.ports = list(detectors.dark.ports)
    log.info("geofences reloaded: %d zones", len(zones.index))
    return True


def is_leader(runtime: Runtime) -> bool:
    """Without an election (one process), this instance leads."""
    return runtime.leadership is None or runtime.leadership.is_leader


async def run_ticks(runtime: Runtime) -> None:
    await runtime.pipeline.run_ticks(fleet=is_leader(runtime))


class Maintenance:
    """The position maintenance job: replayed days left alone (only `ais-watch maintain` thins or drops
    them); its first run says what the settings ask for, even when that is nothing."""

    def __init__(self, runtime: Runtime, policy: RetentionPolicy) -> None:
        self.runtime = runtime
        self.policy = policy
        self.runs = 0

    async def __call__(self) -> None:
        if not is_leader(self.runtime):
            return
        await maintain_positions(self.runtime.engine, self.policy, include_replayed=False,
                                 announce=not self.runs)
        self.runs += 1


async def maintain_positions_if_leader(maintenance: Maintenance) -> None:
    await maintenance()  # a coroutine function of its own, as reload_watchlist


def guarded(name: str, job: Callable[..., Any]) -> Callable[..., Any]:
    """`job` failing as one log line, "job NAME failed: Error: what", instead of APScheduler's ERROR with a
    traceback; the next run is scheduled as ever. A plain function still runs in a thread (it may block:
    the zones reload reads files), as APScheduler would have run it."""
    def failed(err: Exception) -> None:
        log.error("job %s failed: %s: %s", name, type(err).__name__, err,
                  exc_info=err if log.isEnabledFor(logging.DEBUG) else None)

    if inspect.iscoroutinefunction(job):
        @functools.wraps(job)
        async def run_async(*args: Any) -> Any:
            try:
                return await job(*args)
            except Exception as err:
                failed(err)
                return None
        return run_async

    @functools.wraps(job)
    async def run_in_thread(*args: Any) -> Any:
        try:
            return await asyncio.to_thread(job, *args)
        except Exception as err:
            failed(err)
            return None
    return run_in_thread


def start_scheduler(runtime: Runtime, settings: Settings) -> AsyncIOScheduler:
    """Every instance ticks its own feeds' health and reloads its watchlist and zones; the leader's
    ticks also run the fleet-wide rules, and only the leader maintains positions (partitions ahead,
    thinning, drops). Jobs ask at each run, so a takeover needs no rescheduling."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(guarded("ticks", run_ticks), "interval", args=[runtime],
                      seconds=settings["ticks.interval"], id="ticks", max_instances=1, coalesce=True)
    scheduler.add_job(guarded("maintenance", maintain_positions_if_leader), "interval",
                      args=[Maintenance(runtime, RetentionPolicy.from_settings(settings))],
                      seconds=settings["retention.interval"], id="maintenance", max_instances=1,
                      coalesce=True)
    if runtime.detectors is not None:
        scheduler.add_job(guarded("watchlist-reload", reload_watchlist), "interval",
                          args=[WatchlistReloader(runtime)], seconds=60, id="watchlist-reload",
                          max_instances=1, coalesce=True)
        scheduler.add_job(guarded("zones-reload", reload_zones), "interval", args=[runtime], seconds=30,
                          id="zones-reload", max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler


def run_soon(scheduler: AsyncIOScheduler, job_id: str) -> None:
    """Run a job now instead of at its next interval (a new leader maintains positions at once)."""
    job = scheduler.get_job(job_id)
    if job is not None:
        job.modify(next_run_time=datetime.now(UTC))
