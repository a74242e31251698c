"""What the API and the CLI show of position integrity and identity: a track is the believed positions
(the main segment) unless all segments are asked for, each position with its `segment` and `anomaly`, in
every format; the zone and gap queries use the believed positions only; `/api/vessels/{mmsi}/identity`
tells a rename, a new MMSI and a new flag under one IMO as one story.

The database is seeded directly (positions with their segment and mark, vessel rows, identity history):
these tests are about the query and API layer, not about what the segmenter decides.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import test_utils
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import iso
from ais_watch.api.app import create_app
from ais_watch.api.tokens import create_token
from ais_watch.store.schema import identity_history, vessels
from ais_watch.zones import ZoneRegistry
from tests.helpers.cli import cli, jsonl
from tests.helpers.db import engine_on, insert_positions

pytestmark = pytest.mark.integration

LIMIT = 30  # seconds any one test may take
T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
IMO = 9179842
ANGARA, MARIA, OLD_IMO, OTHER, DARK, MOORED, UNKNOWN = (273111111, 620999999, 273222222, 636012345,
                                                       273333333, 273444444, 211000001)
MAIN, SPOOF = 1714543200, 1714543320  # segment ids: epoch seconds of their first fix
RAJIN = (42.2405, 130.3058)  # inside the kp-rajin geofence
SEA = (42.90, 133.90)  # off Nakhodka, hundreds of miles from Rajin
# ANGARA's track: (minute, lat, lon, segment, anomaly). Two spoofed fixes at Rajin, one on land.
ANGARA_FIXES = [
    (0, SEA[0], SEA[1], MAIN, None),
    (1, SEA[0] + 0.01, SEA[1], MAIN, None),
    (2, *RAJIN, SPOOF, "impossible_speed"),
    (3, RAJIN[0] + 0.001, RAJIN[1], SPOOF, "impossible_speed"),
    (4, SEA[0] + 0.03, SEA[1], MAIN, None),
    (5, 43.50, 134.20, MAIN, "on_land"),
    (6, SEA[0] + 0.04, SEA[1], MAIN, None),
]
BELIEVED = [f for f in ANGARA_FIXES if f[4] is None]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return iso(at(minutes)) or ""


def position_row(mmsi: int, minute: float, lat: float, lon: float, segment: int,
                 anomaly: str | None) -> dict[str, Any]:
    return {"mmsi": mmsi, "time": at(minute), "lat": lat, "lon": lon, "sog": 11.0, "cog": 45.0,
            "heading": 45, "nav_status": 0, "segment": segment, "anomaly": anomaly}


def vessel_row(mmsi: int, name: str, imo: int | None, flag: str, first: float, last: float) -> dict[str, Any]:
    return {"mmsi": mmsi, "mmsi_valid": True, "flag": flag, "name": name, "call_sign": f"C{mmsi % 1000}",
            "imo": imo, "ship_type": 80, "draught": 9.8, "destination": "NAKHODKA", "first_seen": at(first),
            "last_seen": at(last), "last_lat": SEA[0], "last_lon": SEA[1], "segment": MAIN}


def history_row(mmsi: int, field: str, old: str | None, new: str, minute: float) -> dict[str, Any]:
    return {"mmsi": mmsi, "field": field, "old_value": old, "new_value": new, "time": at(minute),
            "source": "test"}


DAY = 24 * 60
HISTORY = [
    history_row(ANGARA, "name", None, "ANGARA", 0),
    history_row(ANGARA, "imo", None, str(IMO), 0),
    history_row(ANGARA, "draught", "6.1", "9.8", 60),
    # The same hull comes back under another MMSI (another flag) and a new name, then renames again.
    history_row(MARIA, "name", None, "MARIA", 3 * DAY),
    history_row(MARIA, "imo", None, str(IMO), 3 * DAY),
    history_row(MARIA, "name", "MARIA", "MARIA 1", 4 * DAY),
    # An MMSI that sent the IMO once, then another one: it broadcast the IMO, so it belongs to the story.
    history_row(OLD_IMO, "imo", None, str(IMO), -DAY),
    history_row(OLD_IMO, "imo", str(IMO), "9074729", -DAY + 30),
    history_row(OTHER, "name", None, "BALTIC TRADER", 0),
]


async def seed(engine: AsyncEngine) -> None:
    rows = [position_row(ANGARA, *fix) for fix in ANGARA_FIXES]
    # DARK: silent three hours, but a spoofed fix in the middle of the silence.
    rows += [position_row(DARK, 0, *SEA, MAIN, None),
             position_row(DARK, 90, *RAJIN, SPOOF, "impossible_speed"),
             position_row(DARK, 180, *SEA, MAIN, None)]
    rows += [position_row(MOORED, minute, *RAJIN, MAIN, None) for minute in (0, 10)]  # really at Rajin
    await insert_positions(engine, rows)
    async with engine.begin() as conn:
        await conn.execute(vessels.insert(), [
            vessel_row(ANGARA, "ANGARA", IMO, "RU", 0, 2 * DAY),
            vessel_row(MARIA, "MARIA 1", IMO, "KM", 3 * DAY, 5 * DAY),
            vessel_row(OLD_IMO, "SOMEONE ELSE", 9074729, "RU", -2 * DAY, DAY),
            vessel_row(OTHER, "BALTIC TRADER", 9321483, "LR", 0, DAY),
            vessel_row(DARK, "DARK", None, "RU", 0, 180),
            vessel_row(MOORED, "MOORED", None, "RU", 0, 10),
        ])
        await conn.execute(identity_history.insert(), HISTORY)


class Api:
    def __init__(self, client: test_utils.TestClient, token: str) -> None:
        self.client, self.token = client, token

    async def get(self, path: str, status: int = 200, **params: str) -> Any:
        auth = {"Authorization": f"Bearer {self.token}"}
        response = await self.client.get(path, params=params, headers=auth)
        assert response.status == status, (path, params, response.status, await response.text())
        return await response.text() if response.content_type == "text/csv" else await response.json()


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with asyncio.timeout(LIMIT), engine_on(db_url) as engine:
        await seed(engine)
        token = await create_token(engine, "viewer", "analyst")
        server = test_utils.TestServer(create_app(engine, ZoneRegistry([])))
        async with test_utils.TestClient(server) as client:
            yield Api(client, token)


def track_path(mmsi: int = ANGARA) -> str:
    return f"/api/vessels/{mmsi}/track"


# ------------------------------------------------------------------------------------------ track
async def test_track_is_the_believed_positions_unless_all_segments(api: Api) -> None:
    default = await api.get(track_path())
    assert [(p["time"], p["segment"], p["anomaly"]) for p in default["points"]] == \
        [(stamp(m), MAIN, None) for m, *_ in BELIEVED]
    assert await api.get(track_path(), all_segments="false") == default
    assert [p["lat"] for p in default["points"]] == [pytest.approx(f[1]) for f in BELIEVED]

    every = await api.get(track_path(), all_segments="true")
    assert [(p["time"], p["segment"], p["anomaly"]) for p in every["points"]] == \
        [(stamp(m), segment, anomaly) for m, _, _, segment, anomaly in ANGARA_FIXES]
    assert await api.get(track_path(), all_segments="1") == every
    error = await api.get(track_path(), 400, all_segments="maybe")
    assert "all_segments" in error["error"]


async def test_track_geojson_is_a_believed_line_with_the_marked_fixes_as_points(api: Api) -> None:
    default = await api.get(track_path(), format="geojson")
    (line,) = default["features"]
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"] == [[pytest.approx(lon), pytest.approx(lat)]
                                               for _, lat, lon, *_ in BELIEVED]
    assert line["properties"]["coordTimes"] == [stamp(m) for m, *_ in BELIEVED]
    assert line["properties"]["segments"] == [MAIN] * len(BELIEVED)
    assert default["next_cursor"] is None

    every = await api.get(track_path(), format="geojson", all_segments="true")
    line_again, *points = every["features"]
    assert line_again == line, "the line is the believed track whatever is asked"
    marked = [f for f in ANGARA_FIXES if f[4] is not None]
    assert [(p["geometry"]["type"], p["properties"]["time"], p["properties"]["anomaly"],
             p["properties"]["segment"], p["properties"]["mmsi"]) for p in points] == \
        [("Point", stamp(m), anomaly, segment, ANGARA) for m, _, _, segment, anomaly in marked]
    assert points[0]["geometry"]["coordinates"] == [pytest.approx(RAJIN[1]), pytest.approx(RAJIN[0])]


async def test_track_pages_of_marked_fixes_only_still_carry_the_cursor(api: Api) -> None:
    """Two a page, all segments: the second page holds the two spoofed fixes and no line at all."""
    seen: list[tuple[str, str | None]] = []
    params = {"format": "geojson", "all_segments": "true", "limit": "2"}
    for _ in range(len(ANGARA_FIXES)):
        page = await api.get(track_path(), **params)
        for feature in page["features"]:
            props = feature["properties"]
            if feature["geometry"]["type"] == "LineString":
                seen += [(t, None) for t in props["coordTimes"]]
                assert props["next_cursor"] == page["next_cursor"]
            else:
                seen.append((props["time"], props["anomaly"]))
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == [(stamp(m), anomaly) for m, *_, anomaly in ANGARA_FIXES]


async def test_track_csv_has_segment_and_anomaly_columns(api: Api) -> None:
    for all_segments, fixes in (("false", BELIEVED), ("true", ANGARA_FIXES)):
        text = await api.get(track_path(), format="csv", all_segments=all_segments)
        header, *rows = list(csv.reader(io.StringIO(text)))
        assert header == ["mmsi", "time", "lat", "lon", "sog", "cog", "heading", "nav_status", "source",
                          "segment", "anomaly"]
        assert [(r[1], r[9], r[10]) for r in rows] == \
            [(stamp(m), str(segment), anomaly or "") for m, _, _, segment, anomaly in fixes]


async def test_thinning_keeps_every_marked_fix(api: Api) -> None:
    thinned = await api.get(track_path(), every="180")
    assert [p["time"] for p in thinned["points"]] == [stamp(0), stamp(4)]
    every = await api.get(track_path(), every="180", all_segments="true")
    assert [(p["time"], p["anomaly"]) for p in every["points"]] == [
        (stamp(0), None), (stamp(2), "impossible_speed"), (stamp(3), "impossible_speed"), (stamp(4), None),
        (stamp(5), "on_land")]


async def test_zone_and_gap_queries_use_the_believed_positions(api: Api) -> None:
    window = {"since": stamp(-60), "until": stamp(240)}
    inside = await api.get("/api/zones/kp-rajin/vessels", **window)
    assert [v["mmsi"] for v in inside["vessels"]] == [MOORED], "spoofed fixes at Rajin put no ship there"
    panel = await api.get(f"/api/vessels/{DARK}")
    assert [(g["from"], g["to"]) for g in panel["gaps"]] == [(stamp(0), stamp(180))], \
        "a spoofed fix does not end a silence"


# --------------------------------------------------------------------------------------- identity
async def test_identity_tells_the_new_mmsi_and_name_under_one_imo(api: Api) -> None:
    body = await api.get(f"/api/vessels/{MARIA}/identity")
    assert body["mmsi"] == MARIA and body["imos"] == [IMO]
    identity = body["identity"]
    assert (identity["name"], identity["imo"], identity["flag"], identity["call_sign"]) == \
        ("MARIA 1", IMO, "KM", "C999")
    assert identity["last_seen"] == stamp(5 * DAY)
    # Newest first; two changes heard in one message, the one recorded last first.
    assert [(h["field"], h["old_value"], h["new_value"], h["time"]) for h in body["history"]] == [
        ("name", "MARIA", "MARIA 1", stamp(4 * DAY)), ("imo", None, str(IMO), stamp(3 * DAY)),
        ("name", None, "MARIA", stamp(3 * DAY))]
    times = [h["time"] for h in body["history"]]
    assert times == sorted(times, reverse=True), "newest first"

    # The other MMSIs that broadcast the IMO, latest heard first, each with its own story.
    others = body["same_imo"]
    assert [o["mmsi"] for o in others] == [ANGARA, OLD_IMO]
    angara = others[0]
    assert (angara["name"], angara["flag"], angara["imo"], angara["imos"]) == ("ANGARA", "RU", IMO, [IMO])
    assert (angara["first_seen"], angara["last_seen"]) == (stamp(0), stamp(2 * DAY))
    assert [(h["field"], h["new_value"]) for h in angara["history"]] == \
        [("draught", "9.8"), ("imo", str(IMO)), ("name", "ANGARA")]
    assert others[1]["imo"] == 9074729 and others[1]["imos"] == [IMO]  # it broadcast it once

    # From the old MMSI the story is the same, told the other way round.
    old = await api.get(f"/api/vessels/{ANGARA}/identity")
    assert [o["mmsi"] for o in old["same_imo"]] == [MARIA, OLD_IMO]
    assert old["same_imo"][0]["name"] == "MARIA 1" and old["same_imo"][0]["flag"] == "KM"
    # A ship with its own IMO has no one else in its story.
    other = await api.get(f"/api/vessels/{OTHER}/identity")
    assert other["same_imo"] == [] and [h["new_value"] for h in other["history"]] == ["BALTIC TRADER"]


async def test_identity_of_an_unknown_or_malformed_mmsi(api: Api) -> None:
    missing = await api.get(f"/api/vessels/{UNKNOWN}/identity", 404)
    assert str(UNKNOWN) in missing["error"]
    for bad in ("12345", "abcdefghi", "2733501400"):
        assert "MMSI" in (await api.get(f"/api/vessels/{bad}/identity", 400))["error"]
    response = await api.client.get(f"/api/vessels/{MARIA}/identity")
    assert response.status == 401, "a token is needed, as for every vessel route"


# -------------------------------------------------------------------------------------------- CLI
def test_cli_track_main_segment_or_all_segments(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def seeded() -> None:
        async with engine_on(db_url) as engine:
            await seed(engine)

    asyncio.run(seeded())
    code, out, err = cli(capsys, "--db", db_url, "track", str(ANGARA))
    assert code == 0, err
    assert [(r["time"], r["segment"], r["anomaly"]) for r in jsonl(out)] == \
        [(stamp(m), MAIN, None) for m, *_ in BELIEVED]
    code, out, err = cli(capsys, "--db", db_url, "track", str(ANGARA), "--all-segments")
    assert code == 0, err
    assert [(r["mmsi"], r["time"], r["segment"], r["anomaly"]) for r in jsonl(out)] == \
        [(ANGARA, stamp(m), segment, anomaly) for m, _, _, segment, anomaly in ANGARA_FIXES]

    code, out, _ = cli(capsys, "--db", db_url, "track", str(ANGARA), "--all-segments", "--format", "csv")
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header[-2:] == ["segment", "anomaly"] and len(rows) == len(ANGARA_FIXES)
    assert [r[-1] for r in rows] == [f[4] or "" for f in ANGARA_FIXES]

    # IMO:... follows every MMSI that sent it; only ANGARA has positions. The line is the believed
    # track, each marked fix a Point of its own.
    code, out, _ = cli(capsys, "--db", db_url, "track", f"IMO:{IMO}", "--all-segments", "--format", "geojson")
    assert code == 0
    line, *points = json.loads(out)["features"]
    assert line["geometry"]["type"] == "LineString" and line["properties"]["mmsi"] == ANGARA
    assert line["properties"]["coordTimes"] == [stamp(m) for m, *_ in BELIEVED]
    assert line["properties"]["segments"] == [MAIN] * len(BELIEVED)
    assert [(p["geometry"]["type"], p["properties"]["time"], p["properties"]["anomaly"]) for p in points] == \
        [("Point", stamp(m), anomaly) for m, *_, anomaly in ANGARA_FIXES if anomaly is not None]
    code, out, _ = cli(capsys, "--db", db_url, "track", str(ANGARA), "--format", "geojson")
    assert [f["geometry"]["type"] for f in json.loads(out)["features"]] == ["LineString"]
