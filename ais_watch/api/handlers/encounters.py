"""Encounters: every recorded ship-to-ship meeting, with both vessels named."""

from __future__ import annotations

from aiohttp import web

from ais_watch.api.keys import ENGINE
from ais_watch.api.params import BadRequest, json_response, query_limit, query_range
from ais_watch.errors import AisWatchError
from ais_watch.store import encounters
from ais_watch.store.queries import resolve_vessel


async def list_encounters(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    since, until = query_range(request)
    limit = query_limit(request, 500)
    mmsis = None
    if "vessel" in request.query:
        try:
            mmsis = (await resolve_vessel(engine, request.query["vessel"]))[0]
        except AisWatchError as err:
            raise BadRequest(str(err)) from err
    async with engine.connect() as conn:
        rows = await encounters.query(conn, mmsis=mmsis, since=since, until=until, limit=limit)
    return json_response({"encounters": rows})
