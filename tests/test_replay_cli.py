"""`ais-watch replay` and `ais-watch track` end to end: real recordings in, the database, the printed output.

Expected figures come from outside the code under test: the counts SOURCES.md documents for the bundled
recording, and an independent pass over the same file with pyais alone (no framing, no pipeline).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import gzip
import io
import itertools
import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pyais.stream import IterMessages
from sqlalchemy import text

from ais_watch.cli import main
from tests.helpers.aisstream import position_report, ship_static_data
from tests.helpers.cli import cli, jsonl, summary_value
from tests.helpers.db import fetch
from tests.helpers.nmea import tagged
from tests.helpers.paths import DEMO_DATA

DEMO = DEMO_DATA / "dma-tagblock-pghp-2013.nmea.gz"
# Documented in ais_watch/data/demo/SOURCES.md for this file.
DEMO_LINES, DEMO_MESSAGES = 80_246, 26_077
DEMO_START, DEMO_END = datetime(2013, 11, 12, 12, 0, tzinfo=UTC), datetime(2013, 11, 12, 12, 6, tzinfo=UTC)
FIELDS = ["mmsi", "time", "lat", "lon", "sog", "cog", "heading", "nav_status", "source", "segment", "anomaly"]


# ------------------------------------------------------------------------------------ helpers
def imo_check_digit_ok(imo: int) -> bool:
    digits = [int(d) for d in f"{imo:07d}"]
    weighted = sum(d * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True))
    return imo >= 1_000_000 and weighted % 10 == digits[6]


@dataclass
class DemoTruth:
    tracks: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # mmsi -> fixes, file order
    imo_of: dict[int, int] = field(default_factory=dict)  # from type 5 with a valid IMO
    vessels: set[int] = field(default_factory=set)  # MMSIs with a usable position or static report

    @property
    def positions(self) -> int:
        return sum(len(t) for t in self.tracks.values())


@functools.cache
def demo_truth() -> DemoTruth:
    """pyais alone over the recording's AIS sentences (PGHP lines and tag blocks left out)."""
    with gzip.open(DEMO) as fh:
        sentences = [line.strip() for line in fh if line.startswith(b"!")]
    truth = DemoTruth()
    for message in IterMessages(sentences):
        msg = message.decode()
        if msg.msg_type in (1, 2, 3, 18, 19, 27):
            lat, lon = msg.lat, msg.lon
            if -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0):
                truth.tracks.setdefault(msg.mmsi, []).append((lat, lon))
                truth.vessels.add(msg.mmsi)
        elif msg.msg_type in (5, 24):
            truth.vessels.add(msg.mmsi)
            if msg.msg_type == 5 and msg.imo and imo_check_digit_ok(msg.imo):
                truth.imo_of[msg.mmsi] = msg.imo
    return truth


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    rows = asyncio.run(asyncio.wait_for(fetch(url, text(sql), **params), 30))
    return [tuple(r) for r in rows]


def utc_time(value: str) -> datetime:
    assert value.endswith(("Z", "+00:00")), f"not marked as UTC: {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0
    return parsed


