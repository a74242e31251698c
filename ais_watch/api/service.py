"""What the API reads from the running service: its time, the demo (when `serve` runs it), the running
watchlist. The one module of the API that knows how the runtime holds these, so a change there is a
change here only. Every function takes the request; the runtime is None when no pipeline runs in this
process (tests, a read-only instance)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ais_watch.api.keys import ENGINE, RUNTIME
from ais_watch.demo import banner
from ais_watch.pipeline import Clock, DemoClock
from ais_watch.watchlist import load_index


def _demo_clock(request: web.Request) -> DemoClock | None:
    """The demo's clock while `serve` runs the demo (ais_watch/demo.py), else None."""
    clock = getattr(getattr(request.app[RUNTIME], "pipeline", None), "clock", None)
    return clock if isinstance(clock, DemoClock) else None


def now(request: web.Request) -> datetime:
    """The service's time: the demo clock's while the demo runs (far ahead of the wall clock), else now."""
    clock = _demo_clock(request)
    return clock.now() if clock is not None else datetime.now(UTC)


def pipeline_clock(request: web.Request) -> Clock:
    """The running pipeline's clock (the wall clock live, the demo clock in the demo); needs a runtime."""
    return request.app[RUNTIME].pipeline.clock


def demo(request: web.Request) -> dict[str, Any] | None:
    """While the demo runs, how fast its clock goes and the banner the dashboard shows; else None."""
    clock = _demo_clock(request)
    return None if clock is None else {"speed": clock.speed, "banner": banner(clock.speed)}


def _watchlist_enricher(request: web.Request) -> Any:
    """The running pipeline's watchlist stage (the demo's stand-in while the demo runs), or None."""
    runtime = request.app[RUNTIME]
    return runtime.parts.get("watchlist") if runtime is not None else None


def _running_watchlist(request: web.Request) -> Any:
    """The running service's watchlist index (the detectors' own, kept fresh by the reload job and by
    changes through this API), so the map does not rebuild it from the table on every request."""
    enricher = _watchlist_enricher(request)
    return None if enricher is None else enricher.index


async def watchlist_index(request: web.Request) -> Any:
    """The running watchlist index, or one read from the table when no pipeline runs here."""
    index = _running_watchlist(request)
    return index if index is not None else await load_index(request.app[ENGINE])


async def watch_from_now(request: web.Request) -> None:
    """A watchlist changed through the API is the one this instance's detectors and map use from now,
    not at the next reload (other instances pick it up at theirs, within a minute)."""
    enricher = _watchlist_enricher(request)
    if enricher is not None:
        enricher.replace_index(await load_index(request.app[ENGINE]))


def demo_only_entries(request: web.Request, stored: set[str], mmsi: int, imo: int | None
                      ) -> list[dict[str, Any]]:
    """Entries of the demo's running watchlist for this vessel that are not in the table (`stored` keys):
    the simulated ship is watched in the running service only, never written to the table. In the
    table's row form; none when the demo does not run."""
    index = _running_watchlist(request) if _demo_clock(request) is not None else None
    if index is None:
        return []
    return [{"key": e.key, "name": e.name, "imo": e.imo, "mmsi": e.mmsi, "flag": e.flag, "reason": e.reason,
             "source": e.source, "aliases": list(e.aliases), "tags": list(e.tags),
             "dark_threshold": e.dark_threshold, "created_at": None, "updated_at": None}
            for e in index.entries
            if e.key not in stored and (e.mmsi == mmsi or (imo is not None and e.imo == imo))]
