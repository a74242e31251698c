"""CSV exports of AIS positions into the one model (PositionReport / StaticReport), for `ais-watch replay`.

A file's columns come from its layout, recognised by the header: the Danish Maritime Authority's
(aisdk, day-first times), NOAA MarineCadastre's (both its 2015-2024 and its 2025 headers), and
ais-watch's own (`track --format csv`, and any file whose header uses the field names below). Any other
file names its columns with `--columns mmsi=ID,time=ais_pos_timestamp,...`, which also overrides a
layout's choice. AMSA's craft tracking exports are recognised and refused: their CRAFT_ID is an
anonymised vessel id, not an MMSI.

Times: ISO 8601, dd/mm/yyyy (with --dayfirst, or a day-first layout) or mm/dd/yyyy with an optional
AM/PM, or epoch seconds or milliseconds; a time without an offset is UTC. Before a file is read its
first rows are checked for dates that only read the other way round (a 13 where the month goes), so a
day-first file is not loaded month-first.

A row that cannot be read is counted (`malformed_csv_row`) and reported in one line,
`FILE:LINE:COLUMN: NAME: what`; the first few of a file are reported, then a count, and the rest of the
file still loads. A file that cannot be read at all (no MMSI, time or position column, an unknown
layout without --columns, a --columns naming a column it lacks) is a `ReplayError`: one line.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import isfinite
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from ais_watch.errors import ReplayError
from ais_watch.model import (
    IngestStats,
    PositionReport,
    Report,
    StaticReport,
    course_degrees,
    from_epoch,
    heading_degrees,
    imo_is_valid,
    mmsi_is_valid,
    position_problem,
    speed_knots,
    utc,
)

if TYPE_CHECKING:
    import gzip

# The fields a column can be mapped to (`--columns FIELD=COLUMN`); the first four are needed.
REQUIRED = ("mmsi", "time", "lat", "lon")
FIELDS = (*REQUIRED, "sog", "cog", "heading", "nav_status", "name", "imo", "callsign", "ship_type",
          "draught", "destination", "class", "to_bow", "to_stern", "to_port", "to_starboard")
REPORTED_PER_FILE = 20  # bad rows reported one by one; past that, counted
SAMPLE_ROWS = 2000  # rows read up front to tell day-first dates from month-first ones


@dataclass(frozen=True)
class CsvOptions:
    """What the command line says about CSV files: column names by field, and the order of dates (None:
    the layout's own, else month first)."""

    columns: dict[str, str] = field(default_factory=dict)
    dayfirst: bool | None = None


def parse_columns(text: str) -> dict[str, str]:
    """`mmsi=ID,time=ais_pos_timestamp` -> {"mmsi": "ID", "time": "ais_pos_timestamp"}."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        name, sep, column = part.partition("=")
        name, column = name.strip().lower(), column.strip()
        if not sep or not name or not column:
            raise ReplayError(f"--columns: {part.strip()!r} is not FIELD=COLUMN")
        if name not in FIELDS:
            raise ReplayError(f"--columns: no field {name!r}; the fields are {', '.join(FIELDS)}")
        if name in mapping:
            raise ReplayError(f"--columns: {name} given twice")
        mapping[name] = column
    return mapping


# ----------------------------------------------------------------------------------------- layouts
def _norm(name: str) -> str:
    """A header name compared loosely: '# Timestamp' = 'timestamp', 'base_date_time' = 'BaseDateTime'."""
    return name.strip().lstrip("\ufeff").lstrip("#").strip().lower().replace(" ", "").replace("_", "")


@dataclass(frozen=True)
class Layout:
    name: str
    signature: tuple[str, ...]  # normalised header names that identify it
    columns: dict[str, tuple[str, ...]]  # field -> normalised header names it may have
    dayfirst: bool = False


# DMA, aisdk-YYYY-MM-DD.csv: '# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,
# COG,Heading,IMO,Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,Draught,
# Destination,ETA,Data source type,A,B,C,D', times '31/12/2015 23:59:59' (day first).
DMA = Layout("Danish Maritime Authority", ("timestamp", "typeofmobile", "mmsi", "latitude", "longitude"), {
    "time": ("timestamp",), "mmsi": ("mmsi",), "lat": ("latitude",), "lon": ("longitude",), "sog": ("sog",),
    "cog": ("cog",), "heading": ("heading",), "nav_status": ("navigationalstatus",), "name": ("name",),
    "imo": ("imo",), "callsign": ("callsign",), "ship_type": ("shiptype",), "draught": ("draught",),
    "destination": ("destination",), "class": ("typeofmobile",), "to_bow": ("a", "sizea"),
    "to_stern": ("b", "sizeb"), "to_port": ("c", "sizec"), "to_starboard": ("d", "sized"),
}, dayfirst=True)
# NOAA MarineCadastre, AIS_YYYY_MM_DD.csv: 'MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,
# VesselType,Status,Length,Width,Draft,Cargo,TransceiverClass' (2015-2024), and from 2025 'mmsi,
# base_date_time,longitude,latitude,sog,cog,heading,vessel_name,imo,call_sign,vessel_type,status,length,
# width,draft,cargo,transceiver' (longitude first); ISO times in UTC.
MARINECADASTRE = Layout("NOAA MarineCadastre", ("mmsi", "basedatetime"), {
    "mmsi": ("mmsi",), "time": ("basedatetime",), "lat": ("lat", "latitude"), "lon": ("lon", "longitude"),
    "sog": ("sog",), "cog": ("cog",), "heading": ("heading",), "nav_status": ("status",),
    "name": ("vesselname",), "imo": ("imo",), "callsign": ("callsign",), "ship_type": ("vesseltype",),
    "draught": ("draft",), "class": ("transceiverclass", "transceiver"),
})
# ais-watch's own names (`ais-watch track --format csv`, the fields of --columns), and their plain English
# spellings: a header that names mmsi, time, lat and lon so needs no mapping. It also names the fields
# --columns leaves out.
OWN = Layout("ais-watch", REQUIRED, {
    **{f: (_norm(f),) for f in FIELDS}, "time": ("time", "timestamp"), "lat": ("lat", "latitude"),
    "lon": ("lon", "longitude"), "sog": ("sog", "speed"), "cog": ("cog", "course"),
    "name": ("name", "vesselname", "shipname"), "ship_type": ("shiptype", "vesseltype"),
    "draught": ("draught", "draft"), "nav_status": ("navstatus", "status"),
})
LAYOUTS = (DMA, MARINECADASTRE)

# AMSA's monthly craft tracking data (CTS, as ogr2ogr writes its shapefile out): 'CRAFT_ID,LON,LAT,COURSE,
# SPEED,TYPE,SUBTYPE,LENGTH,BEAM,DRAUGHT,TIMESTAMP', no MMSI.
AMSA_SIGNATURE = ("craftid", "lon", "lat", "timestamp")


@dataclass(frozen=True)
class CsvPlan:
    """How one file is read: its delimiter, its header and the column of each field (0-based)."""

    path: str
    layout: str
    delimiter: str
    header: list[str]
    index: dict[str, int]
    dayfirst: bool

    def where(self, line: int, column: int) -> str:
        """'FILE:LINE:COLUMN: NAME' of a cell (the column counted from 1, named from the header)."""
        if column >= len(self.header):
            return f"{self.path}:{line}:{column + 1}"
        return f"{self.path}:{line}:{column + 1}: {self.header[column].strip()}"


def _delimiter(line: str) -> str:
    """The header's delimiter: the most frequent of comma, semicolon, tab and bar."""
    return max((",", ";", "\t", "|"), key=line.count)


def _header_text(header: list[str], limit: int = 160) -> str:
    text = ", ".join(h.strip() for h in header)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def plan(path: str, header: list[str], delimiter: str, options: CsvOptions) -> CsvPlan:
    """The columns of a file from its header, its layout and the options; ReplayError when it cannot be
    read (what is missing, and how to say where it is)."""
    normalised = [_norm(h) for h in header]
    names = set(normalised)
    layout = next((lay for lay in LAYOUTS if names.issuperset(lay.signature)), None)
    if layout is None and all(any(c in names for c in OWN.columns[f]) for f in REQUIRED):
        layout = OWN
    if layout is None and not options.columns:
        if names.issuperset(AMSA_SIGNATURE) and "mmsi" not in names:
            raise ReplayError(f"{path}: AMSA craft tracking data: its CRAFT_ID is an anonymised vessel id, "
                              "not an MMSI, so its tracks cannot be told apart or watched; it is not loaded")
        raise ReplayError(f"{path}: unknown CSV layout (columns: {_header_text(header)}); name its columns "
                          "with --columns mmsi=COLUMN,time=COLUMN,lat=COLUMN,lon=COLUMN")
    index: dict[str, int] = {}
    for name, choices in (layout or OWN).columns.items():
        found = next((normalised.index(c) for c in choices if c in names), None)
        if found is not None:
            index[name] = found
    for name, column in options.columns.items():
        stripped = [h.strip() for h in header]
        if column.strip() in stripped:
            index[name] = stripped.index(column.strip())
        elif _norm(column) in names:
            index[name] = normalised.index(_norm(column))
        else:
            raise ReplayError(f"{path}: --columns {name}={column}: no such column (columns: "
                              f"{_header_text(header)})")
    missing = [f for f in REQUIRED if f not in index]
    if missing:
        raise ReplayError(f"{path}: no column for {', '.join(missing)} (columns: {_header_text(header)}); "
                          f"name it with --columns {missing[0]}=COLUMN")
    dayfirst = options.dayfirst if options.dayfirst is not None else (layout is not None and layout.dayfirst)
    label = f"{layout.name} layout" if layout is not None else "columns"
    if options.columns:
        label += " as --columns maps them"
    return CsvPlan(path, label, delimiter, header, index, dayfirst)


# ------------------------------------------------------------------------------------------- times
_SLASHED = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?(?:\s*([AaPp])\.?[Mm]\.?)?)?\s*(?:Z|UTC)?")
_EPOCH = re.compile(r"(\d{9,13})(\.\d+)?")


