"""CSV exports read in-process: the layouts recognised by their headers, `--columns`, the times (day first
or month first, AM/PM, epoch, zones), dates the wrong way round refused before loading, and bad rows
reported as FILE:LINE:COLUMN while the rest loads.

The headers are the real ones: DMA's from its aisdk files, NOAA MarineCadastre's 2015-2024 and 2025
headers, and AMSA's craft tracking data as ogr2ogr writes it out (its README rows, with CRAFT_ID).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ais_watch.errors import ReplayError
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport
from ais_watch.sources.csv_import import (
    REPORTED_PER_FILE,
    CsvOptions,
    TimeError,
    check_csv,
    csv_reports,
    parse_columns,
    parse_time,
    plan,
)
from ais_watch.sources.replay import check_files, detect_format

pytestmark = pytest.mark.unit

DMA_HEADER = ("# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,Heading,"
              "IMO,Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,Draught,"
              "Destination,ETA,Data source type,A,B,C,D")
NOAA_HEADER = ("MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,Length,"
               "Width,Draft,Cargo,TransceiverClass")
NOAA_2025_HEADER = ("mmsi,base_date_time,longitude,latitude,sog,cog,heading,vessel_name,imo,call_sign,"
                    "vessel_type,status,length,width,draft,cargo,transceiver")
AMSA_HEADER = "X,Y,Z,CRAFT_ID,LON,LAT,COURSE,SPEED,TYPE,SUBTYPE,LENGTH,BEAM,DRAUGHT,TIMESTAMP"
AMSA_ROW = ('115.693126667,-32.2264,0,-2146018332.00000000000,115.69312666700,-32.22640000000,'
            '354.50000000000,0.00000000000,unknown code 0,,"111","22",6.60000000000,1/02/2023 12:04:54 AM')


def header(text: str) -> list[str]:
    return text.split(",")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def read(path: Path, options: CsvOptions | None = None) -> tuple[list[Report], IngestStats]:
    stats = IngestStats()
    reports: list[Report] = []
    with path.open("rb") as fh:
        for _, found in csv_reports(path, fh, "test", stats, options or CsvOptions()):
            reports.extend(found)
    return reports, stats


def positions(reports: list[Report]) -> list[PositionReport]:
    return [r for r in reports if isinstance(r, PositionReport)]


# ------------------------------------------------------------------------------------------- times
@pytest.mark.parametrize(("text", "dayfirst", "expected"), [
    ("2023-01-01T00:00:01", False, utc(2023, 1, 1, 0, 0, 1)),  # MarineCadastre: naive is UTC
    ("2025-12-31 00:00:00", False, utc(2025, 12, 31)),
    ("2023-01-01T02:00:01+02:00", False, utc(2023, 1, 1, 0, 0, 1)),  # an offset is honoured
    ("2023-01-01T00:00:01.250Z", False, utc(2023, 1, 1, 0, 0, 1, 250000)),
    ("2023-01-01 00:00:01 UTC", False, utc(2023, 1, 1, 0, 0, 1)),
    ("12/11/2023 12:00:01", True, utc(2023, 11, 12, 12, 0, 1)),  # DMA: day first
    ("12/11/2023 12:00:01", False, utc(2023, 12, 11, 12, 0, 1)),  # the same text month first
    ("16.04.2014 19:57", True, utc(2014, 4, 16, 19, 57)),
    ("1/02/2023 12:04:54 AM", True, utc(2023, 2, 1, 0, 4, 54)),  # AMSA: midnight is 12 AM
    ("20/01/2023 5:06:00 PM", True, utc(2023, 1, 20, 17, 6)),
    ("4/16/2014 12:30:00 PM", False, utc(2014, 4, 16, 12, 30)),  # noon is 12 PM
    ("1397678239", False, utc(2014, 4, 16, 19, 57, 19)),  # epoch seconds
    ("1397678239500", False, utc(2014, 4, 16, 19, 57, 19, 500000)),  # epoch milliseconds
])
def test_times_of_every_kind_come_out_utc(text: str, dayfirst: bool, expected: datetime) -> None:
    assert parse_time(text, dayfirst) == expected


@pytest.mark.parametrize(("text", "dayfirst", "says"), [
    ("16/04/2014 19:57:19", False,
     "no month 16 read month first (mm/dd/yyyy); day-first dates need --dayfirst"),
    ("04/16/2014 19:57:19", True, "no month 16 read day first"),
    ("31/02/2014 10:00:00", True, "day is out of range"),
    ("16/04/2014 13:00:00 PM", True, "hour 13 with AM/PM"),
    ("yesterday", False, "is not a time"),
    ("", False, "no time"),
])
def test_a_time_that_cannot_be_read_says_why(text: str, dayfirst: bool, says: str) -> None:
    with pytest.raises(TimeError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_time(text, dayfirst)


# ----------------------------------------------------------------------------------------- layouts
def test_the_dma_header_is_recognised_and_reads_day_first() -> None:
    found = plan("aisdk.csv", header(DMA_HEADER), ",", CsvOptions())
    assert found.layout == "Danish Maritime Authority layout" and found.dayfirst
    assert (found.index["time"], found.index["mmsi"], found.index["lat"], found.index["lon"]) == (0, 2, 3, 4)
    assert (found.index["class"], found.index["to_bow"], found.index["to_starboard"]) == (1, 22, 25)


@pytest.mark.parametrize("text", [NOAA_HEADER, NOAA_2025_HEADER])
def test_both_marinecadastre_headers_are_recognised(text: str) -> None:
    names = header(text)
    found = plan("AIS_2023_01_01.csv", names, ",", CsvOptions())
    assert found.layout == "NOAA MarineCadastre layout" and not found.dayfirst
    # The 2025 header puts longitude first: each field still finds its own column.
    assert names[found.index["lat"]].lower() in ("lat", "latitude")
    assert names[found.index["lon"]].lower() in ("lon", "longitude")
    assert names[found.index["time"]] in ("BaseDateTime", "base_date_time")


def test_a_header_of_plain_names_needs_no_mapping() -> None:
    found = plan("x.csv", ["MMSI", "Time", "Latitude", "Longitude", "Speed"], ",", CsvOptions())
    assert found.layout == "ais-watch layout"
    assert (found.index["lat"], found.index["lon"], found.index["sog"]) == (2, 3, 4)


def test_amsa_craft_tracking_data_is_recognised_and_refused() -> None:
    with pytest.raises(ReplayError, match="AMSA craft tracking data: its CRAFT_ID is an anonymised vessel"):
        plan("cts_srr_02_2023_pt.csv", header(AMSA_HEADER), ",", CsvOptions())


def test_an_unknown_layout_without_columns_is_refused_naming_its_columns() -> None:
    with pytest.raises(ReplayError, match=r"x.csv: unknown CSV layout \(columns: ID, ts, y, x\); name its "
                                          r"columns with --columns"):
        plan("x.csv", ["ID", "ts", "y", "x"], ",", CsvOptions())


def test_columns_map_an_unknown_layout_and_fill_the_rest_by_name() -> None:
    found = plan("x.csv", ["ID", "ais_pos_timestamp", "Lat", "Lon", "Speed"], ",",
                 CsvOptions(parse_columns("mmsi=ID,time=ais_pos_timestamp")))
    assert found.index == {"mmsi": 0, "time": 1, "lat": 2, "lon": 3, "sog": 4}
    assert found.layout == "columns as --columns maps them"


def test_columns_override_a_recognised_layout() -> None:
    names = [*header(NOAA_HEADER), "OtherTime"]
    found = plan("x.csv", names, ",", CsvOptions({"time": "OtherTime"}))
    assert found.index["time"] == len(names) - 1 and found.index["mmsi"] == 0


@pytest.mark.parametrize(("columns", "says"), [
    ({"mmsi": "ID", "time": "when"}, r"--columns time=when: no such column \(columns: ID, ts, y, x\)"),
    ({"mmsi": "ID", "time": "ts"}, "no column for lat, lon .*; name it with --columns lat=COLUMN"),
])
def test_a_mapping_that_does_not_fit_the_file_is_refused(columns: dict[str, str], says: str) -> None:
    with pytest.raises(ReplayError, match=says):
        plan("x.csv", ["ID", "ts", "y", "x"], ",", CsvOptions(columns))


@pytest.mark.parametrize(("text", "says"), [
    ("mmsi", "'mmsi' is not FIELD=COLUMN"),
    ("mmsi=", "'mmsi=' is not FIELD=COLUMN"),
    ("ship=Name", "no field 'ship'; the fields are mmsi, time, lat, lon"),
    ("mmsi=A,mmsi=B", "mmsi given twice"),
])
def test_bad_columns_options_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ReplayError, match=says):
        parse_columns(text)


def test_parse_columns_keeps_the_column_names_as_written() -> None:
    assert parse_columns(" MMSI = ID , time=ais_pos_timestamp,name=Vessel Name") == {
        "mmsi": "ID", "time": "ais_pos_timestamp", "name": "Vessel Name"}


# ------------------------------------------------------------------------------------- date order
def write(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


MAPPING = "mmsi=ID,time=ais_pos_timestamp"
MAPPED_HEADER = "ID,ais_pos_timestamp,lat,lon,sog"


def check(path: Path, options: CsvOptions) -> str:
    with path.open("rb") as fh:
        return check_csv(path, fh, options).layout


def test_day_first_dates_without_dayfirst_are_refused_before_loading(tmp_path: Path) -> None:
    path = write(tmp_path, "dayfirst.csv", MAPPED_HEADER,
                 "273355410,05/04/2014 19:57:19,42.9,132.8,10",  # reads either way
                 "273355410,16/04/2014 19:57:19,42.9,132.8,10")  # only day first
    with pytest.raises(ReplayError) as refused:
        check(path, CsvOptions(parse_columns(MAPPING)))
    assert str(refused.value) == (f"{path}:3:2: ais_pos_timestamp: '16/04/2014 19:57:19' reads only day "
                                  "first: the file's dates are day-first (dd/mm/yyyy); give --dayfirst")
    check(path, CsvOptions(parse_columns(MAPPING), dayfirst=True))  # the other side: with it, it reads


def test_month_first_dates_with_dayfirst_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "us.csv", MAPPED_HEADER, "273355410,04/16/2014 19:57:19,42.9,132.8,10")
    with pytest.raises(ReplayError, match="reads only month first: the file's dates are month-first "
                                          r"\(mm/dd/yyyy\); drop --dayfirst"):
        check(path, CsvOptions(parse_columns(MAPPING), dayfirst=True))
    check(path, CsvOptions(parse_columns(MAPPING)))


def test_a_day_first_layout_with_month_first_dates_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "aisdk.csv", DMA_HEADER,
                 "11/13/2023 12:00:01,Class A,219000734,55.6761,12.5683,Moored,,0,0,,,,,,,,,,,,,AIS,,,,")
    with pytest.raises(ReplayError, match=r"aisdk.csv:2:1: # Timestamp: '11/13/2023 12:00:01' reads only "
                                          "month first"):
        check(path, CsvOptions())


def test_ambiguous_and_iso_dates_pass_the_check(tmp_path: Path) -> None:
    ambiguous = write(tmp_path, "a.csv", MAPPED_HEADER, "273355410,05/04/2014 19:57:19,42.9,132.8,10")
    assert check(ambiguous, CsvOptions(parse_columns(MAPPING))) == "columns as --columns maps them"
    iso = write(tmp_path, "b.csv", NOAA_HEADER, "367001234,2023-01-13T00:00:01,29.9,-90.0,0.1,,,,,,,,,,,,A")
    assert check(iso, CsvOptions(dayfirst=True)) == "NOAA MarineCadastre layout"


# ------------------------------------------------------------------------------------------ rows
def test_the_mapping_reads_an_id_column_and_day_first_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "analyst.csv", "ID,ais_pos_timestamp,Lat,Lon,Speed,Course,Heading,Vessel Name,IMO",
                 "273355410,16/04/2014 19:57:19,42.90,132.80,10.5,200.0,201,VOSTOK 7,IMO9179842",
                 "273355410,03/05/2014 08:00:00,42.80,132.70,0.0,,511,VOSTOK 7,9179842")
    options = CsvOptions(parse_columns("mmsi=ID,time=ais_pos_timestamp,name=Vessel Name,cog=Course"),
                         dayfirst=True)
    reports, stats = read(path, options)
    fixes = positions(reports)
    assert [(p.mmsi, p.time, p.lat, p.lon, p.sog, p.cog, p.heading) for p in fixes] == [
        (273355410, utc(2014, 4, 16, 19, 57, 19), 42.9, 132.8, 10.5, 200.0, 201),
        (273355410, utc(2014, 5, 3, 8), 42.8, 132.7, 0.0, None, None)]  # 3 May, not 5 March
    statics = [r for r in reports if isinstance(r, StaticReport)]
    assert {(s.name, s.imo, s.imo_valid) for s in statics} == {("VOSTOK 7", 9179842, True)}
    assert stats.rejects == {} and stats.notes == []


def test_a_broken_row_is_reported_where_it_is_and_the_rest_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "AIS_2023_01_01.csv", NOAA_HEADER,
                 "367001234,2023-01-01T00:00:01,29.93,-90.06,0.1,207.3,511,SEA STAR,,,70,0,,,,,A",
                 "367001234,2023-01-01T00:00:11,29.93,north,0.1,207.3,511,SEA STAR,,,70,0,,,,,A",
                 "367001234,2023-01-01T00:00:21,29.94,-90.07,0.1,207.3,511,SEA, STAR,,,70,0,,,,,A",
                 "notanmmsi,2023-01-01T00:00:31,29.94,-90.07,0.1,207.3,511,,,,70,0,,,,,A",
                 "367001234,2023-13-01T00:00:41,29.94,-90.07,0.1,207.3,511,,,,70,0,,,,,A",
                 "",  # a blank line is no row
                 "367001234,2023-01-01T00:00:51,29.95,-90.08,0.1,207.3,511,SEA STAR,,,70,0,,,,,A")
    reports, stats = read(path)
    assert [p.time for p in positions(reports)] == [utc(2023, 1, 1, 0, 0, 1), utc(2023, 1, 1, 0, 0, 51)]
    assert stats.rejects == {"malformed_csv_row": 4}
    assert stats.notes == [
        f"{path}:3:4: LON: 'north' is not a number",
        f"{path}:4:18: 18 fields where the header has 17",
        f"{path}:5:1: MMSI: 'notanmmsi' is not an MMSI",
        f"{path}:6:2: BaseDateTime: '2023-13-01T00:00:41' is not a time (ISO 8601, dd/mm/yyyy with "
        "--dayfirst, mm/dd/yyyy, or epoch seconds)",
    ]


def test_a_file_of_bad_rows_reports_a_few_then_counts(tmp_path: Path) -> None:
    bad = [f"367001234,2023-01-01T00:{i // 60:02d}:{i % 60:02d},x,-90.0,0,0,511,,,,70,0,,,,,A"
           for i in range(50)]
    path = write(tmp_path, "broken.csv", NOAA_HEADER, *bad,
                 "367001234,2023-01-01T01:00:00,29.9,-90.0,0,0,511,,,,70,0,,,,,A")
    reports, stats = read(path)
    assert len(positions(reports)) == 1  # the good row after fifty bad ones
    assert stats.rejects == {"malformed_csv_row": 50}
    assert len(stats.notes) == REPORTED_PER_FILE + 1
    assert stats.notes[0] == f"{path}:2:3: LAT: 'x' is not a number"
    assert stats.notes[-1] == f"{path}: 30 more bad rows not shown (50 in all, counted as malformed_csv_row)"


def test_a_quoted_name_over_two_lines_reports_the_line_its_row_ends_on(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", "mmsi,time,lat,lon,name",
                 '273355410,2014-04-16T19:57:19,42.9,132.8,"TWO',
                 'LINES"', "273355410,2014-04-16T19:58:19,x,132.8,ONE")
    reports, stats = read(path)
    assert [s.name for s in reports if isinstance(s, StaticReport)] == ["TWO\nLINES"]  # the bad row: none
    assert stats.notes == [f"{path}:4:3: lat: 'x' is not a number"]


def test_semicolons_gzip_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv.gz"
    body = "\ufeffmmsi;time;lat;lon;sog\n273355410;2014-04-16 19:57:19;42,9;132.8;1\n" \
           "273355410;2014-04-16 19:58:19;42.9;132.8;1\n"
    path.write_bytes(gzip.compress(body.encode("utf-8")))
    assert detect_format(path) == "csv"
    stats = IngestStats()
    with gzip.open(path) as fh:
        reports = [r for _, found in csv_reports(path, fh, "t", stats, CsvOptions()) for r in found]
    assert [(p.mmsi, p.lat) for p in positions(reports)] == [(273355410, 42.9)]
    assert stats.notes == [f"{path}:2:3: lat: '42,9' is not a number"]  # a decimal comma is not guessed


def test_dma_rows_read_as_before(tmp_path: Path) -> None:
    path = write(tmp_path, "aisdk.csv", DMA_HEADER,
                 "12/11/2023 12:00:01,Class A,219000734,55.676100,12.568300,Under way using engine,0.0,10.2,"
                 "123.4,122,9179842,OXYZ2,NORDIC STAR,Cargo,,20,120,GPS,6.5,AARHUS,,AIS,100,20,10,10",
                 "12/11/2023 12:00:02,Base Station,2190047,55.7,12.6,Unknown value,,,,,,,,,,,,,,,,AIS,,,,")
    reports, stats = read(path)
    (fix,) = positions(reports)
    assert (fix.time, fix.nav_status, fix.heading) == (utc(2023, 11, 12, 12, 0, 1), 0, 122)
    (static,) = [r for r in reports if isinstance(r, StaticReport)]
    assert (static.to_bow, static.to_stern, static.draught, static.ship_type) == (100, 20, 6.5, None)
    assert stats.other_types == 1 and stats.rejects == {}


# ------------------------------------------------------------------------------------- whole files
def test_check_files_refuses_csv_options_for_nmea(tmp_path: Path) -> None:
    nmea = write(tmp_path, "log.nmea", "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A")
    with pytest.raises(ReplayError, match="--columns and --dayfirst are for CSV files; this one is nmea"):
        check_files([nmea], "auto", CsvOptions({"mmsi": "ID"}))
    check_files([nmea], "auto", CsvOptions())


def test_check_files_names_a_missing_file_and_an_empty_csv(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=r"nothere\.csv: no such file"):
        check_files([tmp_path / "nothere.csv"], "auto")
    empty = write(tmp_path, "empty.csv", "")
    with pytest.raises(ReplayError, match=r"empty\.csv: empty: no CSV header"):
        check_files([empty], "csv")


def test_an_unmapped_header_is_detected_as_csv_so_its_error_is_about_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "analyst.csv", MAPPED_HEADER, "273355410,05/04/2014 19:57:19,42.9,132.8,10")
    assert detect_format(path) == "csv"
    with pytest.raises(ReplayError, match="unknown CSV layout"):
        check_files([path], "auto")
    amsa = write(tmp_path, "cts.csv", AMSA_HEADER, AMSA_ROW)
    with pytest.raises(ReplayError, match="AMSA craft tracking data"):
        check_files([amsa], "auto")


def test_amsa_mapped_by_hand_still_loads_nothing_false(tmp_path: Path) -> None:
    """CRAFT_ID forced in as the MMSI: each row is refused as no MMSI, none becomes a vessel."""
    amsa = write(tmp_path, "cts.csv", AMSA_HEADER, AMSA_ROW)
    reports, stats = read(amsa, CsvOptions({"mmsi": "CRAFT_ID"}, dayfirst=True))
    assert reports == [] and stats.rejects == {"malformed_csv_row": 1}
    assert "is not an MMSI" in stats.notes[0]

