"""`track --format parquet` and the API's `format=parquet`: GeoParquet read back with a real reader
(pyarrow), its `geo` metadata checked against the GeoParquet 1.1 specification and its WKB decoded by
shapely, point by point, against the positions that went in."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from aiohttp import test_utils

from ais_watch.api.app import create_app
from ais_watch.api.tokens import create_token
from ais_watch.clock import ReplayClock
from ais_watch.config import load_settings
from ais_watch.runtime import running_pipeline
from ais_watch.store.db import open_database
from ais_watch.track_format import PARQUET_MEDIA_TYPE, GeoParquetTrack
from ais_watch.zones import ZoneRegistry
from tests.helpers.cli import cli
from tests.helpers.reports import make_position

START = datetime(2023, 9, 12, 14, 0, tzinfo=UTC)
ANGARA = 273355410
COLUMNS = ["mmsi", "time", "lat", "lon", "sog", "cog", "heading", "nav_status", "source", "segment",
           "anomaly", "geometry"]


def stored(minute: int, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    """A position as the store returns it."""
    return {"mmsi": ANGARA, "time": START + timedelta(minutes=minute), "lat": lat, "lon": lon, "sog": 11.5,
            "cog": 210.0, "heading": None, "nav_status": 0, "source": "replay:x", "segment": 7,
            "anomaly": None, **extra}


def read_back(data: bytes | Path) -> tuple[pa.Table, dict[str, Any]]:
    """The table and its `geo` metadata, read as GeoPandas reads them (pyarrow, the schema's metadata)."""
    source = pa.BufferReader(data) if isinstance(data, bytes) else data
    table = pq.read_table(source)
    return table, json.loads(table.schema.metadata[b"geo"])


def assert_geoparquet(table: pa.Table, geo: dict[str, Any]) -> None:
    """What GeoParquet 1.1 asks of the file's metadata and its geometry column."""
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    # No "crs": the specification's default, OGC:CRS84 (longitude, latitude on WGS 84).
    assert "crs" not in column
    assert table.schema.field("geometry").type == pa.binary()
    points = shapely.from_wkb(table.column("geometry").to_pylist())
    assert all(p.geom_type == "Point" for p in points)
    assert [(p.x, p.y) for p in points] == list(zip(table.column("lon").to_pylist(),
                                                    table.column("lat").to_pylist(), strict=True))
    if len(points):
        assert column["geometry_types"] == ["Point"]
        xs, ys = [p.x for p in points], [p.y for p in points]
        assert column["bbox"] == [min(xs), min(ys), max(xs), max(ys)]


# ---------------------------------------------------------------------------------------------- unit
@pytest.mark.unit
def test_positions_come_back_as_points_with_their_fields() -> None:
    parquet = GeoParquetTrack()
    rows = [stored(0, 42.25, 130.9), stored(10, 42.0, 131.2, heading=205, sog=None),
            stored(20, 41.8, 131.5, anomaly="impossible_speed", segment=8, nav_status=None)]
    for row in rows:
        parquet.add(row)
    table, geo = read_back(parquet.to_bytes())
    assert table.column_names == COLUMNS
    assert_geoparquet(table, geo)
    assert geo["columns"]["geometry"]["bbox"] == [130.9, 41.8, 131.5, 42.25]
    got = table.drop_columns(["geometry"]).to_pylist()
    assert got == rows  # times come back as the same UTC instants, nulls as None
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    # The first point is the first position, longitude first (x, y) as WKB has it.
    assert shapely.from_wkb(table.column("geometry")[0].as_py()).wkt == "POINT (130.9 42.25)"


@pytest.mark.unit
def test_a_track_longer_than_a_row_group_keeps_every_point_and_one_bbox() -> None:
    parquet = GeoParquetTrack()
    count = 70_000  # past the 65,536 rows of a row group
    for i in range(count):
        parquet.add(stored(i, 40.0 + i / 100_000, 130.0 - i / 100_000))
    data = parquet.to_bytes()
    table, geo = read_back(data)
    assert table.num_rows == count and pq.ParquetFile(pa.BufferReader(data)).num_row_groups == 2
    assert geo["columns"]["geometry"]["bbox"] == [130.0 - (count - 1) / 100_000, 40.0, 130.0,
                                                  40.0 + (count - 1) / 100_000]
    last = shapely.from_wkb(table.column("geometry")[count - 1].as_py())
    assert (last.x, last.y) == (130.0 - (count - 1) / 100_000, 40.0 + (count - 1) / 100_000)


@pytest.mark.unit
def test_an_empty_track_is_a_valid_empty_file() -> None:
    table, geo = read_back(GeoParquetTrack().to_bytes())
    assert table.num_rows == 0 and table.column_names == COLUMNS
    assert geo["columns"]["geometry"]["geometry_types"] == [] and "bbox" not in geo["columns"]["geometry"]


# -------------------------------------------------------------------------------------- CLI and API
async def fill(db_url: str) -> None:
    settings = load_settings(environ={"AIS_WATCH_DB": db_url})
    async with running_pipeline(settings, ReplayClock(), periodic_flush=False, deliver=False,
                                detectors=False) as runtime:
        for minute in range(5):
            await runtime.pipeline.submit(make_position(ANGARA, START + timedelta(minutes=minute),
                                                        42.2 + minute / 100, 130.9 + minute / 100))


@pytest.mark.integration
def test_track_format_parquet_writes_geoparquet(db_url: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(fill(db_url))
    out = tmp_path / "angara.parquet"
    code, stdout, err = cli(capsys, "--db", db_url, "track", str(ANGARA), "--format", "parquet",
                            "--output", str(out))
    assert code == 0 and stdout == "", err
    table, geo = read_back(out)
    assert_geoparquet(table, geo)
    assert table.column("time").to_pylist() == [START + timedelta(minutes=m) for m in range(5)]
    assert table.column("lat").to_pylist() == pytest.approx([42.2 + m / 100 for m in range(5)])
    assert not list(tmp_path.glob("*.partial"))
    # The other side: jsonl to the same kind of file is text, one object a line.
    code, _, err = cli(capsys, "--db", db_url, "track", str(ANGARA), "--output", str(tmp_path / "a.jsonl"))
    assert code == 0, err
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 5


@pytest.mark.integration
def test_track_output_to_a_missing_folder_is_one_line(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, _, err = cli(capsys, "--db", url, "track", str(ANGARA), "--format", "parquet", "--output",
                       str(tmp_path / "no" / "such" / "t.parquet"))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"ais-watch: error: --output {tmp_path / 'no' / 'such' / 't.parquet'}: ")


@pytest.mark.integration
async def test_the_api_track_in_parquet_pages_by_cursor(db_url: str) -> None:
    async with asyncio.timeout(30):
        await fill(db_url)
        engine = await open_database(db_url)
        client = test_utils.TestClient(test_utils.TestServer(create_app(engine, ZoneRegistry([]))))
        try:
            token = await create_token(engine, "viewer", "analyst")
            await client.start_server()
            headers = {"Authorization": f"Bearer {token}"}
            times: list[datetime] = []
            params = {"format": "parquet", "limit": "3"}
            for _ in range(3):
                response = await client.get(f"/api/vessels/{ANGARA}/track", params=params, headers=headers)
                assert response.status == 200, await response.text()
                assert response.content_type == PARQUET_MEDIA_TYPE
                table, geo = read_back(await response.read())
                assert_geoparquet(table, geo)
                times += table.column("time").to_pylist()
                cursor = response.headers.get("X-Next-Cursor")
                if cursor is None:
                    break
                params["cursor"] = cursor
            assert times == [START + timedelta(minutes=m) for m in range(5)]
            response = await client.get(f"/api/vessels/{ANGARA}/track", params={"format": "xml"},
                                        headers=headers)
            assert response.status == 400 and "parquet" in (await response.json())["error"]
        finally:
            await client.close()
            await engine.dispose()


@pytest.mark.unit
def test_parquet_to_a_terminal_is_refused(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Binary on a terminal garbles it: refused before the database is opened (the other side, a file or a
    pipe, is the test above)."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, err = cli(capsys, "--db", "sqlite:////nonexistent/x.db", "track", str(ANGARA), "--format",
                         "parquet")
    assert (code, out) == (2, "")
    assert err == ("ais-watch: error: --format parquet is binary: give --output FILE or redirect it to a "
                   "file\n")
