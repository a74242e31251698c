"""Health routes, served without a token: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ais_watch import __version__
from ais_watch.alerts.model import iso
from ais_watch.api.keys import ENGINE, RUNTIME, SOURCES
from ais_watch.api.metrics import CONTENT_TYPE, metrics_text
from ais_watch.api.params import NotFound, json_response
from ais_watch.store.queries import oldest_pending_delivery

OUTBOX_STUCK = timedelta(minutes=15)  # a pending delivery older than this: the outbox is not moving


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers, the store keeps up, a source is connected, the outbox moves."""
    problems: list[str] = []
    report: dict[str, Any] = {}
    try:
        oldest = await oldest_pending_delivery(request.app[ENGINE])
        report["database"] = "ok"
    except Exception as err:
        return json_response({"status": "unavailable", "database": str(err).splitlines()[0][:200]},
                             status=503)
    if oldest is not None and datetime.now(UTC) - oldest > OUTBOX_STUCK:
        problems.append(f"a delivery has been pending since {iso(oldest)}")
    report["oldest_pending_delivery"] = iso(oldest)
    runtime = request.app[RUNTIME]
    if runtime is not None and runtime.pipeline.writer.failing_since is not None:
        problems.append("database writes are failing")
    if runtime is not None and runtime.leadership is not None:  # a standby is ready too: it ingests, serves
        report["leadership"] = runtime.leadership.status()
    sources = request.app[SOURCES]
    report["sources"] = {s.name: bool(s.connected) for s in sources}
    if sources and not any(s.connected for s in sources):
        problems.append("no source is connected")
    report["problems"] = problems
    report["status"] = "ready" if not problems else "degraded"
    return json_response(report, status=200 if not problems else 503)


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime is None:
        raise NotFound("no pipeline runs in this process")
    response = web.Response(body=metrics_text(runtime))
    response.headers["Content-Type"] = CONTENT_TYPE
    return response
