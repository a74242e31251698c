"""GET /api/reception and the reception gauges of /metrics, in process, on a runtime whose reception step
has really seen traffic.

Real `PositionReport`s go through the built pipeline (`running_pipeline`, no detectors) of one feed naming
three receiving stations: ALPHA falls silent after 20 minutes while BRAVO and CHARLIE carry on, and a tick
well past the silence threshold makes ALPHA a reception loss. A second feed naming no station has ships
reporting 30 minutes apart in one mid-Atlantic cell: an area heard only on satellite passes.

The reception settings are scaled down (a 1-minute window, 5 messages a window to judge, 5 minutes of
silence), so a 40-minute story is a few hundred reports. Reception lives in memory, so SQLite is enough.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils, web
from prometheus_client.parser import text_string_to_metric_families

from ais_watch.api.app import create_app
from ais_watch.api.handlers.reception import _in_box, _json_safe
from ais_watch.api.tokens import create_token
from ais_watch.clock import ReplayClock
from ais_watch.config import load_settings
from ais_watch.model import PositionReport
from ais_watch.runtime import Runtime, running_pipeline
from ais_watch.zones import ZoneRegistry

LIMIT = 60  # seconds any one test may take
START = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
SILENT_FROM = 20 * 60  # seconds: ALPHA's last report is just before
END = 40 * 60  # BRAVO and CHARLIE report until here
EVERY = 30  # seconds between one vessel's reports
RECEPTION = {"AIS_WATCH_RECEPTION_WINDOW": "60", "AIS_WATCH_RECEPTION_MIN_USUAL": "5",
             "AIS_WATCH_RECEPTION_MIN_SILENCE": "300", "AIS_WATCH_RECEPTION_LEARN": "600"}
# Four vessels per station, where each station hears them (south-west of the point, within its cell).
STATIONS = {"ALPHA": (54.3, 10.1), "BRAVO": (57.7, 11.9), "CHARLIE": (59.3, 18.1)}
SATELLITE_CELL = (40.5, -30.5)
SATELLITE_SHIPS = 21  # each one gap sample: past the 20 an area needs to be judged


@dataclass
class Api:
    client: test_utils.TestClient
    runtime: Runtime | None
    token: str

    async def get(self, path: str, **params: str) -> aiohttp.ClientResponse:
        return await self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.token}"})

    async def reception(self, **params: str) -> dict[str, Any]:
        response = await self.get("/api/reception", **params)
        assert response.status == 200, (response.status, await response.text())
        body: dict[str, Any] = await response.json()
        return body


def position(mmsi: int, second: int, lat: float, lon: float, source: str,
             station: str | None) -> PositionReport:
    when = START + timedelta(seconds=second)
    return PositionReport(mmsi=mmsi, time=when, lat=lat, lon=lon, sog=10.0, cog=90.0, heading=90,
                          nav_status=0, msg_type=1, source=source, received_at=when, station=station)


def traffic() -> list[PositionReport]:
    """The whole story in time order (a replay's clock only moves forward)."""
    reports = []
    for index, (station, (lat, lon)) in enumerate(STATIONS.items()):
        until = SILENT_FROM if station == "ALPHA" else END
        for ship in range(4):
            mmsi = 211000000 + index * 100 + ship
            for second in range(ship * 7, until, EVERY):
                reports.append(position(mmsi, second, lat - ship / 100, lon - ship / 100, "test", station))
    lat, lon = SATELLITE_CELL
    for ship in range(SATELLITE_SHIPS):
        for second in (ship, 30 * 60 + ship):  # one satellite pass, the next half an hour later
            reports.append(position(636000000 + ship, second, lat + ship / 100, lon + ship / 100, "sat",
                                    None))
    reports.sort(key=lambda r: r.time)
    return reports


async def _client(app: web.Application) -> test_utils.TestClient:
    client = test_utils.TestClient(test_utils.TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = load_settings(environ={"AIS_WATCH_DB": f"sqlite:///{tmp_path / 'reception.db'}", **RECEPTION})
    async with asyncio.timeout(LIMIT), running_pipeline(settings, ReplayClock(), periodic_flush=False,
                                                        deliver=False, detectors=False) as runtime:
        for report in traffic():
            await runtime.pipeline.submit(report)
        await runtime.pipeline.run_ticks(START + timedelta(seconds=END))
        token = await create_token(runtime.engine, "viewer", "reception-desk")
        client = await _client(create_app(runtime.engine, ZoneRegistry([]), runtime))
        try:
            yield Api(client, runtime, token)
        finally:
            await client.close()


def by_label(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["label"]: item for item in items}


# ------------------------------------------------------------------------------------- the picture
@pytest.mark.integration
async def test_the_silent_station_is_in_outage_the_others_ok(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        body = await api.reception()
        assert set(body) == {"stations", "areas"}
        stations = by_label(body["stations"])
        assert set(stations) == set(STATIONS)
        alpha = stations["ALPHA"]
        assert alpha["state"] == "outage", alpha
        assert alpha["id"] == "station:test:ALPHA" and alpha["source"] == "test"
        last_alpha = START + timedelta(seconds=max(range(3 * 7, SILENT_FROM, EVERY)))
        assert alpha["since"] == alpha["last_message"] == last_alpha.isoformat().replace("+00:00", "Z")
        assert alpha["vessels"] == 4 and alpha["reception"] is None
        assert alpha["per_hour"] == pytest.approx(4 * 3600 / EVERY, rel=0.25)  # 4 ships every 30 s
        south, west, north, east = alpha["bounds"]
        assert (south, west, north, east) == pytest.approx((54.27, 10.07, 54.3, 10.1))
        for name in ("BRAVO", "CHARLIE"):
            assert stations[name]["state"] == "ok" and stations[name]["since"] is None, stations[name]
            assert stations[name]["vessels"] == 4
        assert body["stations"][0]["label"] == "ALPHA", "those in outage come first"

        # Its reception_loss alert names the station and the place, with no vessel.
        response = await api.get("/api/alerts", kind="reception_loss")
        (alert,) = (await response.json())["alerts"]
        assert alert["place"] == "station ALPHA (test)" and alert["mmsi"] is None, alert
        assert alert["lat"] == pytest.approx(54.285) and alert["lon"] == pytest.approx(10.085)


@pytest.mark.integration
async def test_areas_tell_satellite_from_terrestrial(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        areas = (await api.reception(kind="areas"))["areas"]
        (satellite,) = [a for a in areas if a["source"] == "sat"]
        assert satellite["reception"] == "satellite", satellite
        assert satellite["long_gap_seconds"] > 20 * 60 and satellite["vessels"] == SATELLITE_SHIPS
        assert satellite["label"] == "40°N 31°W" and satellite["state"] == "ok"
        # The stations' own ships, reporting every 30 s, are heard terrestrially in their cells.
        terrestrial = [a for a in areas if a["source"] == "test"]
        assert len(terrestrial) == len(STATIONS)
        assert {a["reception"] for a in terrestrial} == {"terrestrial"}, terrestrial
        assert all(a["long_gap_seconds"] <= 60 for a in terrestrial)


# ----------------------------------------------------------------------------------------- filters
@pytest.mark.integration
async def test_filters_by_state_kind_source_and_bbox(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        outage = await api.reception(state="outage")
        assert [s["label"] for s in outage["stations"]] == ["ALPHA"] and outage["areas"] == []
        ok = await api.reception(state="ok", kind="stations")
        assert set(ok) == {"stations"}, "kind leaves the other list out"
        assert sorted(s["label"] for s in ok["stations"]) == ["BRAVO", "CHARLIE"]
        assert set(await api.reception(kind="areas")) == {"areas"}
        assert (await api.reception(source="sat"))["stations"] == []
        assert len((await api.reception(source="sat"))["areas"]) == 1
        assert await api.reception(source="nowhere") == {"stations": [], "areas": []}

        # A viewport round Kiel: ALPHA and its area only. West,south,east,north.
        kiel = await api.reception(bbox="9.5,54.0,10.5,54.5")
        assert [s["label"] for s in kiel["stations"]] == ["ALPHA"]
        assert [a["label"] for a in kiel["areas"]] == ["54°N 10°E"]
        # One that touches nothing heard, and one across the antimeridian that takes the Atlantic
        # (west 170 to east -20 wraps round through 180: it holds -30.5 but not 10 to 18 E).
        assert await api.reception(bbox="100,-10,110,0") == {"stations": [], "areas": []}
        pacific = await api.reception(bbox="170,-60,-20,70")
        assert pacific["stations"] == [] and [a["source"] for a in pacific["areas"]] == ["sat"]


@pytest.mark.parametrize(("params", "says"), [
    ({"state": "down"}, "state: ok or outage"),
    ({"kind": "station"}, "kind: stations or areas"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "1,2,3,4,5"}, "bbox"),
    ({"bbox": "nan,0,1,1"}, "finite"),
    ({"bbox": "0,0,inf,1"}, "finite"),
    ({"bbox": "-181,0,1,1"}, "longitudes"),
    ({"bbox": "0,10,1,5"}, "south not above north"),
    ({"bbox": "0,-91,1,1"}, "latitudes"),
])
@pytest.mark.integration
async def test_bad_input_is_a_clear_400(api: Api, params: dict[str, str], says: str) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.get("/api/reception", **params)
        assert response.status == 400, (response.status, await response.text())
        assert response.content_type == "application/json"
        assert says in (await response.json())["error"]
        assert "Content-Security-Policy" in response.headers


@pytest.mark.integration
async def test_needs_a_viewer_token(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.client.get("/api/reception")
        assert response.status == 401
        response = await api.client.get("/api/reception", headers={"Authorization": "Bearer nonsense"})
        assert response.status == 401


# ---------------------------------------------------------------------------------------- metrics
@pytest.mark.integration
async def test_metrics_count_stations_and_areas_in_outage_by_source(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        response = await api.client.get("/metrics")
        assert response.status == 200
        samples = {(s.name, s.labels.get("source")): s.value
                   for family in text_string_to_metric_families(await response.text())
                   for s in family.samples if s.name.startswith("ais_watch_reception_")}
        assert samples == {
            ("ais_watch_reception_stations", "test"): 3,
            ("ais_watch_reception_stations_in_outage", "test"): 1,
            ("ais_watch_reception_areas", "test"): 3,
            ("ais_watch_reception_areas", "sat"): 1,
            ("ais_watch_reception_areas_in_outage", "test"): 0,
            ("ais_watch_reception_areas_in_outage", "sat"): 0,
        }


# ---------------------------------------------------------------------------- no pipeline, no step
@pytest.mark.integration
async def test_no_pipeline_in_this_process_is_a_404(api: Api) -> None:
    assert api.runtime is not None
    async with asyncio.timeout(LIMIT):
        client = await _client(create_app(api.runtime.engine, ZoneRegistry([])))  # runtime None
        try:
            response = await client.get("/api/reception", headers={"Authorization": f"Bearer {api.token}"})
            assert response.status == 404 and response.content_type == "application/json"
            assert (await response.json())["error"] == "no pipeline runs in this process"
        finally:
            await client.close()


@pytest.mark.integration
async def test_reception_off_is_a_404_that_says_so(tmp_path: Path) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": f"sqlite:///{tmp_path / 'off.db'}",
                                      "AIS_WATCH_RECEPTION_ENABLED": "false"})
    async with asyncio.timeout(LIMIT), running_pipeline(settings, ReplayClock(), periodic_flush=False,
                                                        deliver=False, detectors=False) as runtime:
        assert runtime.reception is None
        token = await create_token(runtime.engine, "viewer", "desk")
        client = await _client(create_app(runtime.engine, ZoneRegistry([]), runtime))
        try:
            response = await client.get("/api/reception", headers={"Authorization": f"Bearer {token}"})
            assert response.status == 404
            assert "reception.enabled" in (await response.json())["error"]
            metrics = await (await client.get("/metrics")).text()
            assert "ais_watch_reception_" not in metrics  # not measured is not "none down"
        finally:
            await client.close()


# ------------------------------------------------------------------------------------- the pieces
@pytest.mark.unit
def test_box_meets_bounds_across_the_antimeridian() -> None:
    fiji = [-18.0, 177.0, -17.0, 179.5]  # south, west, north, east
    assert _in_box(fiji, (170.0, -20.0, -170.0, -10.0))  # west > east: crosses 180
    assert not _in_box(fiji, (-175.0, -20.0, -170.0, -10.0))
    assert _in_box([-18.0, -179.0, -17.0, -178.0], (170.0, -20.0, -170.0, -10.0))
    assert not _in_box(fiji, (170.0, 0.0, -170.0, 10.0))  # right longitudes, wrong latitudes
    assert not _in_box(None, (-180.0, -90.0, 180.0, 90.0))  # nothing placed it


@pytest.mark.unit
def test_numbers_are_json_safe() -> None:
    item = {"per_hour": math.nan, "long_gap_seconds": math.inf, "bounds": [1.0, math.nan, 2.0, 3.0],
            "vessels": 3, "label": "X"}
    safe = _json_safe(item)
    assert safe == {"per_hour": None, "long_gap_seconds": None, "bounds": [1.0, None, 2.0, 3.0],
                    "vessels": 3, "label": "X"}
    assert safe["bounds"] is not item["bounds"], "a copy: the step's bounds are its live state"
