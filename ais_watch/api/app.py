"""The HTTP API (aiohttp). Every route is declared once in ROUTES with its role and its OpenAPI
description, and /api/openapi.json is generated from that list, so the document cannot drift from what the
server does (a test checks every served route against it).

Every endpoint but the health routes (/healthz, /readyz, /metrics) and the dashboard's static files needs
`Authorization: Bearer <token>` (see tokens.py). Inputs are
validated with clear 400s; every value reaches SQL as a bound parameter.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import shapely
from aiohttp import web
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch import __version__
from ais_watch.alerts.model import KINDS, STATES, alert_json, iso
from ais_watch.alerts.store import AlertError, AlertStore
from ais_watch.api.metrics import CONTENT_TYPE, metrics_text
from ais_watch.api.tokens import allows, role_of
from ais_watch.demo import banner
from ais_watch.errors import AisWatchError
from ais_watch.model import parse_iso_time
from ais_watch.pipeline import DemoClock
from ais_watch.store.queries import gaps, identity_changes, port_call_rows, resolve_vessel, track, vessel
from ais_watch.store.schema import deliveries, positions, vessels
from ais_watch.watchlist.entries import entry_json
from ais_watch.watchlist.importers import FORMATS as IMPORT_FORMATS
from ais_watch.watchlist.importers import read_watchlist
from ais_watch.watchlist.store import list_entries, load_index, remove, upsert

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ENGINE = web.AppKey("engine", AsyncEngine)
ZONES = web.AppKey("zones", Any)
RUNTIME = web.AppKey("runtime", Any)
LIVE = web.AppKey("live", Any)
CONFIG = web.AppKey("config", dict)
SOURCES = web.AppKey("sources", list)
OUTBOX_STUCK = timedelta(minutes=15)  # a pending delivery older than this: the outbox is not moving
GAP_AT_LEAST = timedelta(hours=1)  # a silence in a vessel's track worth showing in its panel
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
ROLE = web.RequestKey("role", str)
TOKEN_NAME = web.RequestKey("token_name", Any)
MAX_RANGE = timedelta(days=366)
SECURITY_HEADERS = {
    # No inline script, ever: AIS text shown in a page can never become code.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class BadRequest(web.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(text=json.dumps({"error": message}), content_type="application/json")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: str | None  # None: no token needed
    summary: str
    params: tuple[tuple[str, str, str], ...] = ()  # (name, in, description)
    body: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- inputs
def _time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return parse_iso_time(value)
    except ValueError as err:
        raise BadRequest(f"{name}: not an ISO 8601 time: {value!r}") from err


def _range(request: web.Request) -> tuple[datetime | None, datetime | None]:
    since, until = _time(request, "since"), _time(request, "until")
    if since and until and since > until:
        raise BadRequest("since is after until")
    if since and until and until - since > MAX_RANGE:
        raise BadRequest(f"range too large: at most {MAX_RANGE.days} days")
    return since, until


def _digits(value: str, most: int) -> bool:
    """ASCII digits only (str.isdigit() also takes '²', which int() refuses), and few enough to fit."""
    return value.isascii() and value.isdigit() and len(value) <= most


def _limit(request: web.Request, default: int = 100, maximum: int = 10000) -> int:
    value = request.query.get("limit", str(default))
    if not _digits(value, 9) or not 1 <= int(value) <= maximum:
        raise BadRequest(f"limit: a whole number from 1 to {maximum}")
    return int(value)


def _mmsi(request: web.Request) -> int:
    value = request.match_info["mmsi"]
    if not (_digits(value, 9) and len(value) == 9):
        raise BadRequest(f"not an MMSI (9 digits): {value!r}")
    return int(value)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(type(value).__name__)


# ----------------------------------------------------------------------------------------- handlers
async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers, the store keeps up, a source is connected, the outbox moves."""
    problems: list[str] = []
    report: dict[str, Any] = {}
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
            oldest = await conn.scalar(select(func.min(deliveries.c.created_at))
                                       .where(deliveries.c.state == "pending"))
        report["database"] = "ok"
    except Exception as err:
        return _json({"status": "unavailable", "database": str(err).splitlines()[0][:200]}, status=503)
    if oldest is not None and datetime.now(UTC) - oldest > OUTBOX_STUCK:
        problems.append(f"a delivery has been pending since {iso(oldest)}")
    report["oldest_pending_delivery"] = iso(oldest)
    runtime = request.app[RUNTIME]
    if runtime is not None and runtime.pipeline.writer.failing_since is not None:
        problems.append("database writes are failing")
    if runtime is not None and runtime.leadership is not None:  # a standby is ready too: it ingests, serves
        report["leadership"] = runtime.leadership.status()
    sources = request.app[SOURCES]
    report["sources"] = {s.name: bool(s.connected) for s in sources}
    if sources and not any(s.connected for s in sources):
        problems.append("no source is connected")
    report["problems"] = problems
    report["status"] = "ready" if not problems else "degraded"
    return _json(report, status=200 if not problems else 503)


