"""GET /api/fleet and `ais-watch fleet` over a real store, on SQLite and PostgreSQL: a watched fleet replayed
through the pipeline with every detector on (tests/helpers/fleet.py: in port, at sea, dark, anomalous, not
heard, matched by name, associated, an association expired, an unwatched ferry), then asked for by an
in-process server. The fleet is built once per database for the module; a test that changes it puts it
back."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import Severity
from ais_watch.api.app import create_app
from ais_watch.api.tokens import create_token
from ais_watch.fleet import FLAT_FIELDS, STATES, fleet_board, places_of
from ais_watch.store.db import open_database
from ais_watch.store.schema import alerts
from ais_watch.watchlist.entries import normalise_name
from ais_watch.zones import ZoneRegistry
from tests.helpers.cli import cli, jsonl
from tests.helpers.fleet import (
    DARK_HOURS,
    FERRY,
    LAPSED,
    PARTNER,
    PORTER,
    SAILOR,
    association,
    build_fleet,
    keys,
)
from tests.helpers.needs import pg_url_or_skip

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LIMIT = 30  # seconds any one request-and-check may take
KEYS = keys()


@dataclass(frozen=True)
class Fleet:
    db_url: str
    end: datetime  # when the replayed fleet's traffic ends


@dataclass
class Api:
    client: test_utils.TestClient
    engine: AsyncEngine
    tokens: dict[str, str]

    async def get(self, path: str, role: str = "viewer", **params: str) -> aiohttp.ClientResponse:
        return await self.client.get(path, params=params,
                                     headers={"Authorization": f"Bearer {self.tokens[role]}"})

    async def fleet(self, **params: str) -> dict[str, Any]:
        response = await self.get("/api/fleet", **params)
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def alerts(self, **params: str) -> list[dict[str, Any]]:
        response = await self.get("/api/alerts", **params)
        assert response.status == 200, await response.text()
        return list((await response.json())["alerts"])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    folder = tmp_path_factory.mktemp(f"fleet-{request.param}")
    db_url = f"sqlite:///{folder / 'fleet.db'}" if request.param == "sqlite" else pg_url_or_skip()
    end = datetime.now(UTC).replace(microsecond=0)
    build_fleet(db_url, folder, end)
    return Fleet(db_url, end)


@pytest.fixture
async def api(fleet: Fleet) -> AsyncIterator[Api]:
    engine = await open_database(fleet.db_url)
    client: test_utils.TestClient | None = None
    try:
        tokens = {role: await create_token(engine, role, f"{role}-desk", replace=True)
                  for role in ("viewer", "operator")}
        client = test_utils.TestClient(test_utils.TestServer(create_app(engine, ZoneRegistry([]))))
        await client.start_server()
        yield Api(client, engine, tokens)
    finally:
        if client is not None:
            await client.close()
        await engine.dispose()


def by_key(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in body["vessels"]}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------------------------------- states
async def test_every_watched_vessel_in_its_state(api: Api, fleet: Fleet) -> None:
    async with asyncio.timeout(LIMIT):
        body = await api.fleet()
        now = when(body["now"])
        rows = by_key(body)
        # Every entry still watched, heard or not; the lapsed association and the unwatched ferry not.
        assert set(rows) == set(KEYS.values()) - {KEYS["LAPSED"]}
        assert body["count"] == len(rows) == 7
        heard = {m for row in rows.values() for m in row["mmsis"]}
        assert FERRY.mmsi not in heard and LAPSED.mmsi not in heard

        porter = rows[KEYS["PORTER"]]
        (open_call,) = [c for c in (await (await api.get("/api/port-calls", vessel=str(PORTER.mmsi))).json())[
            "port_calls"] if c["departure"] is None]
        assert porter["state"] == {"state": "in_port", "port": "Rajin", "port_id": "kp-rajin",
                                   "country": "KP", "since": open_call["arrival"]}
        assert porter["position"]["place"] == "Rajin"
        assert porter["last_port_call"]["port"] == "Rajin" and porter["last_port_call"]["departed"] is None

        sailor = rows[KEYS["SAILOR"]]
        assert sailor["state"] == {"state": "at_sea"}
        assert sailor["position"]["place"].startswith("at sea, ") and " nm " in sailor["position"]["place"]
        call = sailor["last_port_call"]
        assert call["port"] == "Vostochny" and when(call["arrived"]) < when(call["departed"]) < fleet.end
        assert sailor["watch"]["matched_by"] == "mmsi" and sailor["imo"] is None

        darkie = rows[KEYS["DARKIE"]]
        state = darkie["state"]
        assert state["state"] == "dark" and state["since"] == darkie["position"]["time"]
        assert state["hours"] == pytest.approx((now - when(state["since"])).total_seconds() / 3600, abs=0.01)
        assert DARK_HOURS <= state["hours"] < DARK_HOURS + 0.5
        (went_dark,) = await api.alerts(kind="went_dark")
        assert went_dark["mmsi"] == darkie["mmsi"] and when(went_dark["details"]["last_seen"]) == when(
            state["since"])

        spoofer = rows[KEYS["SPOOFER"]]
        (anomaly,) = await api.alerts(kind="position_anomaly")
        assert spoofer["state"] == {"state": "anomalous", "reason": "impossible_speed",
                                    "since": anomaly["occurred_at"], "alert_id": anomaly["id"]}

        ghost = rows[KEYS["GHOST"]]
        assert ghost["state"] == {"state": "not_heard"}
        assert ghost["position"] is None and ghost["mmsis"] == [] and ghost["last_port_call"] is None
        assert ghost["name"] == "GHOST" and ghost["flag"] == "Comoros" and ghost["imo"] == 9300037

        namely = rows[KEYS["NAMELY"]]
        assert namely["name"] == "Namely One" and namely["ais_name"] == "NAMELY ONE"
        assert namely["watch"]["matched_by"] == "name" and namely["state"] == {"state": "at_sea"}

        partner = rows[KEYS["PARTNER"]]
        assert partner["watch"]["kind"] == "associated"
        assert partner["watch"]["association"] == association(PARTNER, fleet.end - timedelta(days=2))
        assert when(partner["watch"]["expires_at"]) == fleet.end + timedelta(days=1)
        assert partner["name"] == PARTNER.name and partner["flag"] == "PA"  # the MMSI's country, Panama
        assert partner["state"] == {"state": "at_sea"}
        assert {r["watch"]["kind"] for k, r in rows.items() if k != KEYS["PARTNER"]} == {"listed"}


async def test_positions_and_open_alerts_agree_with_the_other_routes(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        body = await api.fleet()
        now = when(body["now"])
        for row in body["vessels"]:
            position = row["position"]
            if position is None:
                assert row["alerts"] == {"open": 0, "highest": None}, row
                continue
            vessel = (await (await api.get(f"/api/vessels/{position['mmsi']}")).json())["vessel"]
            assert (position["lat"], position["lon"]) == (vessel["last_lat"], vessel["last_lon"])
            assert position["time"] == vessel["last_seen"] and row["mmsi"] == position["mmsi"]
            assert position["age_seconds"] == round((now - when(position["time"])).total_seconds())
            opened = await api.alerts(state="open", vessel=str(position["mmsi"]))
            worst = max((Severity.parse(a["severity"]) for a in opened), default=None)
            assert row["alerts"] == {"open": len(opened), "highest": worst and worst.label()}, row["key"]
        rows = by_key(body)
        assert rows[KEYS["PORTER"]]["alerts"]["open"] >= 2  # zone entry, port call
        assert rows[KEYS["DARKIE"]]["alerts"] == {"open": 1, "highest": "high"}


async def test_an_acknowledged_anomaly_no_longer_colours_the_state(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        before = by_key(await api.fleet())[KEYS["SPOOFER"]]
        alert_id = before["state"]["alert_id"]
        response = await api.client.post(f"/api/alerts/{alert_id}/ack", json={"note": "a GPS jump"},
                                         headers={"Authorization": f"Bearer {api.tokens['operator']}"})
        assert response.status == 200, await response.text()
        try:
            after = by_key(await api.fleet())[KEYS["SPOOFER"]]
            assert after["state"] == {"state": "at_sea"}
            assert after["alerts"]["open"] == before["alerts"]["open"] - 1
        finally:  # the module's fleet as it was, for the tests after this one
            async with api.engine.begin() as conn:
                await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(
                    state="open", acknowledged_by=None, acknowledged_at=None, ack_note=None))
        assert by_key(await api.fleet())[KEYS["SPOOFER"]]["state"]["state"] == "anomalous"


async def test_a_few_queries_for_the_whole_fleet(api: Api) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(api.engine.sync_engine, "before_cursor_execute", count)
    try:
        rows = await fleet_board(api.engine, datetime.now(UTC), places_of(ZoneRegistry([]).index))
    finally:
        event.remove(api.engine.sync_engine, "before_cursor_execute", count)
    assert len(rows) == 7
    # The entries; vessels by MMSI, IMO and name; open and latest port calls; dark state; open alerts
    # counted, and the recent anomalies: the same for 7 vessels as for 2,000 (bench/fleet.py).
    assert len(statements) <= 9, statements


async def test_entries_watched_beside_the_table(api: Api) -> None:
    """The demo's simulated ship is watched by the running service only: given as an extra entry it is on
    the board; an extra entry with a key the table has (watched or expired) changes nothing."""
    def extra(key: str, name: str, imo: int | None, mmsi: int | None) -> dict[str, Any]:
        return {"key": key, "name": name, "imo": imo, "mmsi": mmsi, "flag": None, "reason": "demo",
                "source": "demo", "aliases": [], "tags": ["demo"], "dark_threshold": None}

    rows = await fleet_board(api.engine, datetime.now(UTC), places_of(ZoneRegistry([]).index), extra_entries=[
        extra("imo:1234567", "SIMULATED DEMO SHIP", 1234567, 273999999),
        extra(KEYS["PORTER"], "NOT PORTER", None, None), extra(KEYS["LAPSED"], "LAPSED", None, LAPSED.mmsi)])
    found = {row["key"]: row for row in rows}
    assert set(found) == set(KEYS.values()) - {KEYS["LAPSED"]} | {"imo:1234567"}
    assert found["imo:1234567"]["state"] == {"state": "not_heard"} and found["imo:1234567"]["mmsis"] == [
        273999999]
    assert found[KEYS["PORTER"]]["name"] == PORTER.name


# ------------------------------------------------------------------------------ sorting, filters
def order_of(body: dict[str, Any]) -> list[str]:
    return [row["key"] for row in body["vessels"]]


async def test_sort_orders(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        default = await api.fleet()
        assert (default["sort"], default["order"]) == ("state", "asc")
        ranks = [STATES.index(r["state"]["state"]) for r in default["vessels"]]
        assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == len(STATES) - 1  # dark .. not heard
        assert order_of(await api.fleet(sort="state", order="desc"))[0] == KEYS["GHOST"]

        by_name = await api.fleet(sort="name")
        names = [normalise_name(r["name"]) for r in by_name["vessels"]]
        assert names == sorted(names) and by_name["order"] == "asc"
        assert order_of(await api.fleet(sort="name", order="desc")) == order_of(by_name)[::-1]

        for order in ("asc", "desc"):  # never heard last, whichever the order
            body = await api.fleet(sort="age", order=order)
            ages = [r["position"]["age_seconds"] for r in body["vessels"][:-1]]
            assert ages == sorted(ages, reverse=order == "desc") and len(set(ages)) == len(ages)
            assert order_of(body)[-1] == KEYS["GHOST"]

        most = await api.fleet(sort="alerts")
        counts = [r["alerts"]["open"] for r in most["vessels"]]
        assert most["order"] == "desc" and counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
        fewest = [r["alerts"]["open"] for r in (await api.fleet(sort="alerts", order="asc"))["vessels"]]
        assert fewest == sorted(counts)

        worst = await api.fleet(sort="severity")
        levels = [Severity.parse(r["alerts"]["highest"]) if r["alerts"]["highest"] else 0
                  for r in worst["vessels"]]
        assert levels == sorted(levels, reverse=True) and levels[0] == Severity.HIGH


async def test_filters(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        assert order_of(await api.fleet(state="dark")) == [KEYS["DARKIE"]]
        assert order_of(await api.fleet(state="not_heard")) == [KEYS["GHOST"]]
        assert set(order_of(await api.fleet(state="in_port,anomalous"))) == {KEYS["PORTER"], KEYS["SPOOFER"]}
        assert order_of(await api.fleet(watch="associated")) == [KEYS["PARTNER"]]
        listed = await api.fleet(watch="listed", sort="name")
        assert KEYS["PARTNER"] not in order_of(listed) and listed["count"] == 6
        assert order_of(await api.fleet(state="at_sea", watch="associated")) == [KEYS["PARTNER"]]
        assert (await api.fleet(state=""))["count"] == 7


async def test_bad_parameters_are_a_clear_400(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for params, words in [({"sort": "speed"}, "sort: one of state, name, age, alerts, severity"),
                              ({"order": "up"}, "order: asc or desc"),
                              ({"state": "dark,sunk"}, "'sunk'"),
                              ({"watch": "friends"}, "watch: listed or associated")]:
            response = await api.get("/api/fleet", **params)
            assert response.status == 400, params
            assert words in (await response.json())["error"], params
        response = await api.client.get("/api/fleet")
        assert response.status == 401


# ------------------------------------------------------------------------------------------- CLI
def test_the_cli_says_what_the_api_says(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--db", fleet.db_url, "fleet", "--format", "jsonl", "--sort", "name")
    assert code == 0
    rows = jsonl(out)
    assert [r["key"] for r in rows] == sorted((r["key"] for r in rows),
                                              key=lambda k: normalise_name(next(
                                                  r["name"] for r in rows if r["key"] == k)))
    states = {r["key"]: r["state"]["state"] for r in rows}
    assert states == {KEYS["PORTER"]: "in_port", KEYS["SAILOR"]: "at_sea", KEYS["DARKIE"]: "dark",
                      KEYS["SPOOFER"]: "anomalous", KEYS["GHOST"]: "not_heard", KEYS["NAMELY"]: "at_sea",
                      KEYS["PARTNER"]: "at_sea"}

    code, out, _ = cli(capsys, "--db", fleet.db_url, "fleet", "--format", "table")  # the most urgent first
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["name", "mmsi", "flag", "watch", "state"]
    assert lines[1].startswith("DARKIE") and f"dark for {DARK_HOURS} h" in lines[1]
    assert "in Rajin since " in out and "anomalous: impossible_speed" in out
    assert lines[-1].startswith("GHOST") and "not heard" in lines[-1]

    code, out, _ = cli(capsys, "--db", fleet.db_url, "fleet", "--format", "csv", "--state", "dark,in_port")
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and list(table[0]) == list(FLAT_FIELDS)
    assert {(r["name"], r["state"], r["port"]) for r in table} == {("DARKIE", "dark", ""),
                                                                   (PORTER.name, "in_port", "Rajin")}
    assert str(SAILOR.mmsi) not in out

    code, out, err = cli(capsys, "--db", fleet.db_url, "fleet", "--state", "sunk")
    assert code == 2 and out == "" and err.count("\n") == 1 and "'sunk'" in err
