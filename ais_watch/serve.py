"""`ais-watch serve`: sources (or the demo replay), pipeline, scheduler, dispatcher and API in one process;
SIGINT/SIGTERM stop it cleanly (sources stop, batches are flushed, deliveries in flight are released)."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from ais_watch.alerts.events import AlertEventListener
from ais_watch.api.live import LiveHub
from ais_watch.basemap import prepare_in_background as prepare_basemap
from ais_watch.clock import WallClock
from ais_watch.config import Settings
from ais_watch.demo import demo_clock, demo_mode, demo_settings, live_feed_configured, run_demo
from ais_watch.errors import AisWatchError
from ais_watch.leader import Leadership
from ais_watch.model import IngestStats
from ais_watch.runtime import Runtime, log_stats_periodically, running_pipeline, tune_garbage_collector
from ais_watch.scheduler import run_soon, start_scheduler
from ais_watch.store.db import redacted
from ais_watch.zones import ZoneRegistry

log = logging.getLogger("ais_watch")


async def start_http(runtime: Runtime, settings: Settings, live: LiveHub | None = None,
                     sources: list[Any] | None = None) -> Any:
    """The API on http.host:http.port (port 0: any free port, logged)."""
    from aiohttp import web

    from ais_watch.api.app import create_app

    zones = runtime.detectors.zones if runtime.detectors is not None else ZoneRegistry([])
    app = create_app(runtime.engine, zones, runtime, live,
                     {"tile_url": settings["dashboard.tile_url"],
                      "tile_attribution": settings["dashboard.tile_attribution"],
                      # the radius a loitering alert's "no vessel within 2 km" speaks of
                      "loitering_neighbour_km": settings["loitering.neighbour_km"]}, sources)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings["http.host"], settings["http.port"])
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise AisWatchError(f"setting 'http.port': cannot listen on {settings['http.host']}:"
                            f"{settings['http.port']}: {err.strerror or err}") from err
    for address in runner.addresses:  # with http.port 0, the port the system chose
        log.info("API on http://%s:%s/ (the dashboard is at /; every data route needs a token: "
                 "`ais-watch token create`)", *address[:2])
    return runner


def live_sources(settings: Settings, emit: Any, stats: IngestStats) -> list[Any]:
    from ais_watch.sources.nmea_net import sources_from_settings

    sources: list[Any] = []
    if settings["aisstream.api_key"]:
        from ais_watch.sources.aisstream import AisstreamSource

        sources.append(AisstreamSource(settings, emit, stats))
    sources.extend(sources_from_settings(settings, emit, stats))
    return sources


def campaign_for_leader(runtime: Runtime, scheduler: Any, settings: Settings) -> Leadership:
    """The dispatcher runs only while this instance leads; a new leader maintains positions at once.
    (The scheduler's leader-only jobs ask runtime.leadership at each run.)"""
    async def elected() -> None:
        if runtime.dispatcher is not None:
            runtime.dispatcher.start()
        run_soon(scheduler, "maintenance")

    async def deposed() -> None:
        if runtime.dispatcher is not None:
            await runtime.dispatcher.close()

    leadership = Leadership(runtime.engine, on_elected=elected, on_deposed=deposed,
                            interval=settings["leader.interval"])
    runtime.leadership = leadership
    leadership.start()
    return leadership


async def cmd_serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hub = LiveHub()
    demo = demo_clock(settings)  # None unless the demo runs (no live feed configured, demo.replay on)
    if demo is None and not live_feed_configured(settings):  # refused before anything starts
        raise AisWatchError("no AIS source configured (set AISSTREAM_API_KEY or AIS_WATCH_NMEA_TCP) "
                            "and demo.replay is off")
    if demo is not None:
        settings = demo_settings(settings)
        log.info("demo: database %s", redacted(settings["db"]))
    clock = demo or WallClock()
    async with running_pipeline(settings, clock, stages=[hub], start_dispatcher=False) as runtime:
        runtime.demo = demo_mode(demo) if demo is not None else None
        runtime.alerts.subscribe(hub.alert_changed)
        runtime.alerts.subscribe_incidents(hub.incident_changed)
        events = AlertEventListener(runtime.alerts)  # another instance's alerts, for this one's listeners
        events.start()
        routes: asyncio.Future[None] | None = None
        if runtime.detectors is not None:  # in a thread: the first went_dark tick must not wait for it
            routes = asyncio.ensure_future(asyncio.to_thread(runtime.detectors.dark.prepare_routes))
        prepare_basemap()  # nor the dashboard's first view (a daemon thread: a stop does not wait for it)
        tune_garbage_collector()
        emit = runtime.pipeline.submit
        sources = live_sources(settings, emit, runtime.stats)
        started = datetime.now(UTC)
        for source in sources:  # a source that never delivers is an outage too
            runtime.feed_health.health.observe(source.name, started)
        scheduler = start_scheduler(runtime, settings)
        leadership = campaign_for_leader(runtime, scheduler, settings)
        http = await start_http(runtime, settings, hub, sources)
        tasks = [asyncio.create_task(s.run(), name=s.name) for s in sources]
        if demo is not None:
            tasks.append(asyncio.create_task(run_demo(settings, runtime, demo), name="demo"))
        tasks.append(asyncio.create_task(
            log_stats_periodically(runtime.stats, runtime.pipeline, settings["stats.interval"]),
            name="stats"))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
                log.error("%s stopped: %s", task.get_name(), result)
                if task in done:
                    raise result
        if routes is not None:  # a build under way finishes (seconds) rather than die with the loop
            await asyncio.gather(routes, return_exceptions=True)
        await events.close()
        await leadership.close()  # the dispatcher stops first: a delivery in flight is handed back
        scheduler.shutdown(wait=False)
        await http.cleanup()
        log.info("shutting down: flushing positions")
    log.info("stopped cleanly")
    return 0