async def search_vessels(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    query = select(vessels).order_by(vessels.c.last_seen.desc().nulls_last()).limit(_limit(request, 50, 1000))
    if q:
        clauses = [vessels.c.name.ilike(f"%{q}%")]
        if _digits(q, 9) and len(q) == 9:
            clauses.append(vessels.c.mmsi == int(q))
        imo = q.upper().removeprefix("IMO").strip()
        if _digits(imo, 7) and len(imo) == 7:
            clauses.append(vessels.c.imo == int(imo))
        query = query.where(or_(*clauses))
    async with request.app[ENGINE].connect() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return _json({"vessels": rows})


async def get_vessel(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    mmsi = _mmsi(request)
    row = await vessel(engine, mmsi)
    if row is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no vessel {mmsi}"}), content_type="application/json"
        )
    entries = [
        e
        for e in await list_entries(engine)
        if e["mmsi"] == mmsi or (row["imo"] is not None and e["imo"] == row["imo"])
    ]
    entries += _demo_only_entries(request, {e["key"] for e in entries}, mmsi, row["imo"])
    # The silences of the 30 days before it was last heard (or before now).
    last = row["last_seen"] or _now(request)
    silences = await gaps(engine, mmsi, last - timedelta(days=30), GAP_AT_LEAST)
    return _json({"vessel": row, "identity_history": await identity_changes(engine, mmsi),
                  "watchlist": entries, "gaps": silences})


async def vessel_track(request: web.Request) -> web.StreamResponse:
    mmsi = _mmsi(request)
    since, until = _range(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "geojson", "csv"):
        raise BadRequest("format: json, geojson or csv")
    limit = _limit(request, 5000, 50000)
    every = request.query.get("every", "0")
    if not _digits(every, 6):
        raise BadRequest("every: seconds between points kept (0 keeps all)")
    # A long range thinned on the server: one point per `every` seconds (default 10 min past 30 days).
    step = timedelta(seconds=int(every)) if int(every) else (
        timedelta(minutes=10) if since and until and until - since > timedelta(days=30) else None)
    after = _time(request, "cursor")  # the time of the last point of the previous page
    rows: list[dict[str, Any]] = []
    async for row in track(request.app[ENGINE], [mmsi], since, until, after=after):
        if step is None or not rows or row["time"] - rows[-1]["time"] >= step:
            rows.append(row)
            if len(rows) > limit:
                break
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = iso(rows[-1]["time"]) if more and rows else None
    points = [
        {k: r[k] for k in ("time", "lat", "lon", "sog", "cog", "heading", "nav_status", "source")}
        for r in rows
    ]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("mmsi", *points[0].keys()) if points else ("mmsi", "time"))
        for p in points:
            writer.writerow((mmsi, *(iso(v) if isinstance(v, datetime) else v for v in p.values())))
        response = web.Response(text=out.getvalue(), content_type="text/csv")
        if next_cursor:
            response.headers["X-Next-Cursor"] = next_cursor
        return response
    if fmt == "geojson":
        feature = {
            "type": "Feature",
            "properties": {
                "mmsi": mmsi,
                "coordTimes": [iso(p["time"]) for p in points],
                "next_cursor": next_cursor,
            },
            "geometry": {"type": "LineString", "coordinates": [[p["lon"], p["lat"]] for p in points]},
        }
        return _json({"type": "FeatureCollection", "features": [feature] if points else []})
    return _json({"mmsi": mmsi, "points": points, "next_cursor": next_cursor})


