"""Tokens, roles and security headers: a middleware in front of every handler.

Every route but the health routes (/healthz, /readyz, /metrics), the offline map's tiles (/basemap/...:
Natural Earth, no data of the service) and the dashboard's static files needs `Authorization: Bearer
<token>` (see tokens.py) with the role its ROUTES entry names."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from ais_watch.api.keys import ACTOR, AUTH, HOLDER, ROLE, TOKEN_NAME
from ais_watch.api.routes import ROUTES, Handler
from ais_watch.api.tokens import allows
from ais_watch.audit import Actor

log = logging.getLogger(__name__)
SECURITY_HEADERS = {
    # No inline script, ever: AIS text shown in a page can never become code.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_ROLE: dict[tuple[str, str], str | None] = {(r.method, r.path): r.role for r in ROUTES}


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tokens and roles first, security headers on every response (errors included)."""
    try:
        resource = request.match_info.route.resource
        needed = _ROLE.get((request.method, resource.canonical)) if resource else None
        if needed is not None:
            await _check_role(request, needed)
        response = await handler(request)
    except web.HTTPException as err:
        err.headers.update(SECURITY_HEADERS)
        raise
    except Exception:  # a bug or a database error: a 500 that says nothing of the internals
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500, headers=SECURITY_HEADERS)
    response.headers.update(SECURITY_HEADERS)
    return response


async def _check_role(request: web.Request, needed: str) -> None:
    """401 without a valid token (unknown, revoked or expired), 403 when its role is below `needed`; else
    the request learns the holder and the actor the audit log names."""
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not token and request.path == "/api/live":  # a browser's websocket cannot send headers
        token = request.query.get("token", "")
    holder = await request.app[AUTH].holder(token, request.remote or "")
    if holder is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "a valid API token is needed"}),
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not allows(holder.role, needed):
        raise web.HTTPForbidden(
            text=json.dumps({"error": f"needs the {needed} role"}), content_type="application/json"
        )
    request[ROLE] = holder.role
    request[TOKEN_NAME] = holder.name
    request[HOLDER] = holder
    request[ACTOR] = Actor(name=holder.label, via="api", origin=request.remote or "")
