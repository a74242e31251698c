"""The HTTP API (ais_watch/api/): tokens and roles, security headers, input validation, data routes,
OpenAPI drift, and one real `ais-watch serve` process.

In-process tests run an aiohttp TestServer on a migrated database (SQLite and PostgreSQL through `db_url`)
filled through the pipeline (`running_pipeline`, no detectors), with alerts raised by AlertStore and one
token per role.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import test_utils, web

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.api.app import create_app
from ais_watch.api.openapi import openapi_document
from ais_watch.api.routes import ROUTES
from ais_watch.api.tokens import create_token
from ais_watch.clock import ReplayClock
from ais_watch.config import load_settings
from ais_watch.model import PositionReport, StaticReport
from ais_watch.runtime import running_pipeline
from ais_watch.store.db import open_database
from ais_watch.zones import ZoneRegistry
from tests.helpers.reports import make_position, make_static
from tests.helpers.serve import Serve, child_env, cli_token

pytestmark = pytest.mark.integration

LIMIT = 30  # seconds any one in-process test may take
START = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
NORD, HOSTILE, BALTIC, UNKNOWN = 273350140, 244660000, 636012345, 211000001
NORD_IMO = 9179842  # valid check digit
HOSTILE_NAME = "<IMG SRC=X ONERROR=ALERT(1)>"
TRACK_POINTS = 5
HEALTH = {"/healthz", "/readyz", "/metrics"}  # README: the health routes need no token
PUBLIC = HEALTH | {"/basemap/{z}/{x}/{y}.json"}  # and the offline map's tiles (Natural Earth, no data)
DASHBOARD_ROUTES = {("/", "get"), ("/dashboard/", "get"), ("/dashboard", "get"),
                    ("/dashboard/leaflet", "get")}


@dataclass
class Api:
    client: test_utils.TestClient
    app: web.Application
    store: AlertStore
    tokens: dict[str, str]
    alert_ids: dict[str, int]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def get(self, path: str, role: str = "viewer", **params: str) -> aiohttp.ClientResponse:
        return await self.client.get(path, params=params, headers=self.auth(role))


def position(mmsi: int, minute: int, lat: float, lon: float) -> PositionReport:
    return make_position(mmsi, START + timedelta(minutes=minute), lat, lon)


def static(mmsi: int, minute: int, name: str, imo: int | None = None) -> StaticReport:
    return make_static(mmsi, START + timedelta(minutes=minute), name, imo, call_sign="TEST1", ship_type=70)


async def fill(db_url: str) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": db_url})
    async with running_pipeline(settings, ReplayClock(), periodic_flush=False, deliver=False,
                                detectors=False) as runtime:
        submit = runtime.pipeline.submit
        await submit(static(NORD, 0, "NORDSTERN", NORD_IMO))
        await submit(static(HOSTILE, 0, HOSTILE_NAME))
        await submit(static(BALTIC, 0, "BALTIC TRADER"))
        for minute in range(TRACK_POINTS):
            await submit(position(NORD, minute, 54.1 + minute / 100, 10.5 + minute / 100))
            await submit(position(HOSTILE, minute, 42.2 + minute / 100, 130.3))
        await submit(position(BALTIC, 2, 57.0, 20.0))
        await submit(static(NORD, 10, "NORDSTERN II", NORD_IMO))  # a rename: identity history


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with asyncio.timeout(LIMIT):
        await fill(db_url)
        engine = await open_database(db_url)
    client: test_utils.TestClient | None = None
    try:
        async with asyncio.timeout(LIMIT):
            store = AlertStore(engine, cooldown=0)
            drafts = {
                "dark": AlertDraft(kind="went_dark", occurred_at=START + timedelta(hours=1), event_key="d1",
                                   mmsi=NORD, imo=NORD_IMO, vessel_name="NORDSTERN II"),
                "zone": AlertDraft(kind="zone_entry", occurred_at=START + timedelta(hours=2), event_key="z1",
                                   mmsi=HOSTILE, vessel_name=HOSTILE_NAME, place="kp-rajin"),
                "call": AlertDraft(kind="port_call", occurred_at=START + timedelta(hours=3), event_key="p1",
                                   mmsi=NORD, imo=NORD_IMO, vessel_name="NORDSTERN II", place="kp-rajin"),
            }
            alert_ids = {}
            for key, draft in drafts.items():
                (row,) = await store.raise_alerts([draft])
                alert_ids[key] = row["id"]
            tokens = {role: await create_token(engine, role, f"{role}-desk")
                      for role in ("viewer", "operator", "admin")}
            app = create_app(engine, ZoneRegistry([]))
            client = test_utils.TestClient(test_utils.TestServer(app))
            await client.start_server()
        yield Api(client, app, store, tokens, alert_ids)
    finally:
        if client is not None:
            await client.close()
        await engine.dispose()


def assert_security_headers(response: aiohttp.ClientResponse) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    assert directives.get("script-src") == ["'self'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"


async def error_of(response: aiohttp.ClientResponse, status: int) -> str:
    assert response.status == status, (response.status, await response.text())
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


# --------------------------------------------------------------------------------------------- auth
async def test_missing_or_wrong_token_is_401_with_www_authenticate(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        cases: list[dict[str, str]] = [
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": f"Basic {api.tokens['admin']}"},
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer " + "x" * 500},
        ]
        for headers in cases:
            for path in ("/api/vessels", "/api/alerts", "/api/openapi.json", f"/api/vessels/{NORD}"):
                response = await api.client.get(path, headers=headers)
                await error_of(response, 401)
                assert response.headers.get("WWW-Authenticate") == "Bearer"
                assert_security_headers(response)
            response = await api.client.post(f"/api/alerts/{api.alert_ids['dark']}/ack", headers=headers)
            assert response.status == 401
        # Nothing changed for the unauthenticated attempts.
        assert (await api.store.get(api.alert_ids["dark"]))["state"] == "open"


async def test_health_routes_need_no_token(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.client.get("/healthz")
        assert response.status == 200 and (await response.json())["status"] == "ok"
        assert_security_headers(response)
        response = await api.client.get("/readyz")
        assert response.status == 200
        assert await response.json() == {"status": "ready", "database": "ok", "oldest_pending_delivery": None,
                                          "problems": [], "sources": {}}
        response = await api.client.get("/dashboard/")  # static files: no token, no data
        assert response.status == 200
        assert_security_headers(response)


async def test_viewer_reads_but_cannot_ack_or_resolve(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for path in ("/api/vessels", "/api/alerts", "/api/zones", "/api/watchlist", "/api/stats",
                     "/api/port-calls", "/api/encounters", "/api/openapi.json"):
            response = await api.get(path)
            assert response.status == 200, (path, await response.text())
        for action in ("ack", "resolve"):
            response = await api.client.post(f"/api/alerts/{api.alert_ids['dark']}/{action}",
                                             json={"note": "viewer"}, headers=api.auth("viewer"))
            assert "operator" in await error_of(response, 403)
            assert_security_headers(response)
        assert (await api.store.get(api.alert_ids["dark"]))["state"] == "open"


async def test_operator_acks_and_resolves_with_name_and_note(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        alert_id = api.alert_ids["dark"]
        response = await api.client.post(f"/api/alerts/{alert_id}/ack", json={"note": "seen on the wall"},
                                         headers=api.auth("operator"))
        assert response.status == 200, await response.text()
        body = await response.json()
        assert body["id"] == alert_id and body["state"] == "acknowledged"
        row = await api.store.get(alert_id)
        assert row["acknowledged_by"] == "operator-desk" and row["ack_note"] == "seen on the wall"

        response = await api.client.post(f"/api/alerts/{alert_id}/resolve", json={"note": "back in range"},
                                         headers=api.auth("admin"))  # admin may do what an operator may
        assert response.status == 200 and (await response.json())["state"] == "resolved"
        row = await api.store.get(alert_id)
        assert row["resolved_by"] == "admin-desk" and row["resolve_note"] == "back in range"

        response = await api.client.post(f"/api/alerts/{alert_id}/ack", json={"note": "late"},
                                         headers=api.auth("operator"))
        assert "resolved" in await error_of(response, 409)
        assert_security_headers(response)
        assert (await api.store.get(alert_id))["ack_note"] == "seen on the wall"

        # No body at all is fine: the note is optional.
        response = await api.client.post(f"/api/alerts/{api.alert_ids['zone']}/ack",
                                         headers=api.auth("operator"))
        assert response.status == 200 and (await response.json())["state"] == "acknowledged"


async def test_ack_errors(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        op = api.auth("operator")
        await error_of(await api.client.post("/api/alerts/999999/ack", json={}, headers=op), 404)
        await error_of(await api.client.post("/api/alerts/abc/ack", json={}, headers=op), 400)
        alert = f"/api/alerts/{api.alert_ids['call']}/ack"
        await error_of(await api.client.post(alert, data="{not json", headers=op), 400)
        await error_of(await api.client.post(alert, json={"note": 5}, headers=op), 400)
        assert (await api.store.get(api.alert_ids["call"]))["state"] == "open"


# ----------------------------------------------------------------------------------------- headers
async def test_security_headers_on_200_400_401_404(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        responses = {
            200: await api.get("/api/vessels"),
            400: await api.get("/api/alerts", kind="nonsense"),
            401: await api.client.get("/api/vessels"),
            404: await api.get(f"/api/vessels/{UNKNOWN}"),
        }
        responses[405] = await api.client.get(f"/api/alerts/{api.alert_ids['dark']}/ack",
                                              headers=api.auth("admin"))
        responses[-404] = await api.client.get("/no/such/route")
        for status, response in responses.items():
            assert response.status == abs(status), (status, await response.text())
            assert_security_headers(response)


# -------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(("path", "params", "says"), [
    ("/api/vessels/12345/track", {}, "MMSI"),
    ("/api/vessels/abcdefghi", {}, "MMSI"),
    ("/api/vessels/2733501400", {}, "MMSI"),
    (f"/api/vessels/{NORD}/track", {"since": "2024-03-02T00:00Z", "until": "2024-03-01T00:00Z"}, "since"),
    (f"/api/vessels/{NORD}/track", {"since": "2023-01-01T00:00Z", "until": "2024-03-01T00:00Z"}, "range"),
    (f"/api/vessels/{NORD}/track", {"since": "yesterday"}, "since"),
    (f"/api/vessels/{NORD}/track", {"cursor": "nope"}, "cursor"),
    (f"/api/vessels/{NORD}/track", {"format": "xml"}, "format"),
    (f"/api/vessels/{NORD}/track", {"limit": "0"}, "limit"),
    (f"/api/vessels/{NORD}/track", {"limit": "abc"}, "limit"),
    (f"/api/vessels/{NORD}/track", {"limit": "50001"}, "limit"),
    (f"/api/vessels/{NORD}/track", {"limit": "-1"}, "limit"),
    ("/api/vessels", {"limit": "1001"}, "limit"),
    ("/api/alerts", {"limit": "0"}, "limit"),
    ("/api/alerts", {"limit": "10001"}, "limit"),
    ("/api/alerts", {"kind": "nonsense"}, "kind"),
    ("/api/alerts", {"state": "closed"}, "state"),
    ("/api/alerts", {"since": "2024-03-02", "until": "2024-03-01"}, "since"),
    ("/api/alerts", {"vessel": "IMO:1234568"}, "check digit"),
    ("/api/alerts", {"vessel": "12345"}, "MMSI"),
    ("/api/port-calls", {"port": "Atlantis"}, "Atlantis"),
    ("/api/port-calls", {"vessel": "IMO:1234568"}, "check digit"),
    ("/api/port-calls", {"since": "2020-01-01", "until": "2024-01-01"}, "range"),
])
async def test_bad_input_is_a_clear_400(api: Api, path: str, params: dict[str, str], says: str) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.get(path, **params)
        assert says.lower() in (await error_of(response, 400)).lower()
        assert_security_headers(response)


@pytest.mark.parametrize(("path", "params"), [
    ("/api/vessels", {"limit": "²"}),
    ("/api/vessels/²²²²²²²²²", {}),
])
async def test_unicode_digits_are_a_400(api: Api, path: str, params: dict[str, str]) -> None:
    async with asyncio.timeout(LIMIT):
        await error_of(await api.get(path, **params), 400)


@pytest.mark.parametrize(("method", "path", "params"), [
    ("GET", "/api/vessels", {"q": "9" * 25}),
    ("POST", "/api/alerts/" + "9" * 25 + "/ack", {}),
])
async def test_oversized_numbers_are_not_a_500(api: Api, method: str, path: str,
                                               params: dict[str, str]) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.client.request(method, path, params=params, headers=api.auth("operator"))
        assert response.status in (200, 400, 404), (response.status, await response.text())
        assert_security_headers(response)


async def test_sql_looking_input_is_just_text(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for q in ("' OR 1=1 --", "%' OR '1'='1", "'; DROP TABLE vessels; --", "_", "%"):
            response = await api.get("/api/vessels", q=q)
            assert response.status == 200, (q, await response.text())
            names = [v["name"] for v in (await response.json())["vessels"]]
            if q not in ("_", "%"):  # LIKE wildcards in q are not escaped; they may match, never break
                assert names == [], (q, names)
        response = await api.get("/api/stats")
        assert (await response.json())["vessels"] == 3


# -------------------------------------------------------------------------------------------- data
async def test_vessel_search_by_name_mmsi_and_imo(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        async def mmsis(q: str) -> list[int]:
            response = await api.get("/api/vessels", q=q)
            assert response.status == 200, await response.text()
            return sorted(v["mmsi"] for v in (await response.json())["vessels"])

        assert await mmsis("nordst") == [NORD]
        assert await mmsis("TRADER") == [BALTIC]
        assert await mmsis(str(NORD)) == [NORD]
        assert await mmsis(str(NORD_IMO)) == [NORD]
        assert await mmsis(f"IMO {NORD_IMO}") == [NORD]
        assert await mmsis("") == sorted([NORD, HOSTILE, BALTIC])
        assert await mmsis("no such ship") == []
        response = await api.get("/api/vessels", limit="1")
        assert len((await response.json())["vessels"]) == 1


async def test_vessel_with_identity_history(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.get(f"/api/vessels/{NORD}")
        assert response.status == 200, await response.text()
        body = await response.json()
        assert body["vessel"]["mmsi"] == NORD and body["vessel"]["name"] == "NORDSTERN II"
        assert body["vessel"]["imo"] == NORD_IMO
        names = [(h["old_value"], h["new_value"]) for h in body["identity_history"] if h["field"] == "name"]
        assert names == [(None, "NORDSTERN"), ("NORDSTERN", "NORDSTERN II")]
        assert body["watchlist"] == []
        await error_of(await api.get(f"/api/vessels/{UNKNOWN}"), 404)


async def test_hostile_name_comes_back_as_literal_json_text(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for response in (await api.get(f"/api/vessels/{HOSTILE}"), await api.get("/api/vessels", q="IMG SRC"),
                         await api.get("/api/alerts", vessel=str(HOSTILE))):
            assert response.status == 200
            assert response.content_type == "application/json"
            assert_security_headers(response)
            raw = await response.text()
            assert HOSTILE_NAME in json.dumps(json.loads(raw))
        body = await (await api.get(f"/api/vessels/{HOSTILE}")).json()
        assert body["vessel"]["name"] == HOSTILE_NAME
        body = await (await api.get("/api/vessels", q="IMG SRC")).json()
        assert [v["name"] for v in body["vessels"]] == [HOSTILE_NAME]
        body = await (await api.get("/api/alerts", vessel=str(HOSTILE))).json()
        assert [a["vessel_name"] for a in body["alerts"]] == [HOSTILE_NAME]


async def walk_track(api: Api, limit: int, fmt: str = "json") -> list[list[str]]:
    """Every page of NORD's track, following the cursor; the times of each page."""
    pages: list[list[str]] = []
    params = {"limit": str(limit), "format": fmt}
    for _ in range(TRACK_POINTS + 2):
        response = await api.get(f"/api/vessels/{NORD}/track", **params)
        assert response.status == 200, await response.text()
        body = await response.json()
        if fmt == "json":
            pages.append([p["time"] for p in body["points"]])
            cursor = body["next_cursor"]
        else:
            features = body["features"]
            pages.append(features[0]["properties"]["coordTimes"] if features else [])
            cursor = features[0]["properties"]["next_cursor"] if features else None
        if cursor is None:
            return pages
        params["cursor"] = cursor
    raise AssertionError(f"the cursor never ended: {pages}")


