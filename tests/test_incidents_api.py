"""The incident routes of the HTTP API (ais_watch/api/handlers/incidents.py) on SQLite and PostgreSQL:
the list and its filters, one incident with its alerts and notes, acknowledge (every alert with it), notes,
owner and state, roles, and clear 400/404/409s; the alert objects carry their incident_id, and the live
feed carries each alert's incident and each change people make to an incident."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import test_utils

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.api.app import create_app
from ais_watch.api.live import LiveHub
from ais_watch.api.tokens import create_token
from ais_watch.store.db import open_database
from ais_watch.zones import ZoneRegistry

pytestmark = pytest.mark.integration

LIMIT = 30
T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
ANGARA, MARIA = 273111111, 620999999
HOSTILE_NOTE = "<img src=x onerror=alert(1)> & 'x'"


@dataclass
class Api:
    client: test_utils.TestClient
    tokens: dict[str, str]
    voyage: int  # ANGARA's incident: three alerts
    other: int  # MARIA's: one

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(self, method: str, path: str, role: str = "viewer", status: int = 200,
                   **kwargs: Any) -> Any:
        response = await self.client.request(method, path, headers=self.auth(role), **kwargs)
        body = await response.json()
        assert response.status == status, (method, path, response.status, body)
        return body


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    engine = await open_database(db_url)
    client: test_utils.TestClient | None = None
    try:
        async with asyncio.timeout(LIMIT):
            store = AlertStore(engine, cooldown=0)
            rows = []
            for kind, hours, mmsi in (("zone_entry", 0, ANGARA), ("port_call", 5, ANGARA),
                                      ("port_call", 6, MARIA), ("port_departure", 30, ANGARA)):
                rows += await store.raise_alerts([AlertDraft(
                    kind=kind, occurred_at=T0 + timedelta(hours=hours), event_key=kind, mmsi=mmsi,
                    vessel_name="ANGARA" if mmsi == ANGARA else "MARIA", place="Rajin")])
            tokens = {role: await create_token(engine, role, f"{role}-desk")
                      for role in ("viewer", "operator", "admin")}
            client = test_utils.TestClient(test_utils.TestServer(create_app(engine, ZoneRegistry([]))))
            await client.start_server()
        yield Api(client, tokens, rows[0]["incident_id"], rows[2]["incident_id"])
    finally:
        if client is not None:
            await client.close()
        await engine.dispose()


async def test_list_newest_first_with_filters_and_alerts_carry_their_incident(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        listed = (await api.call("GET", "/api/incidents"))["incidents"]
        assert [i["id"] for i in listed] == [api.voyage, api.other]  # by the latest alert
        voyage = listed[0]
        assert voyage["title"] == "ANGARA" and voyage["alert_count"] == 3 and voyage["state"] == "open"
        assert voyage["last_alert_at"] == "2024-03-02T12:00:00Z" and voyage["notes"] == []
        for params, expected in (({"state": "open"}, [api.voyage, api.other]), ({"state": "closed"}, []),
                                 ({"mmsi": str(MARIA)}, [api.other]),
                                 ({"since": "2024-03-01T12:00:01Z"}, [api.voyage]),
                                 ({"until": "2024-03-01T05:00:00Z"}, []),
                                 ({"ids": f"{api.other}"}, [api.other]), ({"limit": "1"}, [api.voyage])):
            got = (await api.call("GET", "/api/incidents", params=params))["incidents"]
            assert [i["id"] for i in got] == expected, params
        alerts = (await api.call("GET", "/api/alerts"))["alerts"]
        assert {a["kind"]: a["incident_id"] for a in alerts if a["mmsi"] == ANGARA} == {
            "zone_entry": api.voyage, "port_call": api.voyage, "port_departure": api.voyage}


async def test_one_incident_with_its_alerts_oldest_first(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        one = await api.call("GET", f"/api/incidents/{api.voyage}")
        assert one["incident"]["id"] == api.voyage
        assert [a["kind"] for a in one["alerts"]] == ["zone_entry", "port_call", "port_departure"]
        assert {a["incident_id"] for a in one["alerts"]} == {api.voyage}
        await api.call("GET", "/api/incidents/999999", status=404)


async def test_a_viewer_reads_but_cannot_change(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for method, path, body in (("POST", f"/api/incidents/{api.voyage}/ack", {}),
                                   ("POST", f"/api/incidents/{api.voyage}/notes", {"text": "x"}),
                                   ("PATCH", f"/api/incidents/{api.voyage}", {"owner": "me"})):
            error = await api.call(method, path, "viewer", 403, json=body)
            assert "operator" in error["error"]
        assert (await api.call("GET", f"/api/incidents/{api.voyage}"))["incident"]["state"] == "open"


async def test_acknowledging_acknowledges_every_alert_in_it(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        acked = await api.call("POST", f"/api/incidents/{api.voyage}/ack", "operator",
                               json={"note": "tasked imagery"})
        assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "operator-desk"
        assert [(n["author"], n["text"]) for n in acked["notes"]] == [("operator-desk", "tasked imagery")]
        one = await api.call("GET", f"/api/incidents/{api.voyage}")
        assert [a["state"] for a in one["alerts"]] == ["acknowledged"] * 3
        review = await api.call("GET", f"/api/alerts/{one['alerts'][0]['id']}")
        assert review["review"]["acknowledged_by"] == "operator-desk"
        assert review["review"]["ack_note"] == "tasked imagery"
        other = await api.call("GET", f"/api/incidents/{api.other}")  # another ship's: untouched
        assert other["incident"]["state"] == "open" and other["alerts"][0]["state"] == "open"
        # No body at all is fine; acknowledging again too.
        response = await api.client.post(f"/api/incidents/{api.other}/ack", headers=api.auth("operator"))
        assert response.status == 200 and (await response.json())["state"] == "acknowledged"


async def test_notes_owner_and_state(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        path = f"/api/incidents/{api.voyage}"
        noted = await api.call("POST", path + "/notes", "operator", json={"text": HOSTILE_NOTE})
        assert noted["notes"][-1]["text"] == HOSTILE_NOTE  # literal JSON text
        owned = await api.call("PATCH", path, "operator", json={"owner": "desk 3"})
        assert owned["owner"] == "desk 3" and owned["state"] == "open"
        closed = await api.call("PATCH", path, "admin", json={"state": "closed", "note": "left the area"})
        assert closed["state"] == "closed" and closed["closed_by"] == "admin-desk"
        assert closed["owner"] == "desk 3" and closed["notes"][-1]["text"] == "left the area"
        one = await api.call("GET", path)
        assert [a["state"] for a in one["alerts"]] == ["resolved"] * 3
        error = await api.call("POST", path + "/ack", "operator", 409, json={})
        assert "closed" in error["error"]
        reopened = await api.call("PATCH", path, "operator", json={"state": "open", "owner": None})
        assert reopened["state"] == "open" and reopened["owner"] is None


@pytest.mark.parametrize(("method", "path", "body", "says"), [
    ("GET", "/api/incidents?state=resolved", None, "state"),
    ("GET", "/api/incidents?mmsi=12345", None, "mmsi"),
    ("GET", "/api/incidents?ids=1,x", None, "ids"),
    ("GET", "/api/incidents?since=yesterday", None, "since"),
    ("GET", "/api/incidents?limit=0", None, "limit"),
    ("GET", "/api/incidents/abc", None, "incident id"),
    ("POST", "/api/incidents/{id}/ack", "{not json", "JSON"),
    ("POST", "/api/incidents/{id}/ack", {"note": 5}, "note"),
    ("POST", "/api/incidents/{id}/notes", {"text": "  "}, "text"),
    ("POST", "/api/incidents/{id}/notes", [1], "JSON object"),
    ("PATCH", "/api/incidents/{id}", {}, "nothing to change"),
    ("PATCH", "/api/incidents/{id}", {"owner": "x" * 65}, "owner"),
    ("PATCH", "/api/incidents/{id}", {"owner": 7}, "owner"),
    ("PATCH", "/api/incidents/{id}", {"state": "resolved"}, "state"),
    ("PATCH", "/api/incidents/{id}", {"colour": "red"}, "unknown field"),
])
async def test_bad_input_is_a_clear_400(api: Api, method: str, path: str, body: Any, says: str) -> None:
    async with asyncio.timeout(LIMIT):
        kwargs = {"data": body} if isinstance(body, str) else {"json": body} if body is not None else {}
        error = await api.call(method, path.replace("{id}", str(api.voyage)), "operator", 400, **kwargs)
        assert says in error["error"], error


async def test_unknown_incident_is_404_and_an_impossible_change_409(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for method, path, body in (("POST", "/api/incidents/999999/ack", {}),
                                   ("POST", "/api/incidents/999999/notes", {"text": "x"}),
                                   ("PATCH", "/api/incidents/999999", {"owner": "x"})):
            await api.call(method, path, "operator", 404, json=body)
        error = await api.call("PATCH", f"/api/incidents/{api.voyage}", "operator", 409,
                               json={"state": "open"})
        assert "cannot become open" in error["error"]


async def test_the_openapi_document_names_the_incident_routes(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        paths = (await api.call("GET", "/api/openapi.json"))["paths"]
        assert set(paths["/api/incidents/{id}"]) == {"get", "patch"}
        assert paths["/api/incidents/{id}"]["patch"]["x-role"] == "operator"
        assert set(paths["/api/incidents/{id}/ack"]) == {"post"}
        assert paths["/api/incidents"]["get"]["x-role"] == "viewer"


async def test_unicode_digits_in_ids_are_a_400(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        await api.call("GET", "/api/incidents/１２", "viewer", 400)
        await api.call("GET", "/api/incidents?ids=１", "viewer", 400)


async def test_a_live_client_hears_the_incident_of_each_alert_and_each_change_to_it(db_url: str) -> None:
    engine = await open_database(db_url)
    try:
        async with asyncio.timeout(LIMIT):
            hub = LiveHub()
            store = AlertStore(engine, cooldown=0)
            store.subscribe(hub.alert_changed)
            store.subscribe_incidents(hub.incident_changed)
            token = await create_token(engine, "operator", "desk 1")
            app = create_app(engine, ZoneRegistry([]), runtime=SimpleNamespace(alerts=store), live=hub)
            async with test_utils.TestClient(test_utils.TestServer(app)) as client:
                socket = await client.ws_connect(f"/api/live?token={token}")
                for _ in range(50):  # the server registers the client once the handshake is done
                    if hub.clients:
                        break
                    await asyncio.sleep(0.02)
                (row,) = await store.raise_alerts([AlertDraft(kind="went_dark", occurred_at=T0, event_key="d",
                                                              mmsi=ANGARA, vessel_name="ANGARA")])
                raised = json.loads((await socket.receive()).data)
                assert raised["type"] == "alert" and raised["alert"]["incident_id"] == row["incident_id"]
                headers = {"Authorization": f"Bearer {token}"}
                path = f"/api/incidents/{row['incident_id']}"
                response = await client.post(path + "/ack", json={"note": "seen"}, headers=headers)
                assert response.status == 200
                acked = json.loads((await socket.receive()).data)
                assert (acked["type"], acked["alert"]["id"], acked["alert"]["state"]) == (
                    "alert", row["id"], "acknowledged")
                changed = json.loads((await socket.receive()).data)
                assert changed["type"] == "incident" and changed["incident"]["state"] == "acknowledged"
                response = await client.patch(path, json={"owner": "Kim"}, headers=headers)
                assert response.status == 200
                owned = json.loads((await socket.receive()).data)
                assert (owned["type"], owned["incident"]["owner"]) == ("incident", "Kim")
                await socket.close()
    finally:
        await engine.dispose()
