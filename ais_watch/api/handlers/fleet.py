"""The fleet board: every watched vessel, its state, last position, open alerts and last port call."""

from __future__ import annotations

from aiohttp import web

from ais_watch.api import service
from ais_watch.api.keys import ENGINE, ZONES
from ais_watch.api.params import BadRequest, json_response
from ais_watch.fleet import FleetError, fleet_board, fleet_query, places_of


async def fleet(request: web.Request) -> web.Response:
    query = request.query
    try:
        asked = fleet_query(query.get("sort"), query.get("order"), query.get("state"), query.get("watch"))
    except FleetError as err:
        raise BadRequest(str(err)) from err
    now = service.now(request)
    rows = await fleet_board(request.app[ENGINE], now, places_of(request.app[ZONES].index), asked,
                             service.demo_entries(request))
    return json_response({"now": now, "sort": asked.sort, "order": asked.order, "count": len(rows),
                          "vessels": rows})
