"""Reading a request's inputs, with a clear 400 for anything off, and writing JSON responses."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from ais_watch.alerts.model import iso
from ais_watch.model import parse_iso_time

MAX_RANGE = timedelta(days=366)


class BadRequest(web.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(text=json.dumps({"error": message}), content_type="application/json")


class NotFound(web.HTTPNotFound):
    def __init__(self, message: str) -> None:
        super().__init__(text=json.dumps({"error": message}), content_type="application/json")


def query_time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return parse_iso_time(value)
    except ValueError as err:
        raise BadRequest(f"{name}: not an ISO 8601 time: {value!r}") from err


def query_range(request: web.Request) -> tuple[datetime | None, datetime | None]:
    since, until = query_time(request, "since"), query_time(request, "until")
    if since and until and since > until:
        raise BadRequest("since is after until")
    if since and until and until - since > MAX_RANGE:
        raise BadRequest(f"range too large: at most {MAX_RANGE.days} days")
    return since, until


def digits(value: str, most: int) -> bool:
    """ASCII digits only (str.isdigit() also takes '²', which int() refuses), and few enough to fit."""
    return value.isascii() and value.isdigit() and len(value) <= most


def query_limit(request: web.Request, default: int = 100, maximum: int = 10000) -> int:
    value = request.query.get("limit", str(default))
    if not digits(value, 9) or not 1 <= int(value) <= maximum:
        raise BadRequest(f"limit: a whole number from 1 to {maximum}")
    return int(value)


def query_flag(request: web.Request, name: str) -> bool:
    """A yes/no query parameter: true or false (1 or 0), false when not given."""
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name}: true or false")
    return value in ("true", "1")


def query_bbox(request: web.Request) -> tuple[float, float, float, float] | None:
    """`bbox=west,south,east,north` in degrees (a map's viewport), or None when not given. West may be
    east of east: the box then crosses the antimeridian (a Pacific view)."""
    value = request.query.get("bbox")
    if value is None:
        return None
    try:
        west, south, east, north = (float(part) for part in value.split(","))
    except ValueError as err:  # not four parts, or one not a number
        raise BadRequest(f"bbox: west,south,east,north in degrees: {value[:80]!r}") from err
    if not all(math.isfinite(v) for v in (west, south, east, north)):  # float() takes nan and inf
        raise BadRequest("bbox: finite degrees only")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise BadRequest("bbox: longitudes from -180 to 180")
    if not (-90 <= south <= north <= 90):
        raise BadRequest("bbox: latitudes from -90 to 90, south not above north")
    return west, south, east, north


def path_mmsi(request: web.Request) -> int:
    value = request.match_info["mmsi"]
    if not (digits(value, 9) and len(value) == 9):
        raise BadRequest(f"not an MMSI (9 digits): {value!r}")
    return int(value)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(type(value).__name__)