class TimeError(ValueError):
    """A time cell that cannot be read; `order` says which way round its date would read, if either."""

    def __init__(self, message: str, order: str | None = None) -> None:
        super().__init__(message)
        self.order = order  # "dayfirst" or "monthfirst": the only way this date reads


def date_order(text: str) -> str | None:
    """'dayfirst' or 'monthfirst' for a dd/mm or mm/dd date that reads only one way (a part over 12),
    else None (ambiguous, or not such a date)."""
    match = _SLASHED.fullmatch(text.strip())
    if match is None:
        return None
    first, second = int(match.group(1)), int(match.group(3))
    if first > 12 >= second:
        return "dayfirst"
    if second > 12 >= first:
        return "monthfirst"
    return None


def parse_time(text: str, dayfirst: bool) -> datetime:
    """A CSV time cell as an aware UTC datetime (naive times are UTC). TimeError says what is wrong."""
    try:
        return _parse_time(text, dayfirst)
    except OverflowError:  # before year 1 or after 9999 once in UTC, or an epoch past them
        raise TimeError(f"{text.strip()!r} is out of the range of dates") from None


def _parse_time(text: str, dayfirst: bool) -> datetime:
    value = text.strip()
    if len(value) >= 10 and value[4] == "-":  # ISO 8601, the common case: first
        try:
            return utc(datetime.fromisoformat(value.removesuffix("UTC").strip().replace("Z", "+00:00")))
        except ValueError:
            pass
    else:
        match = _SLASHED.fullmatch(value)
        if match is not None:
            return _slashed(value, match, dayfirst)
        if _EPOCH.fullmatch(value):
            seconds = float(value)
            return from_epoch(seconds / 1000 if len(value.partition(".")[0]) >= 12 else seconds)
    if not value:
        raise TimeError("no time")
    raise TimeError(f"{value!r} is not a time (ISO 8601, dd/mm/yyyy with --dayfirst, mm/dd/yyyy, or epoch "
                    "seconds)")


