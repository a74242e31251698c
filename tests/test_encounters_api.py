"""`ais-watch encounters` and `GET /api/encounters` on SQLite and PostgreSQL, over an `encounters` table
seeded directly (no detector deciding for the test): both sides named from `vessels`, the filters (vessel by
MMSI or IMO, either side; a time window selecting the encounters that overlap it, one still going on
included), the three CLI formats, and bad input as one line or a 400."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils

from ais_watch.alerts.model import iso
from ais_watch.api.app import create_app
from ais_watch.api.tokens import create_token
from ais_watch.store import encounters
from ais_watch.store.schema import vessels
from ais_watch.zones import ZoneRegistry
from tests.helpers.cli import cli, jsonl
from tests.helpers.db import engine_on

pytestmark = pytest.mark.integration

LIMIT = 30  # seconds any one test may take
T0 = datetime(2024, 5, 1, tzinfo=UTC)
ANGARA, TANKER, COLLIER, KOMET, TRAMP = 273111111, 352222222, 636000003, 273222222, 412333333
ANGARA_IMO = 9179842
TANKER_NAME = 'TANKER <9> & "CO"'  # AIS text: shown as it came, never interpreted


def hours(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def encounter(a: int, b: int, start: float, end: float | None, **figures: Any) -> dict[str, Any]:
    last = end if end is not None else start + 2
    return {"mmsi_a": a, "mmsi_b": b, "start": hours(start), "end": hours(end) if end is not None else None,
            "last_together": hours(last), "duration_seconds": (last - start) * 3600, "min_distance_m": 310.0,
            "median_distance_m": 380.0, "median_speed_kn": 0.4, "lat": 41.5, "lon": 132.2,
            "shore_distance_nm": 45.3, "nearest_port": "Chongjin", "port_distance_nm": 60.1, "watched": True,
            **figures}


# Met and parted; still together (its partner never named); two others, a day later.
MET = encounter(ANGARA, TANKER, 0, 2.5)
ONGOING = encounter(TANKER, COLLIER, 10, None, watched=False, shore_distance_nm=None, nearest_port=None,
                    port_distance_nm=None)
LATER = encounter(KOMET, TRAMP, 30, 33, watched=False, lat=38.25, lon=124.75)


async def seed(db_url: str) -> None:
    async with engine_on(db_url) as engine, engine.begin() as conn:
        await conn.execute(vessels.insert(), [
            {"mmsi": ANGARA, "mmsi_valid": True, "name": "ANGARA", "imo": ANGARA_IMO, "flag": "RU"},
            {"mmsi": TANKER, "mmsi_valid": True, "name": TANKER_NAME, "imo": None, "flag": "PA"},
            {"mmsi": KOMET, "mmsi_valid": True, "name": "KOMET", "imo": None, "flag": "RU"},
            {"mmsi": TRAMP, "mmsi_valid": True, "name": "TRAMP", "imo": None, "flag": "CN"},
        ])
        await encounters.save(conn, [LATER, MET, ONGOING])  # stored out of order: listed by start


def pairs(items: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(i["mmsi_a"], i["mmsi_b"]) for i in items]


MET_PAIR, ONGOING_PAIR, LATER_PAIR = (ANGARA, TANKER), (TANKER, COLLIER), (KOMET, TRAMP)

# (filters, the encounters they select): the same for the CLI (--name) and the API (?name=).
FILTERS: list[tuple[dict[str, str], list[tuple[int, int]]]] = [
    ({}, [MET_PAIR, ONGOING_PAIR, LATER_PAIR]),
    ({"vessel": str(TANKER)}, [MET_PAIR, ONGOING_PAIR]),  # either side of the pair
    ({"vessel": str(COLLIER)}, [ONGOING_PAIR]),
    ({"vessel": f"IMO:{ANGARA_IMO}"}, [MET_PAIR]),
    ({"vessel": "273999999"}, []),
    ({"since": iso(hours(5)) or ""}, [ONGOING_PAIR, LATER_PAIR]),  # MET ended before; ONGOING has no end
    ({"since": iso(hours(2)) or ""}, [MET_PAIR, ONGOING_PAIR, LATER_PAIR]),  # MET still going at 02:00
    ({"until": iso(hours(5)) or ""}, [MET_PAIR]),
    ({"since": iso(hours(1)) or "", "until": iso(hours(1.5)) or ""}, [MET_PAIR]),  # inside MET
    ({"since": "2024-05-02T05:00:00+09:00", "until": iso(hours(40)) or ""}, [ONGOING_PAIR, LATER_PAIR]),
    ({"since": iso(hours(34)) or "", "vessel": str(KOMET)}, []),
]


def as_argv(filters: dict[str, str]) -> list[str]:
    return [arg for name, value in filters.items() for arg in (f"--{name}", value)]


# ------------------------------------------------------------------------------------------------- CLI
def test_cli_lists_every_encounter_with_both_names(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(db_url))
    code, out, err = cli(capsys, "--db", db_url, "encounters")
    assert code == 0, err
    items = jsonl(out)
    assert pairs(items) == [MET_PAIR, ONGOING_PAIR, LATER_PAIR]
    met, ongoing, _ = items
    assert tuple(met) == encounters.FIELDS
    assert (met["name_a"], met["imo_a"], met["flag_a"]) == ("ANGARA", ANGARA_IMO, "RU")
    assert (met["name_b"], met["flag_b"]) == (TANKER_NAME, "PA")
    assert met["start"] == "2024-05-01T00:00:00Z" and met["end"] == "2024-05-01T02:30:00Z"
    assert met["duration_seconds"] == 9000 and met["min_distance_m"] == 310 and met["median_speed_kn"] == 0.4
    assert (met["lat"], met["lon"], met["shore_distance_nm"]) == (41.5, 132.2, 45.3)
    assert (met["nearest_port"], met["port_distance_nm"], met["watched"]) == ("Chongjin", 60.1, True)
    # Still together: no end, last seen together; the partner no static report named.
    assert ongoing["end"] is None and ongoing["last_together"] == "2024-05-01T12:00:00Z"
    assert ongoing["name_b"] is None and ongoing["imo_b"] is None and ongoing["watched"] is False


@pytest.mark.parametrize(("filters", "expected"), FILTERS)
def test_cli_filters(db_url: str, capsys: pytest.CaptureFixture[str], filters: dict[str, str],
                     expected: list[tuple[int, int]]) -> None:
    asyncio.run(seed(db_url))
    code, out, err = cli(capsys, "--db", db_url, "encounters", *as_argv(filters))
    assert code == 0, err
    assert pairs(jsonl(out)) == expected


def test_cli_table_and_csv(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(db_url))
    code, out, err = cli(capsys, "--db", db_url, "encounters", "--vessel", str(ANGARA), "--format", "table")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["start", "end", "hours", "mmsi_a", "name_a", "mmsi_b", "name_b",
                              "min_distance_m", "median_speed_kn", "lat", "lon", "shore_distance_nm",
                              "nearest_port"]
    assert TANKER_NAME in row and "2.5" in row.split() and "Chongjin" in row

    code, out, err = cli(capsys, "--db", db_url, "encounters", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == encounters.FIELDS
    assert [(int(r["mmsi_a"]), int(r["mmsi_b"])) for r in rows] == [MET_PAIR, ONGOING_PAIR, LATER_PAIR]
    assert rows[0]["name_b"] == TANKER_NAME  # quotes and commas survive the round trip
    assert rows[1]["end"] == "" and rows[1]["name_b"] == ""  # None is an empty cell
    assert float(rows[2]["lat"]) == 38.25


@pytest.mark.parametrize(("argv", "says"), [
    (["--since", "yesterday"], "--since"),
    (["--until", "2024-13-01"], "--until"),
    (["--format", "kml"], "--format"),
])
def test_cli_bad_option_is_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str], argv: list[str],
                                    says: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "encounters", *argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ais-watch encounters: error: ") and says in err and argv[1] in err, err


@pytest.mark.parametrize(("argv", "says"), [
    (["--since", "2024-05-02T00:00Z", "--until", "2024-05-01T00:00Z"], "--since is after --until"),
    (["--vessel", "IMO:1234568"], "check digit"),
    (["--vessel", "12345"], "MMSI"),
])
def test_cli_bad_values_exit_2_with_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str],
                                             argv: list[str], says: str) -> None:
    code, out, err = cli(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "encounters", *argv)
    assert (code, out) == (2, "")
    lines = [line for line in err.splitlines() if "ais-watch: error:" in line]
    assert len(lines) == 1 and says in lines[0], err


# ------------------------------------------------------------------------------------------------- API
@pytest.fixture
async def client(db_url: str) -> AsyncIterator[tuple[test_utils.TestClient, dict[str, str]]]:
    """A test server on the seeded store, and a viewer's Authorization header."""
    async with asyncio.timeout(LIMIT):
        await seed(db_url)
    async with engine_on(db_url) as engine:
        token = await create_token(engine, "viewer", "wall")
        test_client = test_utils.TestClient(test_utils.TestServer(create_app(engine, ZoneRegistry([]))))
        await test_client.start_server()
        try:
            yield test_client, {"Authorization": f"Bearer {token}"}
        finally:
            await test_client.close()


