"""What create_app puts in the application and what the security middleware puts in a request, as typed
keys. A module of their own: handlers read them, and app.py imports the handlers (through the route
table), so keeping the keys in app.py would make every handler import a module that imports it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.api.live import LiveHub
from ais_watch.api.tokens import Holder, TokenAuth
from ais_watch.audit import Actor
from ais_watch.runtime import Runtime
from ais_watch.zones import ZoneRegistry

ENGINE = web.AppKey("engine", AsyncEngine)
ZONES = web.AppKey("zones", ZoneRegistry)
# The running service; None when no pipeline runs in this process (tests, a read-only instance).
RUNTIME: web.AppKey[Runtime | None] = web.AppKey("runtime")
LIVE: web.AppKey[LiveHub | None] = web.AppKey("live")
CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("config")
SOURCES: web.AppKey[list[Any]] = web.AppKey("sources")  # the live sources, for readiness
AUTH = web.AppKey("auth", TokenAuth)

ROLE = web.RequestKey("role", str)  # the token's role, on requests to a route that needs one
TOKEN_NAME: web.RequestKey[str | None] = web.RequestKey("token_name")
HOLDER = web.RequestKey("holder", Holder)  # the token's holder (id, role, name)
ACTOR = web.RequestKey("actor", Actor)  # who the audit log names for a change made by this request
