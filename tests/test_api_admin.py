"""Admin routes (watchlist import and removal), vessels in a zone over a window, track thinning, readiness."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ais_watch.api.app import create_app
from ais_watch.api.tokens import create_token
from ais_watch.clock import ReplayClock
from ais_watch.config import load_settings
from ais_watch.model import PositionReport
from ais_watch.runtime import running_pipeline
from ais_watch.zones import ZoneRegistry
from tests.helpers.db import engine_on
from tests.helpers.reports import make_position
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2024, 2, 1, tzinfo=UTC)
RAJIN = (42.2405, 130.3058)  # inside the kp-rajin polygon
ROLES = ("viewer", "operator", "admin")
MOORED = {"sog": 0.0, "cog": None, "heading": None, "nav_status": 5}


def fix(mmsi: int, minutes: float, lat: float, lon: float) -> PositionReport:
    return make_position(mmsi, T0 + timedelta(minutes=minutes), lat, lon, **MOORED)


async def test_admin_watchlist_zone_window_thinning_and_readiness(db_url: str) -> None:
    async with asyncio.timeout(60):
        settings = load_settings(environ={}).with_overrides(db=db_url, detectors__enabled=False)
        async with running_pipeline(settings, ReplayClock(), deliver=False, detectors=False) as runtime:
            for minute in range(0, 120, 2):  # a ship moored at Rajin, one fix every 2 minutes
                await runtime.pipeline.submit(fix(445000001, minute, *RAJIN))
            await runtime.pipeline.submit(fix(273000002, 30, 42.9, 133.9))  # far away
        async with engine_on(db_url) as engine:
            tokens = {role: await create_token(engine, role, role) for role in ROLES}

            def auth(role: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {tokens[role]}"}

            async with TestClient(TestServer(create_app(engine, ZoneRegistry([])))) as client:
                csv_body = "name,imo,mmsi,flag,reason,source\nTEST SHIP,9179842,,Russia,testing,unit test\n"
                denied = await client.post("/api/watchlist", data=csv_body, headers=auth("operator"))
                assert denied.status == 403
                added = await client.post("/api/watchlist?format=csv", data=csv_body, headers=auth("admin"))
                assert added.status == 200, await added.text()
                assert (await added.json())["imported"] + (await added.json())["updated"] == 1
                again = await (await client.post("/api/watchlist?format=csv", data=csv_body,
                                                 headers=auth("admin"))).json()
                assert again["imported"] == 0, "re-importing updates, never duplicates"
                bad = await client.post("/api/watchlist?format=csv", data="nothing,here\n1,2\n",
                                        headers=auth("admin"))
                assert bad.status == 400 and "upload" in (await bad.json())["error"]
                listed = await (await client.get("/api/watchlist", headers=auth("viewer"))).json()
                assert "imo:9179842" in [e["key"] for e in listed["entries"]]
                gone = await client.delete("/api/watchlist/imo:9179842", headers=auth("admin"))
                assert gone.status == 200
                again_gone = await client.delete("/api/watchlist/imo:9179842", headers=auth("admin"))
                assert again_gone.status == 404

                window = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=3)).isoformat()}
                inside = await (await client.get("/api/zones/Najin/vessels", params=window,
                                                 headers=auth("viewer"))).json()
                assert [v["mmsi"] for v in inside["vessels"]] == [445000001]
                assert inside["vessels"][0]["fixes"] == 60
                missing = await client.get("/api/zones/kp-rajin/vessels", headers=auth("viewer"))
                assert missing.status == 400  # a window is needed

                thinned = await (await client.get("/api/vessels/445000001/track",
                                                  params={"every": "600"}, headers=auth("viewer"))).json()
                times = [datetime.fromisoformat(p["time"]) for p in thinned["points"]]
                assert len(times) == 12 and all(b - a >= timedelta(seconds=600) for a, b in pairwise(times))

                ready = await client.get("/readyz")
                assert ready.status == 200 and (await ready.json())["status"] == "ready"


async def test_readiness_fails_when_no_source_is_connected(tmp_path: Path) -> None:
    class Down:
        name, connected = "tcp:feed:4001", False

    async with asyncio.timeout(20), engine_on(f"sqlite:///{tmp_path / 'r.db'}") as engine:
        app = create_app(engine, ZoneRegistry([]), sources=[Down()])
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/readyz")
            body = await response.json()
            assert response.status == 503 and body["sources"] == {"tcp:feed:4001": False}
            assert body["problems"] == ["no source is connected"]


async def test_the_vessel_panel_lists_gaps_in_its_track(tmp_path: Path) -> None:
    async with asyncio.timeout(30):
        db = f"sqlite:///{tmp_path / 'gaps.db'}"
        settings = load_settings(environ={}).with_overrides(db=db)
        async with running_pipeline(settings, ReplayClock(), deliver=False, detectors=False) as runtime:
            for minute in [*range(0, 60, 5), *range(300, 330, 5), *range(330 + 90, 330 + 100, 5)]:
                await runtime.pipeline.submit(fix(445000001, minute, *RAJIN))
        async with engine_on(db) as engine:
            token = await create_token(engine, "viewer")
            async with TestClient(TestServer(create_app(engine, ZoneRegistry([])))) as client:
                body = await (await client.get("/api/vessels/445000001",
                                               headers={"Authorization": f"Bearer {token}"})).json()
        assert [round(g["seconds"] / 60) for g in body["gaps"]] == [95, 245]  # newest first, > 1 h only


async def test_a_watchlist_import_through_the_api_is_watched_at_once_by_the_running_service(
        db_url: str) -> None:
    """Not at the next reload a minute later: the running detectors and the map use it from the answer."""
    async with asyncio.timeout(60):
        settings = load_settings(environ={}).with_overrides(db=db_url)
        async with running_pipeline(settings, ReplayClock(), deliver=False) as runtime:
            now = datetime.now(UTC)  # the map shows what was heard in the last hours of the wall clock
            await runtime.pipeline.submit(
                make_position(445000009, now, *RAJIN, **MOORED))
            await runtime.pipeline.flush(force=True)
            token = await create_token(runtime.engine, "admin", "admin")
            client = TestClient(TestServer(create_app(runtime.engine, ZoneRegistry([]), runtime)))
            await client.start_server()
            auth = {"Authorization": f"Bearer {token}"}
            try:
                async def on_map() -> list[dict[str, Any]]:
                    response = await client.get("/api/map", headers=auth)
                    assert response.status == 200, await response.text()
                    return [v for v in (await response.json())["vessels"] if v["mmsi"] == 445000009]

                async def watched() -> bool:
                    return any(v["watched"] for v in await on_map())

                async def shown() -> bool:
                    return bool(await on_map())

                # flush() only queues the batch: the writer stores it in its own task, and under load the
                # map can be asked first (then "not watched" below would hold for a ship not on it at all).
                await wait_for(shown, 10, "the ship on the map (the writer to store its position)")
                enricher = runtime.detectors.watchlist
                assert enricher.index.match(445000009, True, None, None) is None and not await watched()
                body = "name,imo,mmsi,flag,reason,source\nTIP,,445000009,,tip-off,unit test\n"
                added = await client.post("/api/watchlist?format=csv", data=body, headers=auth)
                assert added.status == 200, await added.text()
                assert enricher.index.match(445000009, True, None, None) is not None and await watched()
                removed = await client.delete("/api/watchlist/mmsi:445000009", headers=auth)
                assert removed.status == 200, await removed.text()
                assert enricher.index.match(445000009, True, None, None) is None
                assert not await watched()
            finally:
                await client.close()