def _slashed(value: str, match: re.Match[str], dayfirst: bool) -> datetime:
    first, _, second, year, hour, minute, sec, fraction, half = match.groups()
    day, month = (int(first), int(second)) if dayfirst else (int(second), int(first))
    if month > 12:
        order = date_order(value)
        if dayfirst:
            raise TimeError(f"{value!r} has no month {month} read day first (dd/mm/yyyy)", order)
        raise TimeError(f"{value!r} has no month {month} read month first (mm/dd/yyyy); day-first dates "
                        "need --dayfirst", order)
    h = int(hour or 0)
    if half is not None:
        if not 1 <= h <= 12:
            raise TimeError(f"{value!r}: hour {h} with AM/PM")
        h = h % 12 + (12 if half in "Pp" else 0)
    try:
        when = datetime(int(year), month, day, tzinfo=UTC)
    except ValueError as err:
        raise TimeError(f"{value!r}: {err}") from None
    if h > 23 or int(minute or 0) > 59 or int(sec or 0) > 60:
        raise TimeError(f"{value!r}: no such time of day")
    return when + timedelta(hours=h, minutes=int(minute or 0), seconds=int(sec or 0) + float(fraction or 0))


def check_date_order(rows: Iterator[tuple[int, list[str]]], plan_: CsvPlan) -> None:
    """Refuse a file whose dates read only the other way round in its first rows (and never this way):
    loaded as it is, its days 1-12 would land in the wrong month without a word."""
    column = plan_.index["time"]
    wrong = "monthfirst" if plan_.dayfirst else "dayfirst"
    first_wrong: tuple[int, str] | None = None
    for line, row in rows:
        if column >= len(row):
            continue
        order = date_order(row[column])
        if order is None:
            continue
        if order != wrong:
            return  # a date that reads only this way: the order is right (a bad row is reported later)
        if first_wrong is None:
            first_wrong = (line, row[column].strip())
    if first_wrong is not None:
        line, cell = first_wrong
        hint = ("the file's dates are month-first (mm/dd/yyyy); drop --dayfirst" if plan_.dayfirst
                else "the file's dates are day-first (dd/mm/yyyy); give --dayfirst")
        raise ReplayError(f"{plan_.where(line, column)}: {cell!r} reads only "
                          f"{'month' if wrong == 'monthfirst' else 'day'} first: {hint}")