async def list_alerts(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    kind, state = request.query.get("kind"), request.query.get("state")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind: one of {', '.join(KINDS)}")
    if state is not None and state not in STATES:
        raise BadRequest(f"state: one of {', '.join(STATES)}")
    since, until = _range(request)
    mmsis = imo = None
    if "vessel" in request.query:
        try:
            mmsis, imo = await resolve_vessel(engine, request.query["vessel"])
        except AisWatchError as err:
            raise BadRequest(str(err)) from err
    rows = await AlertStore(engine).query(
        kind=kind,
        state=state,
        since=since,
        until=until,
        mmsis=mmsis,
        imo=imo,
        limit=_limit(request),
        newest_first=True,
    )
    return _json({"alerts": [alert_json(r) for r in rows]})


async def _transition(request: web.Request, action: str) -> web.Response:
    try:
        if not _digits(request.match_info["id"], 18):
            raise ValueError("not an alert id")
        alert_id = int(request.match_info["id"])
        body = await request.json() if request.can_read_body else {}
    except (ValueError, json.JSONDecodeError) as err:
        raise BadRequest('expected an alert id and a JSON body like {"note": "..."}') from err
    note = body.get("note") if isinstance(body, dict) else None
    if note is not None and not isinstance(note, str):
        raise BadRequest("note: a string")
    store = _alert_store(request)
    change = store.acknowledge if action == "ack" else store.resolve
    try:
        row = await change(alert_id, request[TOKEN_NAME] or request[ROLE], note)
    except AlertError as err:
        status = 404 if "no alert" in str(err) else 409
        return _json({"error": str(err)}, status=status)
    return _json(alert_json(row))


async def get_alert(request: web.Request) -> web.Response:
    """One alert (the contract object), who acknowledged or resolved it with their notes, and its
    deliveries with every attempt: failed deliveries are visible here."""
    if not _digits(request.match_info["id"], 18):
        raise BadRequest("not an alert id")
    alert_id = int(request.match_info["id"])
    store = AlertStore(request.app[ENGINE])
    try:
        row = await store.get(alert_id)
    except AlertError as err:
        return _json({"error": str(err)}, status=404)
    review = {
        k: row[k]
        for k in (
            "acknowledged_by",
            "acknowledged_at",
            "ack_note",
            "resolved_by",
            "resolved_at",
            "resolve_note",
        )
    }
    sent = await store.deliveries(alert_id=alert_id)
    return _json({"alert": alert_json(row), "review": review, "deliveries": sent})


def _alert_store(request: web.Request) -> AlertStore:
    """The service's own store when there is one: its listeners (the live feed) hear of the change."""
    runtime = request.app[RUNTIME]
    return runtime.alerts if runtime is not None else AlertStore(request.app[ENGINE])


async def ack_alert(request: web.Request) -> web.Response:
    return await _transition(request, "ack")


async def resolve_alert(request: web.Request) -> web.Response:
    return await _transition(request, "resolve")


async def list_port_calls(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    since, until = _range(request)
    mmsis = port_ids = None
    if "vessel" in request.query:
        try:
            mmsis = (await resolve_vessel(engine, request.query["vessel"]))[0]
        except AisWatchError as err:
            raise BadRequest(str(err)) from err
    if "port" in request.query:
        zone = request.app[ZONES].index.find(request.query["port"])
        if zone is None:
            raise BadRequest(f"no port or zone called {request.query['port']!r}")
        port_ids = [zone.id]
    rows = await port_call_rows(
        engine, mmsis=mmsis, port_ids=port_ids, since=since, until=until, limit=_limit(request, 500)
    )
    return _json({"port_calls": rows})


async def list_zones(request: web.Request) -> web.Response:
    from shapely.geometry import mapping

    features = [
        {
            "type": "Feature",
            "geometry": mapping(z.geometry),
            "properties": {
                "id": z.id,
                "name": z.name,
                "aliases": list(z.aliases),
                "country": z.country,
                "kind": z.kind,
                "wpi": z.wpi,
                "locode": z.locode,
                "source": z.source,
            },
        }
        for z in request.app[ZONES].index
    ]
    return _json({"type": "FeatureCollection", "features": features})


async def list_watchlist(request: web.Request) -> web.Response:
    return _json({"entries": [entry_json(e) for e in await list_entries(request.app[ENGINE])]})


async def import_watchlist(request: web.Request) -> web.Response:
    """The body is a watchlist file (CSV, OFAC SDN.CSV or OpenSanctions), read by the CLI's importers.
    One entry is a one-row CSV: name,imo,mmsi,flag,reason,source."""
    fmt = request.query.get("format", "auto")
    if fmt not in IMPORT_FORMATS:
        raise BadRequest(f"format: one of {', '.join(IMPORT_FORMATS)}")
    body = await request.read()
    if not body.strip():
        raise BadRequest("an empty body: send a watchlist file")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(body)
        try:
            entries, report = await asyncio.to_thread(read_watchlist, path, fmt)
        except AisWatchError as err:
            raise BadRequest(str(err).replace(str(path), "the upload")) from err
    report.imported, report.updated = await upsert(request.app[ENGINE], entries)
    await _watch_from_now(request)
    return _json({"read": report.read, "imported": report.imported, "updated": report.updated,
                  "skipped": report.skipped, "problems": report.problems})


async def delete_watchlist_entry(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    try:
        found = await remove(request.app[ENGINE], key)
    except AisWatchError as err:
        raise BadRequest(str(err)) from err
    if not found:
        return _json({"error": f"no watchlist entry {key!r}"}, status=404)
    await _watch_from_now(request)
    return _json({"removed": key})


async def _watch_from_now(request: web.Request) -> None:
    """A watchlist changed through the API is the one this instance's detectors and map use from now,
    not at the next reload (other instances pick it up at theirs, within a minute)."""
    runtime = request.app[RUNTIME]
    enricher = runtime.parts.get("watchlist") if runtime is not None else None
    if enricher is not None:
        enricher.replace_index(await load_index(request.app[ENGINE]))


async def vessels_in_zone(request: web.Request) -> web.Response:
    """Every vessel with a position inside the zone during [since, until], with its first and last fix."""
    zone = request.app[ZONES].index.find(request.match_info["zone"])
    if zone is None:
        return _json({"error": f"no zone {request.match_info['zone']!r}"}, status=404)
    since, until = _range(request)
    if since is None or until is None:
        raise BadRequest("since and until are both needed")
    west, south, east, north = zone.geometry.bounds
    query = (select(positions.c.mmsi, positions.c.time, positions.c.lat, positions.c.lon)
             .where(positions.c.time >= since, positions.c.time <= until,
                    positions.c.lat.between(south, north), positions.c.lon.between(west, east))
             .order_by(positions.c.time))
    inside: dict[int, dict[str, Any]] = {}
    async with request.app[ENGINE].connect() as conn:
        rows = (await conn.execute(query.limit(500_000))).all()
    hits = shapely.intersects(zone.geometry, shapely.points([(r.lon, r.lat) for r in rows])) if rows else []
    for row, hit in zip(rows, hits, strict=True):
        if hit:
            seen = inside.setdefault(row.mmsi, {"mmsi": row.mmsi, "first": row.time, "last": row.time,
                                                 "fixes": 0})
            seen["last"] = row.time
            seen["fixes"] += 1
    return _json({"zone": zone.id, "since": since, "until": until, "vessels": list(inside.values())})


async def count_vessels(request: web.Request) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(vessels))
    return _json({"vessels": total})


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no pipeline runs in this process"}), content_type="application/json"
        )
    response = web.Response(body=metrics_text(runtime))
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


async def live(request: web.Request) -> web.StreamResponse:
    hub = request.app[LIVE]
    if hub is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no pipeline runs in this process"}), content_type="application/json"
        )
    return await hub.serve(request)


