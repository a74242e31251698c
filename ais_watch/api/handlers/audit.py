"""The audit log, for admins: every change made through the API or the CLI, newest first."""

from __future__ import annotations

from aiohttp import web

from ais_watch.api.keys import ENGINE
from ais_watch.api.params import BadRequest, json_response, query_limit, query_range
from ais_watch.audit import ACTIONS, entries


async def get_audit(request: web.Request) -> web.Response:
    action = request.query.get("action")
    if action is not None and action not in ACTIONS:
        raise BadRequest(f"action: one of {', '.join(ACTIONS)}")
    actor = request.query.get("actor")
    if actor is not None and not 1 <= len(actor) <= 64:
        raise BadRequest("actor: 1 to 64 characters")
    since, until = query_range(request)
    rows = await entries(request.app[ENGINE], since=since, until=until, actor=actor, action=action,
                         limit=query_limit(request, 100, 10000))
    return json_response({"entries": rows})