# ------------------------------------------------------------------------------------------- rows
class RowError(ValueError):
    """A row that cannot be read: the field (or the column) where, and what is wrong."""

    def __init__(self, field_name: str | None, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.field = field_name
        self.column = column


_PLACEHOLDERS = frozenset({"", "unknown", "undefined", "n/a", "na", "none", "nan", "null"})
_NOT_VESSELS = frozenset({"BASE STATION", "ATON", "SAR AIRBORNE", "SEARCH AND RESCUE TRANSPONDER"})
_DMA_STATUS = {
    "under way using engine": 0, "at anchor": 1, "not under command": 2,
    "restricted maneuverability": 3, "restricted manoeuvrability": 3, "constrained by her draught": 4,
    "moored": 5, "aground": 6, "engaged in fishing": 7, "under way sailing": 8,
    "ais-sart": 14, "unknown value": 15, "unknown": 15,
}


def _text(value: str | None) -> str | None:
    """A text cell, with the layouts' placeholders for "not known" (DMA writes 'Unknown') as None."""
    text = (value or "").strip()
    return None if text.lower() in _PLACEHOLDERS else text


def _number(value: str | None, field_name: str) -> float | None:
    if not value:
        return None
    try:  # the common case first: a number (float() takes the spaces round it)
        number = float(value)
    except ValueError:
        text = _text(value)
        if text is None:  # a placeholder: not known
            return None
        raise RowError(field_name, f"{text!r} is not a number") from None
    if not math.isfinite(number):  # NaN, inf: not a value any AIS field holds
        return None
    return number


def _digits(text: str, most: int) -> int | None:
    """A whole number of at most `most` ASCII digits, else None: str.isdigit() alone passes '²', which
    int() refuses, and 5,000 digits, past int()'s limit."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= most else None


def _mmsi(value: str | None) -> int:
    text = (value or "").strip()
    try:
        number = float(text) if "." in text or "e" in text.lower() else int(text)
        if not math.isfinite(number) or number != int(number):
            raise ValueError(text)
    except ValueError:
        raise RowError("mmsi", f"{text!r} is not an MMSI" if text else "no MMSI") from None
    if number != int(number) or not 0 < number <= 999_999_999:
        raise RowError("mmsi", f"{text!r} is not an MMSI (a whole number of up to 9 digits)")
    return int(number)


# Cells read once and remembered by their text, for each file: a daily export repeats each second's time
# in tens of rows, its statuses and classes in every row, and its position rows' empty identity cells. The
# caches are bounded, so odd files cost time, never memory: 64k times (most of a day's 86,400 seconds, for
# a file not in time order; about 10 MB) and then emptied, the other cells' first 1,024 kept.
_TIMES_KEPT = 1 << 16
_CELLS_KEPT = 1024
_NOT_SEEN = -1  # a status not looked up yet (a status is 0-15 or None)
assert FIELDS == ("mmsi", "time", "lat", "lon", "sog", "cog", "heading", "nav_status", "name", "imo",
                  "callsign", "ship_type", "draught", "destination", "class", "to_bow", "to_stern", "to_port",
                  "to_starboard"), "RowReader._reports unpacks a row's cells in this order"


class RowReader:
    """Rows of one planned file into reports, counting (and reporting the first few of) the bad ones.

    This runs once a row, millions of times a day of exports, in the decode worker: the cells come out of
    the row in one call, a cell that is read as it usually is (a number, a plain MMSI) is read inline, and
    anything else goes through the same functions as always (_mmsi, _number, parse_time), which say what is
    wrong in the same words and order."""

    def __init__(self, plan_: CsvPlan, source: str, stats: IngestStats) -> None:
        self.plan = plan_
        self.source = source
        self.stats = stats
        self.received_at = datetime.now(UTC)
        self.bad_rows = 0
        self._width = len(plan_.header)
        # Every field's cell in FIELDS order in one call (the width is checked first, so every column is
        # there); a field without a column reads the empty cell put at the end of each row (index -1).
        self._pick = itemgetter(*(plan_.index.get(name, -1) for name in FIELDS))
        self._times: dict[str, datetime] = {}
        self._statuses: dict[str, int | None] = {}
        self._kinds: dict[str, int] = {}  # class cell -> message type, 0 for a station that is not a vessel
        self._no_identity: set[tuple[str, str, str]] = set()  # (name, call sign, IMO) cells that say nothing

    def read(self, line: int, row: list[str]) -> list[Report]:
        if row is BROKEN_ROW:
            self._bad(f"{self.plan.where(line, 0)}: a quoted field never closed "
                      f"(past {csv.field_size_limit():,} characters)")
            return []
        try:
            return self._reports(row)
        except RowError as err:
            column = err.column if err.column is not None else self.plan.index[err.field or "mmsi"]
            self._bad(f"{self.plan.where(line, column)}: {err}")
        except TimeError as err:
            self._bad(f"{self.plan.where(line, self.plan.index['time'])}: {err}")
        return []

    def _bad(self, text: str) -> None:
        self.stats.reject("malformed_csv_row")
        self.bad_rows += 1
        if self.bad_rows <= REPORTED_PER_FILE:
            self.stats.note(text)

    def finish(self) -> None:
        hidden = self.bad_rows - REPORTED_PER_FILE
        if hidden > 0:
            self.stats.note(f"{self.plan.path}: {hidden:,} more bad rows not shown "
                            f"({self.bad_rows:,} in all, counted as malformed_csv_row)")

    def _reports(self, row: list[str]) -> list[Report]:
        width = len(row)
        if width != self._width:
            while width > self._width and not row[width - 1].strip():
                width -= 1  # trailing empty cells past the header's: a trailing delimiter, harmless
            if width != self._width:  # a name with an unquoted delimiter shifts every cell after it
                raise RowError(None, f"{width} fields where the header has {self._width}",
                               column=min(width, self._width))
        row.append("")  # the cell of the fields without a column
        (mmsi_cell, time_cell, lat_cell, lon_cell, sog_cell, cog_cell, heading_cell, status_cell, name_cell,
         imo_cell, call_sign_cell, ship_type_cell, draught_cell, destination_cell, class_cell, *dimensions
         ) = self._pick(row)
        # A plain MMSI inline; anything else (spaces, a decimal point, 0, too long) as _mmsi reads it.
        mmsi = int(mmsi_cell) if mmsi_cell.isdigit() and mmsi_cell.isascii() and len(mmsi_cell) <= 9 else 0
        if not mmsi:
            mmsi = _mmsi(mmsi_cell)
        when = self._times.get(time_cell)
        if when is None:
            when = parse_time(time_cell, self.plan.dayfirst)
            if len(self._times) >= _TIMES_KEPT:
                self._times.clear()
            self._times[time_cell] = when
        try:  # the numbers as they usually are; NaN and inf read as not known (below, and in the rules)
            lat = float(lat_cell) if lat_cell else None
            lon = float(lon_cell) if lon_cell else None
            sog = float(sog_cell) if sog_cell else None
            cog = float(cog_cell) if cog_cell else None
            heading = float(heading_cell) if heading_cell else None
        except ValueError:  # a placeholder, or not a number: the first such cell says so, as always
            lat, lon = _number(lat_cell, "lat"), _number(lon_cell, "lon")
            sog, cog = _number(sog_cell, "sog"), _number(cog_cell, "cog")
            heading = _number(heading_cell, "heading")
        # speed_knots, course_degrees and heading_degrees read NaN and inf as not known, as _number does; a
        # position needs them read here (NaN is no position, not an impossible one).
        if lat is not None and not isfinite(lat):
            lat = None
        if lon is not None and not isfinite(lon):
            lon = None
        stats = self.stats
        stats.messages += 1
        msg_type = self._kinds.get(class_cell)
        if msg_type is None:
            msg_type = _kind(class_cell)
            if len(self._kinds) < _CELLS_KEPT:
                self._kinds[class_cell] = msg_type
        if not msg_type:  # DMA logs base stations, AtoNs and SAR aircraft with the ships
            stats.other_types += 1
            return []
        valid_mmsi = mmsi_is_valid(mmsi)
        if not valid_mmsi:
            stats.flag("invalid_mmsi")
        reports: list[Report] = []
        problem = position_problem(lat, lon)
        if problem is not None:
            stats.reject(problem)
        else:
            assert lat is not None and lon is not None  # position_problem() says so
            status = self._statuses.get(status_cell, _NOT_SEEN)
            if status == _NOT_SEEN:
                status = _status(status_cell)
                if len(self._statuses) < _CELLS_KEPT:
                    self._statuses[status_cell] = status
            reports.append(PositionReport(
                mmsi=mmsi, time=when, lat=lat, lon=lon, sog=speed_knots(sog, msg_type),
                cog=course_degrees(cog), heading=heading_degrees(heading), nav_status=status,
                msg_type=msg_type, source=self.source, received_at=self.received_at, mmsi_valid=valid_mmsi))
        identity = (name_cell, call_sign_cell, imo_cell)
        if identity not in self._no_identity:
            static = self._static(identity, ship_type_cell, draught_cell, destination_cell, dimensions, mmsi,
                                  when, valid_mmsi)
            if static is not None:
                reports.append(static)
        if reports:
            stats.decoded += 1
        return reports

    def _static(self, identity: tuple[str, str, str], ship_type_cell: str, draught_cell: str,
                destination_cell: str, dimensions: list[str], mmsi: int, when: datetime, valid_mmsi: bool
                ) -> StaticReport | None:
        name_cell, call_sign_cell, imo_cell = identity
        name, call_sign = _text(name_cell), _text(call_sign_cell)
        imo_text = imo_cell.strip().upper().removeprefix("IMO").strip()
        imo = _digits(imo_text, 9) or None
        if name is None and call_sign is None and imo is None:
            if len(self._no_identity) < _CELLS_KEPT:
                self._no_identity.add(identity)
            return None
        report = StaticReport(mmsi=mmsi, time=when, msg_type=5, source=self.source,
                              received_at=self.received_at, name=name, call_sign=call_sign, imo=imo,
                              mmsi_valid=valid_mmsi)
        if imo is not None:
            report.imo_valid = imo_is_valid(imo)
            if not report.imo_valid:
                self.stats.flag("invalid_imo")
        report.ship_type = _digits(ship_type_cell.strip(), 3)  # DMA names it: 'Cargo'
        try:  # identity extras: a bad one is left out, the position and name still count
            report.draught = _number(draught_cell, "draught") or None
            a, b, c, d = (_number(cell, name)
                          for cell, name in zip(dimensions, ("to_bow", "to_stern", "to_port", "to_starboard"),
                                                strict=True))
        except RowError:
            a = b = c = d = None
        report.to_bow, report.to_stern = (int(a) if a else None), (int(b) if b else None)
        report.to_port, report.to_starboard = (int(c) if c else None), (int(d) if d else None)
        report.destination = _text(destination_cell)
        return report


def _kind(cell: str) -> int:
    """The message type a row's class cell stands for: 18 (class B), 1, or 0 for a station that is not a
    vessel."""
    mobile = cell.strip().upper()
    if mobile in _NOT_VESSELS:
        return 0
    return 18 if mobile in ("B", "CLASS B") else 1


def _status(cell: str) -> int | None:
    text = cell.strip()
    if text.isdigit():
        status = _digits(text, 2)
        return status if status is not None and status <= 15 else None
    return _DMA_STATUS.get(text.lower()) if text else None


# ------------------------------------------------------------------------------------------- files
BROKEN_ROW: list[str] = ["\x00"]  # the row csv could not read (compared by identity)
def _rows(text: io.TextIOBase, delimiter: str, header_lines: int) -> Iterator[tuple[int, list[str]]]:
    """(line number in the file where the row ends, cells) of each row after the header."""
    reader = csv.reader(text, delimiter=delimiter)
    while True:
        try:  # a for loop, which is cheaper a row than next(), resumed after a row csv cannot read
            for row in reader:
                yield header_lines + reader.line_num, row
            return
        except csv.Error:  # a quote never closed, past the field limit: that row, not the file
            yield header_lines + reader.line_num, BROKEN_ROW


def open_csv(path: Path, binary: io.BufferedReader | gzip.GzipFile, options: CsvOptions
             ) -> tuple[CsvPlan, Iterator[tuple[int, list[str]]]]:
    """The file's plan and its data rows; ReplayError when it cannot be read."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
    first, lines = text.readline(), 1
    while first and not first.strip():
        first, lines = text.readline(), lines + 1
    if not first:
        raise ReplayError(f"{path}: empty: no CSV header")
    delimiter = _delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter))
    return plan(str(path), header, delimiter, options), _rows(text, delimiter, lines)


