"""The dashboard: its page (static files need no token: they hold no data) and what it is told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from ais_watch.alerts.model import KINDS
from ais_watch.api import service
from ais_watch.api.keys import CONFIG
from ais_watch.api.params import json_response

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"


async def to_dashboard(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard/")


async def dashboard_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DASHBOARD_DIR / "index.html")


async def dashboard_config(request: web.Request) -> web.Response:
    """`now` is the service's time, which the dashboard's own times follow; `demo` says whether the demo
    runs (`ais-watch serve` with no live feed) and how fast its clock goes, else it is null."""
    config: dict[str, Any] = request.app[CONFIG]
    return json_response({**config, "kinds": list(KINDS), "now": service.now(request),
                          "demo": service.demo(request)})