# ----------------------------------------------------------------------- the bundled recording
@pytest.mark.integration
def test_replay_the_demo_recording_then_track(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    truth = demo_truth()
    code, out, err = cli(capsys, "--db", db_url, "replay", str(DEMO), "--no-progress")
    assert code == 0, err
    assert "replay finished" in out
    assert summary_value(out, "lines") == DEMO_LINES
    assert summary_value(out, "messages") == DEMO_MESSAGES
    stored = summary_value(out, "positions stored")
    assert stored == truth.positions
    assert summary_value(out, "vessels") == len(truth.vessels)
    assert query(db_url, "SELECT count(*) FROM positions") == [(stored,)]
    assert query(db_url, "SELECT count(DISTINCT mmsi) FROM positions") == [(len(truth.tracks),)]

    # ---- track one vessel, jsonl: one object per stored fix, oldest first
    mmsi = max(truth.tracks, key=lambda m: len(truth.tracks[m]))
    code, out, err = cli(capsys, "--db", db_url, "track", str(mmsi), "--format", "jsonl")
    assert code == 0, err
    rows = jsonl(out)
    assert len(rows) == len(truth.tracks[mmsi]) > 100
    assert all(list(r) == FIELDS for r in rows), rows[0]
    assert {r["mmsi"] for r in rows} == {mmsi}
    times = [utc_time(r["time"]) for r in rows]
    assert times == sorted(times)
    assert times[0] >= DEMO_START and times[-1] < DEMO_END
    assert Counter((round(r["lat"], 6), round(r["lon"], 6)) for r in rows) == Counter(
        (round(lat, 6), round(lon, 6)) for lat, lon in truth.tracks[mmsi])
    assert {r["source"] for r in rows} == {f"replay:{DEMO.name}"}
    assert all(isinstance(r["sog"], float | None) and isinstance(r["heading"], int | None) for r in rows)

    # ---- --since / --until (inclusive)
    since, until = rows[10]["time"], rows[40]["time"]
    expected = [r for r in rows if utc_time(since) <= utc_time(r["time"]) <= utc_time(until)]
    code, out, _ = cli(capsys, "--db", db_url, "track", str(mmsi), "--since", since, "--until", until)
    assert code == 0
    assert jsonl(out) == expected and len(expected) >= 31
    in_korea = utc_time(since).astimezone(timezone(timedelta(hours=9))).isoformat()  # same instant
    code, out, _ = cli(capsys, "--db", db_url, "track", str(mmsi), "--since", in_korea, "--until", until)
    assert jsonl(out) == expected
    code, out, _ = cli(capsys, "--db", db_url, "track", str(mmsi), "--since", since)
    assert jsonl(out) == [r for r in rows if utc_time(r["time"]) >= utc_time(since)]
    naive_until = utc_time(until).replace(tzinfo=None).isoformat()  # no offset: taken as UTC
    code, out, _ = cli(capsys, "--db", db_url, "track", str(mmsi), "--until", naive_until)
    assert jsonl(out) == [r for r in rows if utc_time(r["time"]) <= utc_time(until)]
    code, _, err = cli(capsys, "--db", db_url, "track", str(mmsi), "--since", until, "--until", since)
    assert code == 2 and "--since" in err

    # ---- csv: the same rows under the documented header
    code, out, _ = cli(capsys, "--db", db_url, "track", str(mmsi), "--format", "csv")
    assert code == 0
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == FIELDS
    assert len(table) == len(rows) + 1
    assert [r[:2] for r in table[1:]] == [[str(mmsi), r["time"]] for r in rows]
    assert [float(r[2]) for r in table[1:]] == [r["lat"] for r in rows]
    assert [r[7] for r in table[1:]] == ["" if r["nav_status"] is None else str(r["nav_status"])
                                         for r in rows]

    # ---- geojson: one LineString through the same fixes, [lon, lat]
    code, out, _ = cli(capsys, "--db", db_url, "track", str(mmsi), "--format", "geojson")
    assert code == 0
    geo = json.loads(out)
    assert geo["type"] == "FeatureCollection"
    assert len(geo["features"]) == 1
    geometry = geo["features"][0]["geometry"]
    assert geometry["type"] == "LineString"
    assert geometry["coordinates"] == [[r["lon"], r["lat"]] for r in rows]
    properties = geo["features"][0]["properties"]
    assert properties["mmsi"] == mmsi
    assert properties["coordTimes"] == [r["time"] for r in rows]
    assert properties["sog"] == [r["sog"] for r in rows] and properties["cog"] == [r["cog"] for r in rows]
    lone = next(m for m, fixes in truth.tracks.items() if len(fixes) == 1)
    code, out, _ = cli(capsys, "--db", db_url, "track", str(lone), "--format", "geojson")
    (feature,) = json.loads(out)["features"]
    assert feature["geometry"]["type"] == "Point"
    lat, lon = truth.tracks[lone][0]
    assert feature["geometry"]["coordinates"] == [lon, lat]

    # ---- by IMO: a vessel whose type 5 message is in the recording
    imo_mmsi = max(truth.imo_of, key=lambda m: len(truth.tracks.get(m, [])))
    imo = truth.imo_of[imo_mmsi]
    assert truth.tracks.get(imo_mmsi), "the recording should hold positions of a type 5 sender"
    code, out, err = cli(capsys, "--db", db_url, "track", f"IMO:{imo}")
    assert code == 0, err
    by_imo = jsonl(out)
    assert {r["mmsi"] for r in by_imo} == {imo_mmsi}
    assert len(by_imo) == len(truth.tracks[imo_mmsi])
    assert query(db_url, "SELECT name IS NOT NULL, imo FROM vessels WHERE mmsi = :m",
                 m=imo_mmsi) == [(True, imo)]


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("argv", "says"), [
    (["track", "12345"], "MMSI"),
    (["track", "2730000001"], "MMSI"),  # 10 digits
    (["track", "IMO:9179843"], "check digit"),  # 9179842 is valid: 9*7+1*6+7*5+9*4+8*3+4*2 = 172
    (["track", "IMO:917984"], "7 digits"),
    (["track", "SEA STAR"], "MMSI"),
    (["replay", "/no/such/recording.nmea"], "/no/such/recording.nmea"),
    (["replay", str(DEMO), "--speed", "0"], "--speed"),
    (["replay", str(DEMO), "--speed", "-2"], "--speed"),
])
@pytest.mark.integration
def test_bad_arguments_exit_2_with_a_message(argv: list[str], says: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", *argv)
    assert code == 2
    assert err.startswith("ais-watch: error: ") and says in err, err
    assert "Traceback" not in err
    assert out == ""


@pytest.mark.integration
def test_imo_1234567_has_a_valid_check_digit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1*7+2*6+3*5+4*4+5*3+6*2 = 77, last digit 7: a well-formed IMO that is simply not in the store."""
    assert imo_check_digit_ok(1234567)
    code, out, err = cli(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "track", "IMO:1234567")
    assert (code, out) == (0, ""), err


@pytest.mark.unit
def test_unparseable_option_values_are_usage_errors(tmp_path: Path) -> None:
    for argv in (["replay", str(DEMO), "--speed", "fast"], ["track", "273355410", "--since", "yesterday"],
                 ["track", "273355410", "--format", "kml"]):
        with pytest.raises(SystemExit) as info:
            main(["--db", f"sqlite:///{tmp_path / 'x.db'}", *argv])
        assert info.value.code == 2


@pytest.mark.parametrize(("content", "says"), [
    ("[store]\nbatch_size = 100\nflush_interval = [oops\n", "not valid TOML"),
    ("[store]\nbatchsize = 100\n", "store.batchsize"),
    ('[store]\nbatch_size = "x"\n', "store.batch_size"),
    ("[store]\nbatch_size = 0\n", "store.batch_size"),
    ('[dedup]\nwindow = "60s"\n', "dedup.window"),
    ("[demo]\nreplay = 1\n", "demo.replay"),
])
@pytest.mark.unit
def test_a_broken_config_file_exits_2_naming_the_setting(content: str, says: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ais-watch.toml"
    path.write_text(content)
    code, _, err = cli(capsys, "--config", str(path), "--db", f"sqlite:///{tmp_path / 'x.db'}", "replay",
                       str(DEMO))
    assert code == 2
    assert err.startswith("ais-watch: error: ") and says in err, err
    assert str(path) in err, "the message should say which file"
    assert not (tmp_path / "x.db").exists(), "nothing may run with a broken config"


@pytest.mark.unit
def test_config_file_from_the_environment_is_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIS_WATCH_CONFIG", str(tmp_path / "missing.toml"))
    code, _, err = cli(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "track", "273355410")
    assert code == 2 and "missing.toml" in err and "not found" in err, err


# ------------------------------------------------------------------------------ other formats
HOSTILE = "<script>&\"'"


@pytest.mark.integration
def test_replay_aisstream_json_lines(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "capture.jsonl"
    lines = [
        json.dumps(position_report(273355410, time_utc="2023-05-10 11:46:52.509865357 +0000 UTC",
                                   lat=43.10215, lon=131.87993)),
        json.dumps(position_report(273355410, time_utc="2023-05-10 11:47:02.5 +0000 UTC", lat=43.10115,
                                   lon=131.87893)),
        "{this is not json",
        json.dumps(ship_static_data(HOSTILE, 9179842, 352001234, time_utc="2023-05-10 11:47:01 +0000 UTC")),
        json.dumps(position_report(352001234, time_utc="2023-05-10 11:47:03 +0000 UTC", lat=38.72,
                                   lon=125.38)),
        "",
    ]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli(capsys, "--db", db_url, "replay", str(path), "--no-progress")
    assert code == 0, err
    assert summary_value(out, "positions stored") == 3
    assert summary_value(out, "statics stored") == 1
    assert summary_value(out, "malformed_json") == 1
    assert query(db_url, "SELECT count(*) FROM positions") == [(3,)]
    assert query(db_url, "SELECT name, imo, call_sign, destination, flag FROM vessels "
                         "WHERE mmsi = 352001234") == [(HOSTILE, 9179842, "3FXY5", "NAMPO", "PA")]
    code, out, _ = cli(capsys, "--db", db_url, "track", "273355410")
    assert [(r["time"], r["lat"]) for r in jsonl(out)] == [
        ("2023-05-10T11:46:52.509865Z", 43.10215), ("2023-05-10T11:47:02.500000Z", 43.10115)]
    code, out, _ = cli(capsys, "--db", db_url, "track", "IMO:9179842")
    assert [r["mmsi"] for r in jsonl(out)] == [352001234]


DMA_HEADER = ("# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,Heading,"
              "IMO,Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,Draught,"
              "Destination,ETA,Data source type,A,B,C,D")


@pytest.mark.integration
def test_replay_dma_csv(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "aisdk-2023-11-12.csv"
    path.write_text("\n".join([
        DMA_HEADER,
        "12/11/2023 12:00:01,Class A,219000734,55.676100,12.568300,Under way using engine,0.0,10.2,123.4,122,"
        "9179842,OXYZ2,NORDIC STAR,Cargo,,20,120,GPS,6.5,AARHUS,13/11/2023 08:00:00,AIS,100,20,10,10",
        "12/11/2023 12:00:11,Class A,219000734,55.677100,12.569300,Moored,0.0,0.0,123.4,122,"
        "9179842,OXYZ2,NORDIC STAR,Cargo,,20,120,GPS,6.5,AARHUS,13/11/2023 08:00:00,AIS,100,20,10,10",
        '12/11/2023 12:00:05,Class B,211234560,54.100000,10.200000,Unknown value,,3.1,45.0,,Unknown,DJ2345,'
        f'"{HOSTILE.replace(chr(34), chr(34) * 2)}",Undefined,,,,Undefined,,,,AIS,,,,',
        "xx/11/2023 12:00:05,Class A,219000999,54.1,10.2,Moored,,0,0,,Unknown,,,Undefined,,,,Undefined,,,,"
        "AIS,,,,",
        "12/11/2023 12:00:06,Class A,219000998,91.000000,181.000000,Moored,,0,0,,Unknown,,,Undefined,,,,"
        "Undefined,,,,AIS,,,,",
    ]) + "\n")
    code, out, err = cli(capsys, "--db", db_url, "replay", str(path), "--no-progress")
    assert code == 0, err
    assert summary_value(out, "positions stored") == 3
    assert summary_value(out, "malformed_csv_row") == 1
    assert summary_value(out, "no_position") == 1
    code, out, _ = cli(capsys, "--db", db_url, "track", "219000734")
    rows = jsonl(out)
    # DMA writes dd/mm/yyyy: 12/11/2023 is the 12th of November.
    assert [(r["time"], r["lat"], r["lon"], r["sog"], r["nav_status"]) for r in rows] == [
        ("2023-11-12T12:00:01Z", 55.6761, 12.5683, 10.2, 0),
        ("2023-11-12T12:00:11Z", 55.6771, 12.5693, 0.0, 5)]
    assert rows[0]["heading"] == 122 and rows[0]["cog"] == 123.4
    assert query(db_url, "SELECT name, imo, call_sign, draught, destination, to_bow, to_stern FROM vessels "
                         "WHERE mmsi = 219000734") == [
        ("NORDIC STAR", 9179842, "OXYZ2", 6.5, "AARHUS", 100, 20)]
    assert query(db_url, "SELECT name, imo, flag FROM vessels WHERE mmsi = 211234560") == [
        (HOSTILE, None, "DE")]
    assert query(db_url, "SELECT msg_type FROM positions WHERE mmsi = 211234560") == [(18,)]


@pytest.mark.integration
def test_dma_unknown_placeholders_are_not_identity(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    path = tmp_path / "aisdk.csv"
    path.write_text("\n".join([
        DMA_HEADER,
        # Rows as DMA publishes them for a vessel whose static data is not known (aisdk-2025/2026 files).
        "12/11/2023 12:00:00,Class A,219005866,57.321455,11.126527,Unknown value,0.0,0.0,212.1,121,"
        "Unknown,Unknown,,Undefined,,,,Undefined,,Unknown,,AIS,,,,",
        "12/11/2023 12:00:01,Class A,219000734,55.676100,12.568300,Under way using engine,0.0,10.2,123.4,122,"
        "9179842,OXYZ2,NORDIC STAR,Cargo,,20,120,GPS,6.5,AARHUS,,AIS,100,20,10,10",
        "12/11/2023 12:00:11,Class A,219000734,55.677100,12.569300,Under way using engine,0.0,10.2,123.4,122,"
        "Unknown,Unknown,NORDIC STAR,Cargo,,20,120,GPS,6.5,Unknown,,AIS,100,20,10,10",
    ]) + "\n")
    assert cli(capsys, "--db", url, "replay", str(path), "--no-progress")[0] == 0
    assert query(url, "SELECT mmsi, call_sign, destination FROM vessels ORDER BY mmsi") == [
        (219000734, "OXYZ2", "AARHUS"), (219005866, None, None)]
    assert query(url, "SELECT count(*) FROM identity_history WHERE new_value = 'Unknown'") == [(0,)]


NOAA_HEADER = ("MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,Length,"
               "Width,Draft,Cargo,TransceiverClass")


@pytest.mark.integration
def test_replay_noaa_csv(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "AIS_2023_01_01.csv"
    path.write_text("\n".join([
        NOAA_HEADER,
        "367001234,2023-01-01T00:00:01,29.93000,-90.06000,0.1,207.3,511.0,SEA STAR,IMO9179842,WDA1234,70,0,"
        "100,20,5.5,70,A",
        "367001234,2023-01-01T00:01:01,29.94000,-90.07000,12.4,207.3,205.0,SEA STAR,IMO9179842,WDA1234,70,0,"
        "100,20,5.5,70,A",
        "notanmmsi,2023-01-01T00:01:01,29.94,-90.07,0.2,207.3,205.0,X,,,70,0,100,20,5.5,70,A",
        "338123456,2023-01-01T00:00:30,30.10000,-89.90000,5.0,90.0,511.0,,,,37,15,,,,,B",
        "338123456,2023-01-01T00:00:30,30.10000,-89.90000,5.0,90.0,511.0,,,,37,15,,,,,B",  # the same again
    ]) + "\n")
    code, out, err = cli(capsys, "--db", db_url, "replay", str(path), "--no-progress")
    assert code == 0, err
    assert summary_value(out, "positions stored") == 3
    assert summary_value(out, "duplicates dropped") == 1
    assert summary_value(out, "malformed_csv_row") == 1
    code, out, _ = cli(capsys, "--db", db_url, "track", "367001234", "--format", "jsonl")
    assert [(r["time"], r["lat"], r["lon"], r["sog"], r["heading"], r["nav_status"]) for r in jsonl(out)] == [
        ("2023-01-01T00:00:01Z", 29.93, -90.06, 0.1, None, 0),  # heading 511: not available
        ("2023-01-01T00:01:01Z", 29.94, -90.07, 12.4, 205, 0)]
    assert query(db_url, "SELECT name, imo, call_sign, flag FROM vessels WHERE mmsi = 367001234") == [
        ("SEA STAR", 9179842, "WDA1234", "US")]
    assert query(db_url, "SELECT name, msg_type FROM vessels JOIN positions USING (mmsi) "
                         "WHERE mmsi = 338123456") == [(None, 18)]
    code, out, _ = cli(capsys, "--db", db_url, "track", "IMO:9179842", "--format", "csv")
    assert len(out.splitlines()) == 3


@pytest.mark.integration
def test_track_by_imo_follows_every_mmsi_that_sent_it(db_url: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A ship re-flagged to a new MMSI keeps its IMO; an MMSI that sent the IMO before also counts."""
    path = tmp_path / "reflagged.csv"
    path.write_text("\n".join([
        NOAA_HEADER,
        "273355410,2023-01-01T00:00:00,42.90,132.80,10.0,200.0,201.0,VOSTOK 7,IMO9179842,UBCD7,70,0,,,,,A",
        "273355410,2023-01-01T01:00:00,42.80,132.70,10.0,200.0,201.0,VOSTOK 7,IMO9074729,UBCD7,70,0,,,,,A",
        "620123000,2023-01-01T00:30:00,39.90,127.50,8.0,10.0,11.0,SEA STAR,IMO9179842,D6AB,70,0,,,,,A",
        "620123000,2023-01-01T02:00:00,40.00,127.60,8.0,10.0,11.0,SEA STAR,IMO9179842,D6AB,70,0,,,,,A",
        "477000001,2023-01-01T00:10:00,22.20,114.10,1.0,10.0,11.0,OTHER,IMO7642170,VRAB,70,0,,,,,A",
    ]) + "\n")
    code, _, err = cli(capsys, "--db", db_url, "replay", str(path), "--no-progress")
    assert code == 0, err
    code, out, err = cli(capsys, "--db", db_url, "track", "IMO:9179842")
    assert code == 0, err
    assert [(r["mmsi"], r["time"]) for r in jsonl(out)] == [
        (273355410, "2023-01-01T00:00:00Z"), (620123000, "2023-01-01T00:30:00Z"),
        (273355410, "2023-01-01T01:00:00Z"), (620123000, "2023-01-01T02:00:00Z")]
    code, out, _ = cli(capsys, "--db", db_url, "track", "IMO:9179842", "--format", "geojson")
    features = json.loads(out)["features"]
    assert sorted(f["properties"]["mmsi"] for f in features) == [273355410, 620123000]
    assert all(f["geometry"]["type"] == "LineString" for f in features)
    code, out, _ = cli(capsys, "--db", db_url, "track", "IMO:9074729")
    assert {r["mmsi"] for r in jsonl(out)} == {273355410}


# -------------------------------------------------------------------------------------- pacing
@pytest.mark.integration
def test_speed_paces_the_replay_on_event_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with gzip.open(DEMO) as fh:
        singles = [line.strip() for line in fh if line.startswith(b"!BSVDM,1,1,")][:5]
    start = 1_384_257_600  # 2013-11-12 12:00:00 UTC
    path = tmp_path / "two-seconds.nmea"
    offsets = (0, 0, 1, 2, 2)  # event time spans 2 s
    lines = (tagged(s, start + t, "pacing") for s, t in zip(singles, offsets, strict=True))
    path.write_bytes(b"\n".join(lines) + b"\n")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["--db", url, "migrate"]) == 0  # the schema is not part of the timing
    began = time.perf_counter()
    code = main(["--db", url, "replay", str(path), "--speed", "4", "--no-progress"])
    elapsed = time.perf_counter() - began
    out = capsys.readouterr().out
    assert code == 0
    assert summary_value(out, "positions stored") == 5
    assert 0.45 <= elapsed < 10, f"2 s of event time at 4x took {elapsed:.2f} s of wall time"
    times = [r[0] for r in query(url, "SELECT time FROM positions ORDER BY time")]
    assert len(times) == 5


