"""Reception: the receiving stations and areas the running pipeline judges, their state and rates (a
watch floor's coverage picture, and what the dashboard's coverage layer draws)."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from ais_watch.api import service
from ais_watch.api.params import BadRequest, NotFound, json_response, query_bbox

KINDS = ("stations", "areas")
STATES = ("ok", "outage")


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name}: {' or '.join(allowed)}")
    return value


async def list_reception(request: web.Request) -> web.Response:
    """Stations and areas, those in outage first; `kind` leaves the other list out."""
    state = _choice(request, "state", STATES)
    kind = _choice(request, "kind", KINDS)
    source = request.query.get("source")
    box = query_bbox(request)
    snapshot = service.reception(request)
    if snapshot is None:
        raise NotFound("reception is off here (reception.enabled)" if service.runs_pipeline(request)
                       else "no pipeline runs in this process")
    out: dict[str, list[dict[str, Any]]] = {}
    for key in KINDS:
        if kind is not None and key != kind:
            continue
        items = [_json_safe(item) for item in snapshot[key]
                 if (state is None or item["state"] == state)
                 and (source is None or item["source"] == source)
                 and (box is None or _in_box(item["bounds"], box))]
        items.sort(key=lambda item: (item["state"] != "outage", item["source"], item["label"]))
        out[key] = items
    return json_response(out)


def _in_box(bounds: list[float] | None, box: tuple[float, float, float, float]) -> bool:
    """Whether what it covers ([south, west, north, east]) meets the box; not when nothing placed it."""
    if bounds is None:
        return False
    south, west, north, east = bounds
    box_west, box_south, box_east, box_north = box
    if south > box_north or north < box_south:
        return False
    if box_west <= box_east:
        return west <= box_east and east >= box_west
    return east >= box_west or west <= box_east  # the box crosses the antimeridian


def _json_safe(item: dict[str, Any]) -> dict[str, Any]:
    """A copy with no NaN or infinity (not JSON) and its own bounds list (the step's is live state)."""
    out = {key: _number(value) for key, value in item.items()}
    bounds = item.get("bounds")
    out["bounds"] = None if bounds is None else [_number(v) for v in bounds]
    return out


def _number(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
