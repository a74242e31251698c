"""What create_app puts in the application and what the security middleware puts in a request, as typed
keys. A module of their own: handlers read them, and app.py imports the handlers (through the route
table), so keeping the keys in app.py would make every handler import a module that imports it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

ENGINE = web.AppKey("engine", AsyncEngine)
ZONES = web.AppKey("zones", Any)
RUNTIME = web.AppKey("runtime", Any)  # the running service; None when no pipeline runs in this process
LIVE = web.AppKey("live", Any)
CONFIG = web.AppKey("config", dict)
SOURCES = web.AppKey("sources", list)

ROLE = web.RequestKey("role", str)  # the token's role, on requests to a route that needs one
TOKEN_NAME = web.RequestKey("token_name", Any)
