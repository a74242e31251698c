"""What the API reads from the running service (`Runtime`): its time, the demo (when `serve` runs it),
the running watchlist, the reception of its stations and areas. Every function takes the request; the
runtime is None when no pipeline runs in this process (tests, a read-only instance)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ais_watch.api.keys import ENGINE, RUNTIME
from ais_watch.runtime import Runtime
from ais_watch.watchlist.index import WatchlistIndex
from ais_watch.watchlist.store import load_index


def _runtime(request: web.Request) -> Runtime | None:
    return request.app[RUNTIME]


def now(request: web.Request) -> datetime:
    """The service's time: the demo clock's while the demo runs (far ahead of the wall clock), else the
    wall clock (a replay's event-time clock is not the time an analyst asks about)."""
    runtime = _runtime(request)
    return runtime.clock.now() if runtime is not None and runtime.demo is not None else datetime.now(UTC)


def demo(request: web.Request) -> dict[str, Any] | None:
    """While the demo runs, how fast its clock goes and the banner the dashboard shows; else None."""
    runtime = _runtime(request)
    mode = runtime.demo if runtime is not None else None
    return None if mode is None else {"speed": mode.speed, "banner": mode.banner}


async def watchlist_index(request: web.Request) -> WatchlistIndex:
    """The running watchlist index (the detectors' own, kept fresh by the reload job and by changes
    through this API), or one read from the table when no pipeline runs here (without the associations
    not watched at the service's time)."""
    runtime = _runtime(request)
    index = runtime.watchlist_index if runtime is not None else None
    return index if index is not None else (await load_index(request.app[ENGINE])).at(now(request))


async def watch_from_now(request: web.Request) -> None:
    """A watchlist changed through the API is the one this instance's detectors and map use from now,
    not at the next reload (other instances pick it up at theirs, within a minute)."""
    runtime = _runtime(request)
    if runtime is not None and runtime.detectors is not None:
        runtime.detectors.watchlist.replace_index(await load_index(request.app[ENGINE]))


def demo_entries(request: web.Request) -> list[dict[str, Any]]:
    """Every entry of the demo's running watchlist, in the table's row form (the simulated ship is
    watched in the running service only, never written to the table); none when the demo does not run."""
    runtime = _runtime(request)
    index = runtime.watchlist_index if runtime is not None and runtime.demo is not None else None
    if index is None:
        return []
    return [{"key": e.key, "name": e.name, "imo": e.imo, "mmsi": e.mmsi, "flag": e.flag, "reason": e.reason,
             "source": e.source, "aliases": list(e.aliases), "tags": list(e.tags),
             "dark_threshold": e.dark_threshold, "association": e.association, "expires_at": e.expires_at,
             "created_at": None, "updated_at": None}
            for e in index.entries]


def demo_only_entries(request: web.Request, stored: set[str], mmsi: int, imo: int | None
                      ) -> list[dict[str, Any]]:
    """Entries of the demo's running watchlist for this vessel that are not in the table (`stored` keys)."""
    return [e for e in demo_entries(request)
            if e["key"] not in stored and (e["mmsi"] == mmsi or (imo is not None and e["imo"] == imo))]


def runs_pipeline(request: web.Request) -> bool:
    """Whether a pipeline runs in this process (what /metrics and /api/reception report on)."""
    return _runtime(request) is not None


def reception(request: web.Request) -> dict[str, list[dict[str, Any]]] | None:
    """Every receiving station and area the running pipeline judges, with its state and rates (the
    reception step's snapshot); None when no pipeline runs here or `reception.enabled` is off."""
    runtime = _runtime(request)
    step = runtime.reception if runtime is not None else None
    return None if step is None else step.snapshot()
