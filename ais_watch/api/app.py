"""The HTTP API (aiohttp) and the dashboard, built from the route table (routes.py) behind the security
middleware (security.py). Handlers live in handlers/, one module per resource; inputs are validated with
clear 400s (params.py) and every value reaches SQL as a bound parameter (ais_watch/store/queries.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.api.handlers.dashboard import DASHBOARD_DIR, dashboard_index, to_dashboard
from ais_watch.api.keys import CONFIG, ENGINE, LIVE, RUNTIME, SOURCES, ZONES
from ais_watch.api.routes import ROUTES
from ais_watch.api.security import security


def create_app(
    engine: AsyncEngine,
    zones: Any,
    runtime: Any = None,
    live: Any = None,
    config: dict[str, Any] | None = None,
    sources: list[Any] | None = None,
) -> web.Application:
    """The API and the dashboard. `config` is what the dashboard is told (tile_url, tile_attribution)."""
    import xstatic.pkg.leaflet

    app = web.Application(middlewares=[security], client_max_size=1024 * 1024)
    app[ENGINE] = engine
    app[ZONES] = zones
    app[RUNTIME] = runtime
    app[LIVE] = live
    app[CONFIG] = config or {"tile_url": "", "tile_attribution": ""}
    app[SOURCES] = sources or []
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    # The dashboard: static files, no token (they hold no data; every data call needs one).
    app.router.add_get("/", to_dashboard)
    app.router.add_get("/dashboard/", dashboard_index)
    app.router.add_static("/dashboard/leaflet/", xstatic.pkg.leaflet.BASE_DIR)
    app.router.add_static("/dashboard/", DASHBOARD_DIR)
    return app
