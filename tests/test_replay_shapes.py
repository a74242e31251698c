"""Historical data in the shapes analysts have it, through `ais-watch replay` end to end: a CSV mapped with
--columns (an `ID` column, day-first dates), bad rows reported FILE:LINE:COLUMN while the rest loads, an
unusable file refused in one line with exit 2 (the real CLI, in a child process), and a receiver log whose
$GPZDA carries a two-digit year.

The AIS sentences of the ZDA log are real: the first two type 1 messages of gpsd's sample
(tests/fixtures/decoder/gpsd-sample.aivdm, BSD-2-Clause); gpsd's decode of them gives the positions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ais_watch.errors import AisWatchError, ReplayError
from ais_watch.model import IngestStats, Report
from ais_watch.sources.decode_worker import DecodeWorker
from tests.helpers.cli import cli, jsonl, summary_value
from tests.helpers.nmea import sentence
from tests.helpers.paths import FIXTURES, REPO

pytestmark = pytest.mark.integration

ANALYST_HEADER = "ID,ais_pos_timestamp,Lat,Lon,Speed,Course,Vessel Name"
ANALYST_ROWS = (
    "273355410,16/04/2014 19:57:19,42.90,132.80,10.5,200.0,VOSTOK 7",
    "273355410,03/05/2014 08:00:00,42.80,132.70,0.0,190.0,VOSTOK 7",
)
MAPPING = "mmsi=ID,time=ais_pos_timestamp,name=Vessel Name"


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`ais-watch ARGV` as a user runs it: a child process, its own stderr."""
    return subprocess.run([sys.executable, "-m", "ais_watch", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}, check=False)


# ------------------------------------------------------------------------------------------ CSV
def test_a_mapped_csv_with_an_id_column_and_day_first_dates_loads(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "analyst.csv", ANALYST_HEADER, *ANALYST_ROWS)
    code, out, err = cli(capsys, "--db", db_url, "replay", str(path), "--columns", MAPPING, "--dayfirst",
                         "--no-progress")
    assert code == 0, err
    assert summary_value(out, "positions stored") == 2
    code, out, _ = cli(capsys, "--db", db_url, "track", "273355410")
    assert [(r["time"], r["lat"], r["lon"], r["sog"], r["cog"]) for r in jsonl(out)] == [
        ("2014-04-16T19:57:19Z", 42.9, 132.8, 10.5, 200.0),
        ("2014-05-03T08:00:00Z", 42.8, 132.7, 0.0, 190.0)]  # 3 May: read day first, not 5 March


def test_day_first_dates_without_dayfirst_load_nothing(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "analyst.csv", ANALYST_HEADER, *ANALYST_ROWS)
    db = tmp_path / "x.db"
    code, out, err = cli(capsys, "--db", f"sqlite:///{db}", "replay", str(path), "--columns", MAPPING)
    assert code == 2 and out == ""
    assert err == (f"ais-watch: error: {path}:2:2: ais_pos_timestamp: '16/04/2014 19:57:19' reads only day "
                   "first: the file's dates are day-first (dd/mm/yyyy); give --dayfirst\n")
    assert not db.exists()  # refused before the database was even opened


def test_bad_rows_are_reported_one_line_each_and_the_rest_loads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path / "analyst.csv", ANALYST_HEADER,
                 ANALYST_ROWS[0],
                 "273355410,16/04/2014 20:07:19,42.88,east,10.5,200.0,VOSTOK 7",
                 "273355410,16/04/2014 20:17:19,42.86,132.76,10.5,200.0,VOSTOK, 7",
                 ANALYST_ROWS[1])
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with caplog.at_level(logging.WARNING, logger="ais_watch"):
        code, out, err = cli(capsys, "--db", url, "replay", str(path), "--columns", MAPPING, "--dayfirst",
                             "--no-progress")
    assert code == 0, err
    assert summary_value(out, "positions stored") == 2
    assert summary_value(out, "malformed_csv_row") == 2
    reported = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert reported == [f"{path}:3:4: Lon: 'east' is not a number",
                        f"{path}:4:8: 8 fields where the header has 7"]
    code, out, _ = cli(capsys, "--db", url, "track", "273355410")
    assert [r["time"] for r in jsonl(out)] == ["2014-04-16T19:57:19Z", "2014-05-03T08:00:00Z"]