# ------------------------------------------------------------------------------- file names
@pytest.mark.integration
def test_a_long_replay_file_name_is_stored(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           request: pytest.FixtureRequest) -> None:
    with gzip.open(DEMO) as fh:
        head = b"".join(itertools.islice(fh, 400))
    path = tmp_path / ("dma-tagblock-pghp-2013-11-12-1200-1205-danish-network-" + "x" * 30 + ".nmea")
    path.write_bytes(head)
    code, out, err = cli(capsys, "--db", db_url, "replay", str(path), "--no-progress")
    assert code == 0, err
    assert query(db_url, "SELECT count(*) FROM positions")[0][0] == summary_value(out, "positions stored") > 0


@pytest.mark.integration
def test_a_gzip_cut_short_is_used_up_to_the_cut_and_said_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """A download cut short, or a recording still being written: what was readable is replayed, exactly
    as the same lines uncompressed would be, the cut is counted and said in one line, and nothing raises.
    A file that is gzip by its first bytes and nothing after is of no format (one line, exit 2)."""
    whole = DEMO.read_bytes()
    cut = tmp_path / "cut.nmea.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    code, out, err = cli(capsys, "--db", f"sqlite:///{tmp_path / 'cut.db'}", "replay", str(cut),
                         "--no-progress")
    assert code == 0, err
    read = summary_value(out, "lines")
    assert 0 < read < DEMO_LINES
    assert summary_value(out, "file_cut_short") == 1
    said = [r.getMessage() for r in caplog.records if "ends early" in r.getMessage()]
    assert len(said) == 1 and f"after {read:,} lines" in said[0] and str(cut) in said[0], said
    assert "Traceback" not in err

    # What the cut file holds, uncompressed (its last line cut part way too): the same positions stored.
    plain = tmp_path / "prefix.nmea"
    plain.write_bytes(zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2]))
    code, again, err = cli(capsys, "--db", f"sqlite:///{tmp_path / 'plain.db'}", "replay", str(plain),
                           "--no-progress")
    assert code == 0, err
    assert summary_value(again, "lines") == read
    assert summary_value(again, "positions stored") == summary_value(out, "positions stored") > 0

    magic_only = tmp_path / "magic.nmea"
    magic_only.write_bytes(b"\x1f\x8bnot really gzip")
    code, out, err = cli(capsys, "--db", f"sqlite:///{tmp_path / 'm.db'}", "replay", str(magic_only))
    assert code == 2 and "cannot tell its format" in err and "Traceback" not in err


