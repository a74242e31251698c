"""Port calls."""

from __future__ import annotations

from aiohttp import web

from ais_watch.api.keys import ENGINE, ZONES
from ais_watch.api.params import BadRequest, json_response, query_limit, query_range
from ais_watch.errors import AisWatchError
from ais_watch.store.queries import port_call_rows, resolve_vessel


async def list_port_calls(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    since, until = query_range(request)
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
        engine, mmsis=mmsis, port_ids=port_ids, since=since, until=until, limit=query_limit(request, 500)
    )
    return json_response({"port_calls": rows})
