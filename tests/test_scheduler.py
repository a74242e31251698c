"""Live-mode jobs run for real under APScheduler: the watchlist reload swaps in an entry imported while the
service runs; ticks and maintenance ask whether this instance leads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ais_watch.clock import WallClock
from ais_watch.config import load_settings
from ais_watch.runtime import running_pipeline
from ais_watch.scheduler import run_soon, start_scheduler
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.store import upsert
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.integration

NEW_SHIP = 273000123


async def test_an_entry_imported_while_serving_is_watched_after_the_reload_job(tmp_path: Path) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": f"sqlite:///{tmp_path / 'w.db'}"})
    async with asyncio.timeout(30), running_pipeline(settings, WallClock(), deliver=False) as runtime:
        scheduler = start_scheduler(runtime, settings)
        try:
            enricher = runtime.detectors.watchlist
            reloader = scheduler.get_job("watchlist-reload").args[0]
            run_soon(scheduler, "watchlist-reload")  # the first run notes what the table holds
            await wait_for(lambda: reloader._signature is not None, 5, "the first reload run")
            assert enricher.index.match(NEW_SHIP, True, None, None) is None

            await upsert(runtime.engine, [WatchEntry(name="NEW", imo=None, mmsi=NEW_SHIP, flag=None,
                                                     reason="tip-off", source="test")])
            run_soon(scheduler, "watchlist-reload")
            await wait_for(lambda: enricher.index.match(NEW_SHIP, True, None, None) is not None, 5,
                           "the new entry in the running index")
        finally:
            scheduler.shutdown(wait=False)
