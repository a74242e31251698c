"""Incidents: the list, one incident with its alerts and notes, acknowledge, notes, owner and state."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ais_watch.alerts.incident_rules import STATES
from ais_watch.alerts.incidents import IncidentError, IncidentStore
from ais_watch.alerts.model import alert_json
from ais_watch.alerts.store import AlertStore
from ais_watch.api.keys import ACTOR, ENGINE, RUNTIME
from ais_watch.api.params import BadRequest, digits, json_response, query_limit, query_range

IDS_MAX = 500  # incidents one `ids` query may name (the dashboard asks for those its alert list shows)


def _incidents(request: web.Request) -> IncidentStore:
    """On the service's own alert store when there is one: its listeners (the live feed) hear of changes."""
    runtime = request.app[RUNTIME]
    return IncidentStore(runtime.alerts if runtime is not None else AlertStore(request.app[ENGINE]))


def _incident_id(request: web.Request) -> int:
    value = request.match_info["id"]
    if not digits(value, 18):
        raise BadRequest(f"not an incident id: {value[:40]!r}")
    return int(value)


def _ids(value: str) -> list[int]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or len(parts) > IDS_MAX or not all(digits(p, 18) for p in parts):
        raise BadRequest(f"ids: 1 to {IDS_MAX} incident ids, comma-separated")
    return [int(p) for p in parts]


async def list_incidents(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in STATES:
        raise BadRequest(f"state: one of {', '.join(STATES)}")
    mmsi = request.query.get("mmsi")
    if mmsi is not None and not (digits(mmsi, 9) and len(mmsi) == 9):
        raise BadRequest(f"mmsi: 9 digits, got {mmsi[:40]!r}")
    since, until = query_range(request)
    ids = _ids(request.query["ids"]) if "ids" in request.query else None
    found = await _incidents(request).query(state=state, mmsi=int(mmsi) if mmsi else None, since=since,
                                            until=until, ids=ids, limit=query_limit(request, 100, 1000))
    return json_response({"incidents": found})


async def get_incident(request: web.Request) -> web.Response:
    """One incident with its notes, and its alerts (the alert objects), oldest first."""
    store = _incidents(request)
    incident_id = _incident_id(request)
    try:
        incident = await store.get(incident_id)
    except IncidentError as err:
        return json_response({"error": str(err)}, status=404)
    rows = await store.alert_rows(incident_id)
    return json_response({"incident": incident, "alerts": [alert_json(r) for r in rows]})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except (ValueError, json.JSONDecodeError) as err:
        raise BadRequest("expected a JSON object") from err
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name}: a string")
    return value


async def _change(request: web.Request, **change: Any) -> web.Response:
    incident_id = _incident_id(request)
    store = _incidents(request)
    actor = request[ACTOR]
    try:
        incident = await store.update(incident_id, actor.name, actor=actor, **change)
    except IncidentError as err:
        status = 404 if "no incident" in str(err) else 409 if "cannot become" in str(err) else 400
        return json_response({"error": str(err)}, status=status)
    return json_response(incident)


async def ack_incident(request: web.Request) -> web.Response:
    """The incident and every open alert in it acknowledged, with a note."""
    _incident_id(request)
    body = await _body(request)
    return await _change(request, state="acknowledged", note=_text(body, "note"))


async def add_incident_note(request: web.Request) -> web.Response:
    _incident_id(request)
    text = _text(await _body(request), "text")
    if text is None or not text.strip():
        raise BadRequest('text: the note, as {"text": "..."}')
    return await _change(request, note=text)


async def update_incident(request: web.Request) -> web.Response:
    """Owner (a name, or null to clear), state (open, acknowledged, closed) and a note, any of them."""
    _incident_id(request)
    body = await _body(request)
    unknown = sorted(set(body) - {"owner", "state", "note"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; known: owner, state, note")
    if not body:
        raise BadRequest("nothing to change: give owner, state or note")
    state = _text(body, "state")
    if state is not None and state not in STATES:
        raise BadRequest(f"state: one of {', '.join(STATES)}")
    return await _change(request, state=state, owner=_text(body, "owner"), set_owner="owner" in body,
                         note=_text(body, "note"))
