"""Vessels: search, one vessel's panel, its identity, its track, the map, who was inside a zone, the
store's counts."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from typing import Any

import shapely
from aiohttp import web

from ais_watch.alerts.model import iso
from ais_watch.api import service
from ais_watch.api.keys import ENGINE, ZONES
from ais_watch.api.params import (
    BadRequest,
    NotFound,
    digits,
    json_response,
    path_mmsi,
    query_flag,
    query_limit,
    query_range,
    query_time,
)
from ais_watch.cli_output import csv_writer
from ais_watch.store.queries import (
    find_vessels,
    gaps,
    heard_since,
    identity_changes,
    identity_histories,
    imos_of,
    mmsis_for,
    positions_in_box,
    track,
    vessel,
    vessel_count,
    vessels_by_mmsi,
)
from ais_watch.track_format import (
    PARQUET_MEDIA_TYPE,
    POINT_FIELDS,
    GeoParquetTrack,
    marked_feature,
    split_marked,
    track_point,
)
from ais_watch.watchlist.store import list_entries

GAP_AT_LEAST = timedelta(hours=1)  # a silence in a vessel's track worth showing in its panel


async def search_vessels(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    limit = query_limit(request, 50, 1000)
    imo = q.upper().removeprefix("IMO").strip()
    rows = await find_vessels(request.app[ENGINE], q,
                              mmsi=int(q) if digits(q, 9) and len(q) == 9 else None,
                              imo=int(imo) if digits(imo, 7) and len(imo) == 7 else None, limit=limit)
    return json_response({"vessels": rows})


async def get_vessel(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    mmsi = path_mmsi(request)
    row = await vessel(engine, mmsi)
    if row is None:
        raise NotFound(f"no vessel {mmsi}")
    entries = [
        e
        for e in await list_entries(engine, now=service.now(request))
        if e["mmsi"] == mmsi or (row["imo"] is not None and e["imo"] == row["imo"])
    ]
    entries += service.demo_only_entries(request, {e["key"] for e in entries}, mmsi, row["imo"])
    # The silences of the 30 days before it was last heard (or before now).
    last = row["last_seen"] or service.now(request)
    silences = await gaps(engine, mmsi, last - timedelta(days=30), GAP_AT_LEAST)
    return json_response({"vessel": row, "identity_history": await identity_changes(engine, mmsi),
                          "watchlist": entries, "gaps": silences})


async def vessel_track(request: web.Request) -> web.StreamResponse:
    mmsi = path_mmsi(request)
    since, until = query_range(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "geojson", "csv", "parquet"):
        raise BadRequest("format: json, geojson, csv or parquet")
    limit = query_limit(request, 5000, 50000)
    every = request.query.get("every", "0")
    if not digits(every, 6):
        raise BadRequest("every: seconds between points kept (0 keeps all)")
    all_segments = query_flag(request, "all_segments")
    # A long range thinned on the server: one point per `every` seconds (default 10 min past 30 days).
    step = timedelta(seconds=int(every)) if int(every) else (
        timedelta(minutes=10) if since and until and until - since > timedelta(days=30) else None)
    after = query_time(request, "cursor")  # the time of the last point of the previous page
    rows: list[dict[str, Any]] = []
    kept: datetime | None = None  # the time of the last believed point kept
    async for row in track(request.app[ENGINE], [mmsi], since, until, after=after, all_segments=all_segments):
        # Thinning keeps the shape of the believed track; a marked position is always kept (there are
        # few, and each is why the track was asked for).
        if row["anomaly"] is None:
            if step is not None and kept is not None and row["time"] - kept < step:
                continue
            kept = row["time"]
        rows.append(row)
        if len(rows) > limit:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = iso(rows[-1]["time"]) if more and rows else None
    if fmt == "parquet":
        return await _track_parquet(rows, next_cursor)
    points = [track_point(r) for r in rows]
    if fmt == "csv":
        return _track_csv(mmsi, points, next_cursor)
    if fmt == "geojson":
        return json_response(_track_geojson(mmsi, points, next_cursor))
    return json_response({"mmsi": mmsi, "points": points, "next_cursor": next_cursor})


def _track_geojson(mmsi: int, points: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    """The believed positions as one LineString; each marked one (all_segments) as a Point with why. The
    page's cursor is on the collection (a page may hold marked positions only) and on the line."""
    believed, marked = split_marked(points)
    features: list[dict[str, Any]] = []
    if believed:
        features.append({
            "type": "Feature",
            "properties": {
                "mmsi": mmsi,
                "coordTimes": [p["time"] for p in believed],
                "segments": [p["segment"] for p in believed],
                "next_cursor": next_cursor,
            },
            "geometry": {"type": "LineString", "coordinates": [[p["lon"], p["lat"]] for p in believed]},
        })
    features += [marked_feature(mmsi, p) for p in marked]
    return {"type": "FeatureCollection", "features": features, "next_cursor": next_cursor}


