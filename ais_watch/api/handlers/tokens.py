"""API tokens for admins: list (never a secret), create (the secret shown once), revoke. Revoking closes
this instance's live websockets that hold the token at once; other instances within seconds (api/app.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from ais_watch.api.keys import ACTOR, ENGINE, LIVE
from ais_watch.api.params import BadRequest, json_response, query_flag
from ais_watch.api.tokens import ROLES, TokenError, issue_token, list_tokens, parse_expiry, revoke_token


async def get_tokens(request: web.Request) -> web.Response:
    """Every token, revoked and expired ones included unless `active`."""
    rows = await list_tokens(request.app[ENGINE], include_ended=not query_flag(request, "active"))
    return json_response({"tokens": rows})


async def post_token(request: web.Request) -> web.Response:
    """{"role": "viewer|operator|admin", "name": "...", "expires": "90d" or a date}; 201 with the secret."""
    try:
        body = await request.json()
    except (ValueError, json.JSONDecodeError) as err:
        raise BadRequest('expected a JSON object like {"role": "viewer", "name": "wall", "expires": "90d"}'
                         ) from err
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    unknown = sorted(set(body) - {"role", "name", "expires"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; known: role, name, expires")
    role, name, expires = body.get("role"), body.get("name"), body.get("expires")
    if role not in ROLES:
        raise BadRequest(f"role: one of {', '.join(ROLES)}")
    if not all(v is None or isinstance(v, str) for v in (name, expires)):
        raise BadRequest("name and expires: strings")
    engine = request.app[ENGINE]
    try:
        expires_at = parse_expiry(expires, datetime.now(UTC)) if expires else None
        secret, created = await issue_token(engine, role, name, expires_at=expires_at, actor=request[ACTOR])
    except TokenError as err:
        status = 409 if "already named" in str(err) else 400
        return json_response({"error": str(err)}, status=status)
    return json_response({"token": secret, **created}, status=201)


async def delete_token(request: web.Request) -> web.Response:
    """Revoke by id or by name."""
    ref = request.match_info["ref"]
    try:
        revoked = await revoke_token(request.app[ENGINE], ref, actor=request[ACTOR])
    except TokenError as err:
        status = 404 if str(err).startswith("no token") else 409
        return json_response({"error": str(err)}, status=status)
    hub = request.app[LIVE]
    if hub is not None:
        hub.cut_tokens({revoked["id"]}, "token revoked")
    return json_response(revoked)