EXPECTED_TIMES = [(START + timedelta(minutes=m)).isoformat().replace("+00:00", "Z")
                  for m in range(TRACK_POINTS)]


async def test_track_json_oldest_first(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.get(f"/api/vessels/{NORD}/track")
        body = await response.json()
        assert body["mmsi"] == NORD and body["next_cursor"] is None
        assert [p["time"] for p in body["points"]] == EXPECTED_TIMES
        first = body["points"][0]
        assert first["lat"] == pytest.approx(54.1) and first["lon"] == pytest.approx(10.5)
        # A time window.
        response = await api.get(f"/api/vessels/{NORD}/track", since=EXPECTED_TIMES[1],
                                 until=EXPECTED_TIMES[3])
        assert [p["time"] for p in (await response.json())["points"]] == EXPECTED_TIMES[1:4]
        # A limit that takes everything has no next page.
        assert await walk_track(api, TRACK_POINTS) == [EXPECTED_TIMES]


@pytest.mark.parametrize("fmt", ["json", "geojson"])
async def test_track_cursor_walks_every_point_once(api: Api, fmt: str) -> None:
    async with asyncio.timeout(LIMIT):
        pages = await walk_track(api, 2, fmt)
        assert [t for page in pages for t in page] == EXPECTED_TIMES, pages
        assert all(len(page) <= 2 for page in pages)


async def test_track_first_page_has_a_cursor(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        body = await (await api.get(f"/api/vessels/{NORD}/track", limit="2")).json()
        assert [p["time"] for p in body["points"]] == EXPECTED_TIMES[:2]
        assert body["next_cursor"] == EXPECTED_TIMES[1]


async def test_track_geojson_and_csv(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.get(f"/api/vessels/{NORD}/track", format="geojson")
        assert response.status == 200 and response.content_type == "application/json"
        body = await response.json()
        assert body["type"] == "FeatureCollection"
        (feature,) = body["features"]
        assert feature["geometry"]["type"] == "LineString"
        coordinates = feature["geometry"]["coordinates"]
        assert len(coordinates) == TRACK_POINTS == len(feature["properties"]["coordTimes"])
        assert coordinates[0] == [pytest.approx(10.5), pytest.approx(54.1)]  # lon, lat

        response = await api.get(f"/api/vessels/{NORD}/track", format="csv")
        assert response.status == 200 and response.content_type == "text/csv"
        assert_security_headers(response)
        rows = list(csv.reader(io.StringIO(await response.text())))
        assert rows[0] == ["mmsi", "time", "lat", "lon", "sog", "cog", "heading", "nav_status", "source",
                           "segment", "anomaly"]
        assert len(rows) == TRACK_POINTS + 1 and {r[0] for r in rows[1:]} == {str(NORD)}
        assert [r[1] for r in rows[1:]] == EXPECTED_TIMES

        # An MMSI with no positions: empty, not an error.
        body = await (await api.get(f"/api/vessels/{UNKNOWN}/track", format="geojson")).json()
        assert body == {"type": "FeatureCollection", "features": [], "next_cursor": None}
        text = await (await api.get(f"/api/vessels/{UNKNOWN}/track", format="csv")).text()
        assert text.splitlines() == ["mmsi,time"]


async def test_alerts_newest_first_with_filters(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        async def ids(**params: str) -> list[int]:
            response = await api.get("/api/alerts", **params)
            assert response.status == 200, await response.text()
            return [a["id"] for a in (await response.json())["alerts"]]

        dark, zone, call = api.alert_ids["dark"], api.alert_ids["zone"], api.alert_ids["call"]
        assert await ids() == [call, zone, dark]
        assert await ids(kind="went_dark") == [dark]
        assert await ids(state="open") == [call, zone, dark]
        assert await ids(state="acknowledged") == []
        assert await ids(vessel=str(NORD)) == [call, dark]
        assert await ids(vessel=f"IMO:{NORD_IMO}") == [call, dark]
        assert await ids(since=(START + timedelta(minutes=90)).isoformat()) == [call, zone]
        assert await ids(until=(START + timedelta(minutes=150)).isoformat()) == [zone, dark]
        assert await ids(limit="1") == [call]
        body = await (await api.get("/api/alerts", kind="port_call")).json()
        (alert,) = body["alerts"]
        assert alert["severity"] == "high" and alert["place"] == "kp-rajin" and alert["imo"] == NORD_IMO


async def test_port_calls_and_zones(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for params in ({}, {"port": "kp-rajin"}, {"port": "Rajin"}, {"vessel": str(NORD)}):
            response = await api.get("/api/port-calls", **params)
            assert response.status == 200, (params, await response.text())
            assert (await response.json())["port_calls"] == []
        response = await api.get("/api/zones")
        assert response.status == 200
        body = await response.json()
        assert body["type"] == "FeatureCollection"
        ids = {f["properties"]["id"] for f in body["features"]}
        assert "kp-rajin" in ids
        assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in body["features"])


# ------------------------------------------------------------------------------------------ openapi
async def test_openapi_matches_the_served_routes(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        served = {(route.resource.canonical, route.method.lower())
                  for route in api.app.router.routes() if route.method != "HEAD" and route.resource}
        # The dashboard's static files are served without a token and are not part of the API document;
        # they are exactly these, so any other undocumented route still fails the test.
        dashboard = {(path, method) for path, method in served
                     if path == "/" or path.startswith("/dashboard")}
        assert dashboard <= DASHBOARD_ROUTES, dashboard
        document = openapi_document(ROUTES)
        documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
        assert served - dashboard == documented
        for path, ops in document["paths"].items():
            for method, operation in ops.items():
                if path in PUBLIC:
                    assert "security" not in operation, (path, method)
                else:
                    assert operation.get("security") == [{"bearer": []}], (path, method)
                    assert operation["x-role"] in ("viewer", "operator", "admin")
                    assert {"401", "403"} <= operation["responses"].keys()
                path_params = set(re.findall(r"{(\w+)}", path))
                declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
                assert path_params == declared, (path, method)
        # The served document is the same one.
        response = await api.get("/api/openapi.json")
        assert await response.json() == json.loads(json.dumps(document))


# ------------------------------------------------------------------------------------- real server
async def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'serve.db'}"
    env = child_env(AIS_WATCH_DB=db_url, AIS_WATCH_HTTP_PORT="0", AIS_WATCH_HTTP_HOST="127.0.0.1",
                    AIS_WATCH_DEMO_REPLAY="true", AIS_WATCH_LOG_LEVEL="INFO")
    token = await asyncio.to_thread(cli_token, env, db_url, "viewer", "wall")
    assert len(token) >= 32

    async with Serve(env, tmp_path / "serve.log") as serve:
        async with asyncio.timeout(60):
            await serve.start()
            base = await serve.api_base()
            assert re.fullmatch(r"http://[\d.]+:\d+", base), base
            async with aiohttp.ClientSession() as session:
                async with session.get(base + "/healthz") as response:
                    assert response.status == 200 and (await response.json())["status"] == "ok"
                async with session.get(base + "/api/vessels") as response:
                    assert response.status == 401
                async with session.get(base + "/api/vessels",
                                       headers={"Authorization": f"Bearer {token}"}) as response:
                    assert response.status == 200, await response.text()
                    assert isinstance((await response.json())["vessels"], list)
                    assert_security_headers(response)
        code, _ = await serve.stop(signal.SIGTERM, timeout=15)
        assert code == 0, serve.text()
        assert "stopped cleanly" in serve.text(), serve.text()