async def get(client: tuple[test_utils.TestClient, dict[str, str]], **params: str) -> aiohttp.ClientResponse:
    test_client, auth = client
    return await test_client.get("/api/encounters", params=params, headers=auth)


async def test_api_lists_encounters_with_both_names(client: tuple[test_utils.TestClient, dict[str, str]]
                                                    ) -> None:
    async with asyncio.timeout(LIMIT):
        response = await get(client)
        assert response.status == 200, await response.text()
        found = (await response.json())["encounters"]
        assert pairs(found) == [MET_PAIR, ONGOING_PAIR, LATER_PAIR]
        met, ongoing, _ = found
        assert tuple(met) == encounters.FIELDS
        assert (met["name_a"], met["name_b"], met["imo_a"]) == ("ANGARA", TANKER_NAME, ANGARA_IMO)
        assert met["start"] == "2024-05-01T00:00:00Z" and met["end"] == "2024-05-01T02:30:00Z"
        assert (met["duration_seconds"], met["min_distance_m"], met["median_distance_m"]) == (9000, 310, 380)
        assert (met["nearest_port"], met["port_distance_nm"], met["shore_distance_nm"]) == ("Chongjin", 60.1,
                                                                                          45.3)
        assert ongoing["end"] is None and ongoing["name_b"] is None
        # A limit keeps the oldest.
        assert pairs((await (await get(client, limit="2")).json())["encounters"]) == [MET_PAIR, ONGOING_PAIR]
        # No token, no data.
        response = await client[0].get("/api/encounters")
        assert response.status == 401


@pytest.mark.parametrize(("filters", "expected"), FILTERS)
async def test_api_filters(client: tuple[test_utils.TestClient, dict[str, str]], filters: dict[str, str],
                           expected: list[tuple[int, int]]) -> None:
    async with asyncio.timeout(LIMIT):
        response = await get(client, **filters)
        assert response.status == 200, await response.text()
        assert pairs((await response.json())["encounters"]) == expected


@pytest.mark.parametrize(("params", "says"), [
    ({"since": "yesterday"}, "since"),
    ({"since": "2024-05-02T00:00Z", "until": "2024-05-01T00:00Z"}, "since is after until"),
    ({"since": "2020-01-01", "until": "2024-01-01"}, "range"),
    ({"vessel": "IMO:1234568"}, "check digit"),
    ({"vessel": "abc"}, "MMSI"),
    ({"limit": "0"}, "limit"),
    ({"limit": "10001"}, "limit"),
])
async def test_api_bad_input_is_a_400(client: tuple[test_utils.TestClient, dict[str, str]],
                                      params: dict[str, str], says: str) -> None:
    async with asyncio.timeout(LIMIT):
        response = await get(client, **params)
        assert response.status == 400, await response.text()
        assert says.lower() in (await response.json())["error"].lower()