async def map_vessels(request: web.Request) -> web.Response:
    """The latest position of every vessel heard in the last `hours`, watchlisted ones flagged: the map."""
    hours = request.query.get("hours", "24")
    if not hours.isdigit() or not 1 <= int(hours) <= 24 * 30:
        raise BadRequest("hours: a whole number from 1 to 720")
    engine = request.app[ENGINE]
    since = _now(request) - timedelta(hours=int(hours))
    query = (
        select(
            vessels.c.mmsi,
            vessels.c.name,
            vessels.c.imo,
            vessels.c.mmsi_valid,
            vessels.c.last_seen,
            vessels.c.last_lat,
            vessels.c.last_lon,
            vessels.c.last_sog,
            vessels.c.last_cog,
            vessels.c.last_heading,
        )
        .where(vessels.c.last_seen >= since)
        .order_by(vessels.c.last_seen.desc())
        .limit(_limit(request, 5000, 20000))
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    index = _running_watchlist(request)
    if index is None:  # the API without a running pipeline (tests, a read-only instance)
        index = await load_index(engine)
    return _json(
        {
            "vessels": [
                {
                    "mmsi": r["mmsi"],
                    "name": r["name"],
                    "imo": r["imo"],
                    "time": r["last_seen"],
                    "lat": r["last_lat"],
                    "lon": r["last_lon"],
                    "sog": r["last_sog"],
                    "cog": r["last_cog"],
                    "heading": r["last_heading"],
                    "watched": index.match(r["mmsi"], bool(r["mmsi_valid"]), r["imo"], r["name"]) is not None,
                }
                for r in rows
            ]
        }
    )


async def dashboard_config(request: web.Request) -> web.Response:
    """`now` is the service's time, which the dashboard's own times follow; `demo` says whether the demo
    runs (`ais-watch serve` with no live feed) and how fast its clock goes, else it is null."""
    clock = _demo_clock(request)
    demo = None if clock is None else {"speed": clock.speed, "banner": banner(clock.speed)}
    return _json({**request.app[CONFIG], "kinds": list(KINDS), "now": _now(request), "demo": demo})


# ------------------------------------------------------------------------------------------- the demo
def _demo_clock(request: web.Request) -> DemoClock | None:
    """The demo's clock while `serve` runs the demo (ais_watch/demo.py), else None."""
    clock = getattr(getattr(request.app[RUNTIME], "pipeline", None), "clock", None)
    return clock if isinstance(clock, DemoClock) else None


def _now(request: web.Request) -> datetime:
    """The service's time: the demo clock's while the demo runs (far ahead of the wall clock), else now."""
    clock = _demo_clock(request)
    return clock.now() if clock is not None else datetime.now(UTC)


def _running_watchlist(request: web.Request) -> Any:
    """The running service's watchlist index (the detectors' own, kept fresh by the reload job and by
    changes through this API), so the map does not rebuild it from the table on every request."""
    runtime = request.app[RUNTIME]
    enricher = runtime.parts.get("watchlist") if runtime is not None else None
    return None if enricher is None else enricher.index


def _demo_watchlist(request: web.Request) -> Any:
    """While the demo runs, the running watchlist index: the table's entries and the simulated ship,
    which is watched in the running service only, never written to the table."""
    return _running_watchlist(request) if _demo_clock(request) is not None else None


def _demo_only_entries(request: web.Request, stored: set[str], mmsi: int, imo: int | None
                       ) -> list[dict[str, Any]]:
    """Entries of the demo's running watchlist for this vessel that are not in the table (the simulated
    ship's), in the table's row form."""
    index = _demo_watchlist(request)
    if index is None:
        return []
    return [{"key": e.key, "name": e.name, "imo": e.imo, "mmsi": e.mmsi, "flag": e.flag, "reason": e.reason,
             "source": e.source, "aliases": list(e.aliases), "tags": list(e.tags),
             "dark_threshold": e.dark_threshold, "created_at": None, "updated_at": None}
            for e in index.entries
            if e.key not in stored and (e.mmsi == mmsi or (imo is not None and e.imo == imo))]


async def to_dashboard(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard/")


async def dashboard_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DASHBOARD_DIR / "index.html")


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", healthz, None, "The process is up."),
    Route("GET", "/readyz", readyz, None, "The database is reachable."),
    Route("GET", "/metrics", metrics, None, "Prometheus metrics: ingest, rejects, alerts, deliveries, lag."),
    Route("GET", "/api/openapi.json", openapi, "viewer", "This document."),
    Route("GET", "/api/stats", count_vessels, "viewer", "Counts of what the store holds."),
    Route("GET", "/api/config", dashboard_config, "viewer",
          "What the dashboard needs: tiles, alert kinds, the service's time and whether the demo runs."),
    Route(
        "GET",
        "/api/map",
        map_vessels,
        "viewer",
        "The latest position of every vessel heard recently, watchlisted ones flagged.",
        (("hours", "query", "1-720, default 24"), ("limit", "query", "1-20000, default 5000")),
    ),
    Route(
        "GET",
        "/api/vessels",
        search_vessels,
        "viewer",
        "Vessels by name, MMSI or IMO, latest first.",
        (("q", "query", "name part, MMSI or IMO"), ("limit", "query", "1-1000, default 50")),
    ),
    Route(
        "GET",
        "/api/vessels/{mmsi}",
        get_vessel,
        "viewer",
        "A vessel: latest static data and position, identity history, watchlist entries.",
        (("mmsi", "path", "9 digits"),),
    ),
    Route(
        "GET",
        "/api/vessels/{mmsi}/track",
        vessel_track,
        "viewer",
        "A vessel's positions over a time range, oldest first, paged by cursor.",
        (
            ("mmsi", "path", "9 digits"),
            ("since", "query", "ISO 8601"),
            ("until", "query", "ISO 8601"),
            ("format", "query", "json, geojson or csv"),
            ("limit", "query", "1-50000, default 5000"),
            ("cursor", "query", "next_cursor of the previous page"),
            ("every", "query", "keep one point per this many seconds (default: all; 600 past 30 days)"),
        ),
    ),
    Route(
        "GET",
        "/api/alerts",
        list_alerts,
        "viewer",
        "Alerts, newest first.",
        (
            ("kind", "query", "alert kind"),
            ("state", "query", "open, acknowledged or resolved"),
            ("vessel", "query", "MMSI or IMO:1234567"),
            ("since", "query", "ISO 8601"),
            ("until", "query", "ISO 8601"),
            ("limit", "query", "1-10000, default 100"),
        ),
    ),
    Route(
        "GET",
        "/api/alerts/{id}",
        get_alert,
        "viewer",
        "One alert, who acknowledged or resolved it (with notes), and its deliveries and attempts.",
        (("id", "path", "alert id"),),
    ),
    Route(
        "POST",
        "/api/alerts/{id}/ack",
        ack_alert,
        "operator",
        "Acknowledge an alert, with a note.",
        (("id", "path", "alert id"),),
        {"note": "string"},
    ),
    Route(
        "POST",
        "/api/alerts/{id}/resolve",
        resolve_alert,
        "operator",
        "Resolve an alert, with a note.",
        (("id", "path", "alert id"),),
        {"note": "string"},
    ),
    Route(
        "GET",
        "/api/port-calls",
        list_port_calls,
        "viewer",
        "Port calls, oldest arrival first.",
        (
            ("vessel", "query", "MMSI or IMO:1234567"),
            ("port", "query", "port id, name or alias"),
            ("since", "query", "ISO 8601"),
            ("until", "query", "ISO 8601"),
            ("limit", "query", "1-10000"),
        ),
    ),
    Route("GET", "/api/zones", list_zones, "viewer", "Every geofence, as GeoJSON."),
    Route("GET", "/api/watchlist", list_watchlist, "viewer", "The watchlist."),
    Route("POST", "/api/watchlist", import_watchlist, "admin",
          "Add or update entries: the body is a watchlist file (CSV name,imo,mmsi,flag,reason,source; OFAC "
          "SDN.CSV; OpenSanctions), re-importing updates, never duplicates.",
          (("format", "query", "csv, ofac-sdn, opensanctions or auto"),)),
    Route("DELETE", "/api/watchlist/{key}", delete_watchlist_entry, "admin", "Remove an entry.",
          (("key", "path", "imo:1234567, mmsi:123456789 or name:NAME"),)),
    Route("GET", "/api/zones/{zone}/vessels", vessels_in_zone, "viewer",
          "Vessels with a position inside a zone during a time window.",
          (("zone", "path", "zone id, name or alias"), ("since", "query", "ISO 8601"),
           ("until", "query", "ISO 8601"))),
    Route(
        "GET",
        "/api/live",
        live,
        "viewer",
        "Websocket: new and changed alerts, positions of watchlisted vessels, and every vessel in the "
        'viewport the client sends as {"viewport": [south, west, north, east]}. Browsers, which cannot '
        "set headers on a websocket, pass the token as ?token=.",
        (("token", "query", "API token"),),
    ),
)


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "parameters": [
                {
                    "name": n,
                    "in": where,
                    "required": where == "path",
                    "description": d,
                    "schema": {"type": "string"},
                }
                for n, where, d in route.params
            ],
            "responses": {"200": {"description": "OK"}, "400": {"description": "Bad request"}},
        }
        if route.role is not None:
            operation["security"] = [{"bearer": []}]
            operation["x-role"] = route.role
            operation["responses"].update(
                {
                    "401": {"description": "No valid token"},
                    "403": {"description": f"Needs the {route.role} role"},
                }
            )
        if route.body:
            operation["requestBody"] = {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {k: {"type": v} for k, v in route.body.items()},
                        }
                    }
                }
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "ais-watch", "version": __version__},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tokens and roles first, security headers on every response (errors included)."""
    try:
        route = request.match_info.route.resource and _ROLE.get(
            (request.method, request.match_info.route.resource.canonical)
        )
        needed = route[0] if route else None
        if needed is not None:
            header = request.headers.get("Authorization", "")
            token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
            if not token and request.path == "/api/live":  # a browser's websocket cannot send headers
                token = request.query.get("token", "")
            holder = await role_of(request.app[ENGINE], token)
            if holder is None:
                raise web.HTTPUnauthorized(
                    text=json.dumps({"error": "a valid API token is needed"}),
                    content_type="application/json",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            role, name = holder
            if not allows(role, needed):
                raise web.HTTPForbidden(
                    text=json.dumps({"error": f"needs the {needed} role"}), content_type="application/json"
                )
            request[ROLE] = role
            request[TOKEN_NAME] = name
        response = await handler(request)
    except web.HTTPException as err:
        err.headers.update(SECURITY_HEADERS)
        raise
    except Exception:  # a bug or a database error: a 500 that says nothing of the internals
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500, headers=SECURITY_HEADERS)
    response.headers.update(SECURITY_HEADERS)
    return response


_ROLE: dict[tuple[str, str], tuple[str | None]] = {(r.method, r.path): (r.role,) for r in ROUTES}


def create_app(
    engine: AsyncEngine,
    zones: Any,
    runtime: Any = None,
    live: Any = None,
    config: dict[str, Any] | None = None,
    sources: list[Any] | None = None,
) -> web.Application:
    """The API and the dashboard. `config` is what the dashboard is told (tile_url, tile_attribution)."""
    import xstatic.pkg.leaflet

    app = web.Application(middlewares=[security], client_max_size=1024 * 1024)
    app[ENGINE] = engine
    app[ZONES] = zones
    app[RUNTIME] = runtime
    app[LIVE] = live
    app[CONFIG] = config or {"tile_url": "", "tile_attribution": ""}
    app[SOURCES] = sources or []
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    # The dashboard: static files, no token (they hold no data; every data call needs one).
    app.router.add_get("/", to_dashboard)
    app.router.add_get("/dashboard/", dashboard_index)
    app.router.add_static("/dashboard/leaflet/", xstatic.pkg.leaflet.BASE_DIR)
    app.router.add_static("/dashboard/", DASHBOARD_DIR)
    return app