# ------------------------------------------------------------------------------- garbage collector
@pytest.mark.integration
def test_a_replay_freezes_its_start_up_state_and_collects_less_often(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython's default thresholds had a replay's main process spend a sixth of its time in the
    collector, walking the start-up state (issue 17): frozen once start-up is done, as serve does."""
    import gc

    calls: list[Any] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(t))
    with gzip.open(DEMO) as fh:
        path = tmp_path / "some.nmea"
        path.write_bytes(b"".join(itertools.islice(fh, 300)))
    assert main(["--db", f"sqlite:///{tmp_path / 'gc.db'}", "replay", str(path), "--no-progress"]) == 0
    assert summary_value(capsys.readouterr().out, "positions stored") > 0
    assert calls == ["freeze", (50_000, 20, 100)]


@pytest.mark.integration
def test_an_unreachable_database_is_one_line_though_the_first_file_was_already_decoding(
        tmp_path: Path) -> None:
    """The first file starts decoding before the database opens (issue 17: its start-up is not waited
    for); when the database cannot be reached the worker finds nobody reading and ends quietly."""
    import subprocess
    import sys

    with gzip.open(DEMO) as fh:
        path = tmp_path / "day.nmea"
        path.write_bytes(fh.read())
    done = subprocess.run([sys.executable, "-m", "ais_watch", "--db", "postgresql://postgres@127.0.0.1:1/nope",
                           "replay", "--no-progress", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("ais-watch: error: database ") and "unreachable" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
