"""The HTTP API (aiohttp) and the dashboard, built from the route table (routes.py) behind the security
middleware (security.py). Handlers live in handlers/, one module per resource; inputs are validated with
clear 400s (params.py) and every value reaches SQL as a bound parameter (ais_watch/store/queries.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.api.handlers.dashboard import DASHBOARD_DIR, dashboard_index, to_dashboard
from ais_watch.api.keys import AUTH, CONFIG, ENGINE, LIVE, RUNTIME, SOURCES, ZONES
from ais_watch.api.routes import ROUTES
from ais_watch.api.security import security
from ais_watch.api.tokens import TokenAuth

log = logging.getLogger(__name__)
# How often the tokens of open live websockets are checked again. A revocation through this instance's
# API closes them at once; this catches one made by the CLI or another instance, and expiry.
TOKEN_RECHECK_SECONDS = 2.0


def create_app(
    engine: AsyncEngine,
    zones: Any,
    runtime: Any = None,
    live: Any = None,
    config: dict[str, Any] | None = None,
    sources: list[Any] | None = None,
    token_recheck: float = TOKEN_RECHECK_SECONDS,
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
    app[AUTH] = TokenAuth(engine)
    if live is not None:
        app.cleanup_ctx.append(lambda app: _guard_live_tokens(app, token_recheck))
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    # The dashboard: static files, no token (they hold no data; every data call needs one).
    app.router.add_get("/", to_dashboard)
    app.router.add_get("/dashboard/", dashboard_index)
    app.router.add_static("/dashboard/leaflet/", xstatic.pkg.leaflet.BASE_DIR)
    app.router.add_static("/dashboard/", DASHBOARD_DIR)
    return app


async def _guard_live_tokens(app: web.Application, every: float) -> AsyncIterator[None]:
    """While the app runs: close live websockets whose token was revoked elsewhere or has expired."""
    task = asyncio.create_task(_recheck_forever(app, every))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _recheck_forever(app: web.Application, every: float) -> None:
    hub, auth = app[LIVE], app[AUTH]
    assert hub is not None
    while True:
        await asyncio.sleep(every)
        held = hub.token_ids()
        if not held:
            continue
        try:
            ended = held - await auth.still_valid(held)
        except Exception as err:  # a database hiccup: keep the sockets, ask again next round
            log.warning("live: could not check the tokens of open websockets: %s", err)
            continue
        if ended:
            hub.cut_tokens(ended, "token revoked or expired")