def test_the_dma_header_is_recognised_without_a_mapping(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    dma = ("# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,Heading,IMO,"
           "Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,Draught,"
           "Destination,ETA,Data source type,A,B,C,D")
    path = write(tmp_path / "aisdk-2023-11-13.csv", dma,
                 "13/11/2023 06:00:01,Class A,219000734,55.676100,12.568300,Moored,0.0,0.0,123.4,122,"
                 "9179842,OXYZ2,NORDIC STAR,Cargo,,20,120,GPS,6.5,AARHUS,,AIS,100,20,10,10")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = cli(capsys, "--db", url, "replay", str(path), "--no-progress")
    assert code == 0, err
    code, out, _ = cli(capsys, "--db", url, "track", "219000734")
    assert [r["time"] for r in jsonl(out)] == ["2023-11-13T06:00:01Z"]


@pytest.mark.parametrize(("lines", "argv", "says"), [
    (("ID,ts,y,x", "273355410,2014-04-16T19:57:19,42.9,132.8"), (),
     "{path}: unknown CSV layout (columns: ID, ts, y, x); name its columns with --columns "
     "mmsi=COLUMN,time=COLUMN,lat=COLUMN,lon=COLUMN"),
    (("ID,ts,y,x", "273355410,2014-04-16T19:57:19,42.9,132.8"), ("--columns", "mmsi=ID,time=when"),
     "{path}: --columns time=when: no such column (columns: ID, ts, y, x)"),
    (("ID,ts,y,x", "273355410,2014-04-16T19:57:19,42.9,132.8"), ("--columns", "mmsi=ID,time=ts"),
     "{path}: no column for lat, lon (columns: ID, ts, y, x); name it with --columns lat=COLUMN"),
    (("ID,ts,y,x",), ("--columns", "mmsi=ID,when=ts"),
     "--columns: no field 'when'; the fields are mmsi, time, lat, lon, sog, cog, heading, nav_status, name, "
     "imo, callsign, ship_type, draught, destination, class, to_bow, to_stern, to_port, to_starboard"),
    (("X,Y,Z,CRAFT_ID,LON,LAT,COURSE,SPEED,TYPE,SUBTYPE,LENGTH,BEAM,DRAUGHT,TIMESTAMP",), (),
     "{path}: AMSA craft tracking data: its CRAFT_ID is an anonymised vessel id, not an MMSI, so its tracks "
     "cannot be told apart or watched; it is not loaded"),
])
def test_an_unusable_file_is_one_line_and_exit_2(tmp_path: Path, lines: tuple[str, ...],
                                                 argv: tuple[str, ...], says: str) -> None:
    path = write(tmp_path / "export.csv", *lines)
    done = run_cli("--db", "sqlite:///./x.db", "replay", str(path), "--no-progress", *argv, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"ais-watch: error: {says.format(path=path)}\n"  # one line, no traceback
    assert done.stdout == "" and not (tmp_path / "x.db").exists()


def test_a_good_file_through_the_real_cli_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path / "analyst.csv", ANALYST_HEADER, *ANALYST_ROWS)
    done = run_cli("--db", "sqlite:///./x.db", "replay", str(path), "--columns", MAPPING, "--dayfirst",
                   "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "positions stored            2" in done.stdout and "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------------ ZDA
def gpsd_type1_sentences() -> list[str]:
    lines = (FIXTURES / "decoder" / "gpsd-sample.aivdm").read_text().splitlines()
    return [line for line in lines if line.startswith("!AIVDM,1,1,,A,1")][:2]


def test_a_navico_log_with_two_digit_zda_years_is_read(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A Navico/GoFree display's log: its clock is $GPZDA with a two-digit year and its local zone (-02:00);
    the time is UTC: 2014-04-16 19:57:19, whatever the zone fields say."""
    first, second = gpsd_type1_sentences()
    path = tmp_path / "gofree.nmea"
    path.write_bytes(b"\r\n".join([
        b"$GPZDA,195719,16,04,14,-02,00",  # as the issue quotes it: no checksum
        first.encode(),
        sentence("GPZDA,195749,16,04,14,-02,00", b"$"),  # with one
        second.encode(),
    ]) + b"\r\n")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = cli(capsys, "--db", url, "replay", str(path), "--no-progress")
    assert code == 0, err
    assert summary_value(out, "positions stored") == 2
    assert "no_event_time" not in out and "bad_zda" not in out and "bad_checksum" not in out
    expected = {}
    for line in (FIXTURES / "decoder" / "gpsd-sample.aivdm.scaled.jsonl").read_text().splitlines()[:2]:
        decoded = json.loads(line)
        expected[decoded["mmsi"]] = (round(decoded["lat"], 4), round(decoded["lon"], 4))
    seen = {}
    for mmsi in expected:
        code, out, _ = cli(capsys, "--db", url, "track", str(mmsi))
        (row,) = jsonl(out)
        seen[mmsi] = (row["time"], (round(row["lat"], 4), round(row["lon"], 4)))
    assert seen == {371798000: ("2014-04-16T19:57:19Z", expected[371798000]),
                    440348000: ("2014-04-16T19:57:49Z", expected[440348000])}


def test_without_a_readable_zda_the_same_sentences_have_no_time(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    first, second = gpsd_type1_sentences()
    path = tmp_path / "garbled.nmea"
    path.write_bytes(b"\n".join([b"$GPZDA,195719,16,04,14,-02,00*00", first.encode(),  # a wrong checksum
                                 b"$GPZDA,195749,16,04", second.encode()]) + b"\n")  # cut short
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = cli(capsys, "--db", url, "replay", str(path), "--no-progress")
    assert code == 0, err
    assert summary_value(out, "positions stored") == 0
    assert summary_value(out, "no_event_time") == 2 and summary_value(out, "bad_checksum") == 2


# ------------------------------------------------------------------------------- decode worker
def _buggy_reader(stats: IngestStats) -> Iterator[tuple[bytes, list[Report]]]:
    """A reader with a bug in it (module level: the worker process imports it by name)."""
    stats.lines += 1
    yield b"", []
    raise ZeroDivisionError("division by zero")


def _unreadable_reader(stats: IngestStats) -> Iterator[tuple[bytes, list[Report]]]:
    raise ReplayError("data.csv: unknown CSV layout (columns: a, b)")
    yield b"", []  # a generator all the same


@pytest.mark.parametrize(("reader", "says"), [
    (_buggy_reader, "data.csv: cannot decode: ZeroDivisionError: division by zero"),
    (_unreadable_reader, "data.csv: unknown CSV layout (columns: a, b)"),
])
async def test_a_decode_worker_failure_is_one_line(reader: Any, says: str, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """What goes wrong in the worker process reaches the user as one line naming the file; a bug's
    traceback only in the DEBUG log."""
    worker = DecodeWorker(reader, Path("data.csv"))
    caplog.set_level(logging.DEBUG, logger="ais_watch.sources.decode_worker")
    try:
        with pytest.raises(AisWatchError) as failed:
            async with asyncio.timeout(30):
                async for _ in worker.chunks(IngestStats()):
                    pass
    finally:
        await worker.close()
    assert str(failed.value) == says
    traces = [r.getMessage() for r in caplog.records if r.name == "ais_watch.sources.decode_worker"]
    if reader is _buggy_reader:
        assert len(traces) == 1 and "Traceback" in traces[0] and "ZeroDivisionError" in traces[0]
    else:
        assert traces == []