def check_csv(path: Path, binary: io.BufferedReader | gzip.GzipFile, options: CsvOptions) -> CsvPlan:
    """Everything that makes a file unusable, found before anything is loaded: its header and mapping,
    and dates the wrong way round in its first rows."""
    plan_, rows = open_csv(path, binary, options)
    sample = (item for _, item in zip(range(SAMPLE_ROWS), rows, strict=False))
    check_date_order(sample, plan_)
    return plan_


def csv_reports(path: Path, binary: io.BufferedReader | gzip.GzipFile, source: str, stats: IngestStats,
                options: CsvOptions, where: Callable[[], int] | None = None, every: int = 1024
                ) -> Iterator[tuple[bytes, list[Report]]]:
    """Each row of a CSV file with its reports (runs in the decode worker process). With `where` (how far
    the file is read on disk), stats.bytes_read follows it every `every` rows, for the replay's progress:
    here rather than in a generator round this one, which would cost every row."""
    plan_, rows = open_csv(path, binary, options)
    stats.lines += 1  # the header
    start = stats.bytes_read
    reader = RowReader(plan_, source, stats)
    read = reader.read
    for line, row in rows:
        stats.lines += 1
        if where is not None and not stats.lines % every:
            stats.bytes_read = start + where()
        # Blank: no cells, or only spaces (the first cell tells most rows apart at once).
        if not row or (not row[0].strip() and not any(cell.strip() for cell in row)):
            yield b"", []
            continue
        yield b"", read(line, row)
    reader.finish()
