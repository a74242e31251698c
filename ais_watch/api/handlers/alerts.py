"""Alerts: the list, one alert with its review and deliveries, acknowledge and resolve."""

from __future__ import annotations

import json

from aiohttp import web

from ais_watch.alerts.model import KINDS, STATES, alert_json
from ais_watch.alerts.store import AlertError, AlertStore
from ais_watch.api.keys import ACTOR, ENGINE, RUNTIME
from ais_watch.api.params import BadRequest, digits, json_response, query_limit, query_range
from ais_watch.errors import AisWatchError
from ais_watch.store.queries import resolve_vessel

REVIEW_FIELDS = ("acknowledged_by", "acknowledged_at", "ack_note", "resolved_by", "resolved_at",
                 "resolve_note")


async def list_alerts(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    kind, state = request.query.get("kind"), request.query.get("state")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind: one of {', '.join(KINDS)}")
    if state is not None and state not in STATES:
        raise BadRequest(f"state: one of {', '.join(STATES)}")
    since, until = query_range(request)
    mmsis = imo = None
    if "vessel" in request.query:
        try:
            mmsis, imo = await resolve_vessel(engine, request.query["vessel"])
        except AisWatchError as err:
            raise BadRequest(str(err)) from err
    rows = await AlertStore(engine).query(
        kind=kind,
        state=state,
        since=since,
        until=until,
        mmsis=mmsis,
        imo=imo,
        limit=query_limit(request),
        newest_first=True,
    )
    return json_response({"alerts": [alert_json(r) for r in rows]})


async def get_alert(request: web.Request) -> web.Response:
    """One alert (the contract object), who acknowledged or resolved it with their notes, and its
    deliveries with every attempt: failed deliveries are visible here."""
    if not digits(request.match_info["id"], 18):
        raise BadRequest("not an alert id")
    alert_id = int(request.match_info["id"])
    store = AlertStore(request.app[ENGINE])
    try:
        row = await store.get(alert_id)
    except AlertError as err:
        return json_response({"error": str(err)}, status=404)
    review = {k: row[k] for k in REVIEW_FIELDS}
    sent = await store.deliveries(alert_id=alert_id)
    return json_response({"alert": alert_json(row), "review": review, "deliveries": sent})


async def ack_alert(request: web.Request) -> web.Response:
    return await _transition(request, "ack")


async def resolve_alert(request: web.Request) -> web.Response:
    return await _transition(request, "resolve")


async def _transition(request: web.Request, action: str) -> web.Response:
    try:
        if not digits(request.match_info["id"], 18):
            raise ValueError("not an alert id")
        alert_id = int(request.match_info["id"])
        body = await request.json() if request.can_read_body else {}
    except (ValueError, json.JSONDecodeError) as err:
        raise BadRequest('expected an alert id and a JSON body like {"note": "..."}') from err
    note = body.get("note") if isinstance(body, dict) else None
    if note is not None and not isinstance(note, str):
        raise BadRequest("note: a string")
    store = _alert_store(request)
    change = store.acknowledge if action == "ack" else store.resolve
    try:
        actor = request[ACTOR]
        row = await change(alert_id, actor.name, note, actor=actor)
    except AlertError as err:
        status = 404 if "no alert" in str(err) else 409
        return json_response({"error": str(err)}, status=status)
    return json_response(alert_json(row))


def _alert_store(request: web.Request) -> AlertStore:
    """The service's own store when there is one: its listeners (the live feed) hear of the change."""
    runtime = request.app[RUNTIME]
    return runtime.alerts if runtime is not None else AlertStore(request.app[ENGINE])
