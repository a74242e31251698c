"""The live websocket (the hub itself is ais_watch/api/live.py)."""

from __future__ import annotations

from aiohttp import web

from ais_watch.api.keys import HOLDER, LIVE
from ais_watch.api.params import NotFound


async def live(request: web.Request) -> web.StreamResponse:
    hub = request.app[LIVE]
    if hub is None:
        raise NotFound("no pipeline runs in this process")
    # The token it connected with: revoking it (or its expiry) closes this socket (api/app.py).
    return await hub.serve(request, request[HOLDER].id)
