"""The live websocket: alerts and watched positions reach a connected client; viewports; auth; a slow
client is cut off, not silently skipped."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.api import live as live_module
from ais_watch.api.app import create_app
from ais_watch.api.live import LiveHub
from ais_watch.api.tokens import create_token
from ais_watch.model import PositionReport
from ais_watch.pipeline.stage import Context
from ais_watch.zones import ZoneRegistry
from tests.helpers.db import engine_on
from tests.helpers.reports import make_position

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def position(mmsi: int, lat: float, lon: float) -> PositionReport:
    return make_position(mmsi, T0, lat, lon)


async def test_alerts_and_watched_positions_arrive_live(tmp_path: Path) -> None:
    async with asyncio.timeout(20), engine_on(f"sqlite:///{tmp_path / 'live.db'}") as engine:
        hub = LiveHub()
        store = AlertStore(engine)
        store.subscribe(hub.alert_changed)
        token = await create_token(engine, "viewer", "wall")
        async with TestClient(TestServer(create_app(engine, ZoneRegistry([]), live=hub))) as client:
            denied = await client.get("/api/live")
            assert denied.status == 401
            socket = await client.ws_connect(f"/api/live?token={token}")
            for _ in range(50):  # the server registers the client once the handshake is done
                if hub.clients:
                    break
                await asyncio.sleep(0.02)
            await store.raise_alerts([AlertDraft(kind="went_dark", occurred_at=T0, event_key="a",
                                                 mmsi=273111111, vessel_name="<b>ANGARA</b>", place="Rajin")])
            message = json.loads((await socket.receive()).data)
            assert message["type"] == "alert"
            assert message["alert"]["vessel_name"] == "<b>ANGARA</b>"  # text, as sent
            vessel = {"name": "ANGARA", "imo": 9179842}
            ctx = Context(services=None)  # type: ignore[arg-type]
            ctx.vessel, ctx.watch = vessel, object()  # type: ignore[assignment]
            hub.handle(position(273111111, 42.2, 130.3), ctx)
            moved = json.loads((await socket.receive()).data)
            assert (moved["type"], moved["mmsi"], moved["watched"]) == ("position", 273111111, True)
            # An unwatched vessel reaches only a client whose viewport holds it.
            plain = Context(services=None)  # type: ignore[arg-type]
            plain.vessel = {"name": None, "imo": None}
            hub.handle(position(219000001, 55.0, 10.0), plain)
            await socket.send_str(json.dumps({"viewport": [54.0, 9.0, 56.0, 11.0]}))
            for _ in range(50):
                if next(iter(hub.clients)).viewport:
                    break
                await asyncio.sleep(0.02)
            hub.handle(position(219000001, 60.0, 10.0), plain)  # outside
            hub.handle(position(219000002, 55.0, 10.0), plain)  # inside
            seen = json.loads((await socket.receive()).data)
            assert (seen["mmsi"], seen["watched"]) == (219000002, False)
            await socket.close()


async def test_a_slow_client_is_disconnected_not_skipped(tmp_path: Path) -> None:
    async with asyncio.timeout(20), engine_on(f"sqlite:///{tmp_path / 'slow.db'}") as engine:
        hub = LiveHub()
        token = await create_token(engine, "viewer")
        async with TestClient(TestServer(create_app(engine, ZoneRegistry([]), live=hub))) as client:
            socket = await client.ws_connect(f"/api/live?token={token}")
            for _ in range(50):
                if hub.clients:
                    break
                await asyncio.sleep(0.02)
            for i in range(live_module.QUEUE + 10):  # faster than any writer can drain, in one go
                hub.publish({"type": "alert", "n": i})
            assert not hub.clients, "a client that cannot keep up is dropped from the hub"
            async for _message in socket:  # whatever was queued before the cut, then the close
                pass
            assert socket.close_code == 1013  # "try again later": the client reconnects and reloads