def _parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    parquet = GeoParquetTrack()
    for row in rows:
        parquet.add(row)
    return parquet.to_bytes()


async def _track_parquet(rows: list[dict[str, Any]], next_cursor: str | None) -> web.Response:
    """A page of a track as GeoParquet (built in a thread: a page of 50,000 positions is CPU work the
    event loop should not wait on); the next page's cursor in a header, as for CSV."""
    body = await asyncio.to_thread(_parquet_bytes, rows)
    response = web.Response(body=body, content_type=PARQUET_MEDIA_TYPE)
    if next_cursor:
        response.headers["X-Next-Cursor"] = next_cursor
    return response


def _track_csv(mmsi: int, points: list[dict[str, Any]], next_cursor: str | None) -> web.Response:
    """A page of a track as CSV; the next page's cursor travels in a header, as CSV has no room for it."""
    out = io.StringIO()
    fields = ("mmsi", *POINT_FIELDS)
    write_row = csv_writer(fields, out, header=fields if points else ("mmsi", "time"))
    for p in points:
        write_row({"mmsi": mmsi, **p})
    response = web.Response(text=out.getvalue(), content_type="text/csv")
    if next_cursor:
        response.headers["X-Next-Cursor"] = next_cursor
    return response


IDENTITY_FIELDS = ("mmsi", "mmsi_valid", "flag", "name", "call_sign", "imo", "ship_type", "draught",
                   "destination", "first_seen", "last_seen", "static_updated")
OTHER_FIELDS = ("mmsi", "imo", "flag", "name", "call_sign", "ship_type", "first_seen", "last_seen")


async def vessel_identity(request: web.Request) -> web.Response:
    """Who a vessel is now, every change to that, and the other MMSIs that broadcast its IMO (each with its
    own history): a rename, a new MMSI and a new flag read as one story."""
    engine = request.app[ENGINE]
    mmsi = path_mmsi(request)
    row = await vessel(engine, mmsi)
    if row is None:
        raise NotFound(f"no vessel {mmsi}: never heard, or not stored")
    imos = await imos_of(engine, mmsi)
    others = sorted({m for imo in imos for m in await mmsis_for(engine, "imo", imo)} - {mmsi})
    other_rows = await vessels_by_mmsi(engine, others)
    histories = await identity_histories(engine, [mmsi, *others])
    same_imo = []
    for other in other_rows:
        shared = await imos_of(engine, other["mmsi"])
        same_imo.append({**{f: other[f] for f in OTHER_FIELDS}, "imos": [i for i in shared if i in imos],
                         "history": histories[other["mmsi"]]})
    return json_response({"mmsi": mmsi, "identity": {f: row[f] for f in IDENTITY_FIELDS}, "imos": imos,
                          "history": histories[mmsi], "same_imo": same_imo})


async def map_vessels(request: web.Request) -> web.Response:
    """The latest position of every vessel heard in the last `hours`, watchlisted ones flagged: the map."""
    hours = request.query.get("hours", "24")
    if not hours.isdigit() or not 1 <= int(hours) <= 24 * 30:
        raise BadRequest("hours: a whole number from 1 to 720")
    since = service.now(request) - timedelta(hours=int(hours))
    rows = await heard_since(request.app[ENGINE], since, query_limit(request, 5000, 20000))
    index = await service.watchlist_index(request)
    return json_response(
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


async def vessels_in_zone(request: web.Request) -> web.Response:
    """Every vessel with a position inside the zone during [since, until], with its first and last fix."""
    zone = request.app[ZONES].index.find(request.match_info["zone"])
    if zone is None:
        return json_response({"error": f"no zone {request.match_info['zone']!r}"}, status=404)
    since, until = query_range(request)
    if since is None or until is None:
        raise BadRequest("since and until are both needed")
    # The bounding box is selected in SQL, the exact shape tested here.
    rows = await positions_in_box(request.app[ENGINE], since, until, zone.geometry.bounds, limit=500_000)
    inside: dict[int, dict[str, Any]] = {}
    hits = shapely.intersects(zone.geometry, shapely.points([(r.lon, r.lat) for r in rows])) if rows else []
    for row, hit in zip(rows, hits, strict=True):
        if hit:
            seen = inside.setdefault(row.mmsi, {"mmsi": row.mmsi, "first": row.time, "last": row.time,
                                                 "fixes": 0})
            seen["last"] = row.time
            seen["fixes"] += 1
    return json_response({"zone": zone.id, "since": since, "until": until, "vessels": list(inside.values())})


async def count_vessels(request: web.Request) -> web.Response:
    return json_response({"vessels": await vessel_count(request.app[ENGINE])})
