"""Recorded traffic through the same pipeline, on event time: NMEA (plain or .gz), aisstream JSON
lines, and CSV in the Danish Maritime Authority and NOAA MarineCadastre column layouts."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ais_watch.decode import NmeaDecoder
from ais_watch.errors import AisWatchError, DecodeError
from ais_watch.model import (
    IngestStats,
    PositionReport,
    Report,
    StaticReport,
    course_degrees,
    heading_degrees,
    imo_is_valid,
    mmsi_is_valid,
    position_problem,
    speed_knots,
)
from ais_watch.sources.base import Emit
from ais_watch.sources.decode_worker import DecodeWorker

if TYPE_CHECKING:  # imported when a progress bar is asked for
    from tqdm import tqdm

log = logging.getLogger(__name__)

FORMATS = ("auto", "nmea", "aisstream", "csv")
SOURCE_PREFIX = "replay:"  # a replayed position's source is "replay:<file name>" (retention knows it by that)


class ReplayError(AisWatchError):
    """A replay file cannot be read at all (missing, unknown format)."""


def open_binary(path: Path) -> io.BufferedReader | gzip.GzipFile:
    """The file's bytes, gunzipped when it starts with the gzip magic number (whatever its name)."""
    try:
        raw = path.open("rb")
    except OSError as err:
        raise ReplayError(f"{path}: {err.strerror or err}") from err
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw)
    raw.seek(0)
    return raw


def detect_format(path: Path) -> str:
    with open_binary(path) as fh:
        for _ in range(50):
            line = fh.readline()
            if not line:
                break
            text = line.strip().lstrip(b"\xef\xbb\xbf")
            if not text or (text.startswith(b"#") and b"," not in text):
                continue
            if text[:1] == b"{":
                return "aisstream"
            if b"VDM," in text or b"VDO," in text or text[:1] in (b"\\", b"$", b"!"):
                return "nmea"
            lowered = text.lower()
            if b"mmsi" in lowered and b"," in lowered:
                return "csv"
    raise ReplayError(f"{path}: cannot tell its format; give --format nmea, aisstream or csv")


class Pacer:
    """Holds a replay to `speed` times real time, measured on event time; None means flat out."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self._origin: tuple[datetime, float] | None = None

    async def wait_for(self, event_time: datetime) -> None:
        if not self.speed:
            return
        if self._origin is None:
            self._origin = (event_time, time.monotonic())
            return
        event0, wall0 = self._origin
        due = wall0 + (event_time - event0).total_seconds() / self.speed
        delay = due - time.monotonic()
        if delay > 0.005:
            await asyncio.sleep(delay)


def _progress(_lines_so_far: int, label: str, enabled: bool) -> tqdm[NoReturn] | None:
    """A lines-per-second bar on a terminal (the total is unknown for a compressed file)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(unit=" lines", unit_scale=True, desc=label, leave=False)


def file_reports(path: Path, fmt: str, source: str, decoder_options: dict[str, Any],
                 stats: IngestStats) -> Iterator[tuple[bytes, list[Report]]]:
    """Each line of a recording with the reports it completes. Runs in the decode worker process."""
    if fmt == "nmea":
        decoder = NmeaDecoder(source, stats, **decoder_options, require_event_time=True)
        return _nmea_lines(path, decoder)
    if fmt == "aisstream":
        return _aisstream_lines(path, source, stats)
    if fmt == "csv":
        return _csv_lines(path, source, stats)
    raise ReplayError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def start_decoding(path: Path, fmt: str, decoder_options: dict[str, Any] | None) -> DecodeWorker:
    """A worker process decoding the file, reading ahead (see DecodeWorker)."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ReplayError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    source = SOURCE_PREFIX + path.name
    return DecodeWorker(partial(file_reports, path, fmt, source, decoder_options or {}), path)


async def replay_file(worker: DecodeWorker, emit: Emit, stats: IngestStats, *, pacer: Pacer,
                      progress: bool = False) -> None:
    """Feed one file's reports to `emit`, in file order. Bad lines are counted, never fatal."""
    path = worker.path
    bar = _progress(stats.lines, path.name, progress)
    paced = bool(pacer.speed)
    try:
        async for reports, lines in worker.chunks(stats):
            for report in reports:
                if paced:
                    await pacer.wait_for(report.time)
                await emit(report)
            if bar is not None:
                bar.update(lines)
            await asyncio.sleep(0)  # let the store writer and the flusher run between chunks
    finally:
        if bar is not None:
            bar.close()


def _nmea_lines(path: Path, decoder: NmeaDecoder) -> Iterator[tuple[bytes, list[Report]]]:
    now = datetime.now(UTC)
    with open_binary(path) as fh:
        for line in fh:
            yield line, decoder.feed(line, now)
    decoder.close()


def _aisstream_lines(path: Path, source: str, stats: IngestStats) -> Iterator[tuple[bytes, list[Report]]]:
    from ais_watch.sources.aisstream import reports_from_aisstream

    now = datetime.now(UTC)
    with open_binary(path) as fh:
        for line in fh:
            stats.lines += 1
            if not line.strip():
                yield line, []
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                stats.reject("malformed_json")
                yield line, []
                continue
            if not isinstance(obj, dict):
                stats.reject("malformed_json")
                yield line, []
                continue
            yield line, reports_from_aisstream(obj, now, source, stats)


# --------------------------------------------------------------------------- CSV layouts
def _norm(name: str) -> str:
    return name.strip().lstrip("#").strip().lower().replace(" ", "").replace("_", "")


# DMA (Danish Maritime Authority, aisdata): '# Timestamp,Type of mobile,MMSI,Latitude,...'
# NOAA MarineCadastre: 'MMSI,BaseDateTime,LAT,LON,SOG,...' (2015-2023) or 'mmsi,base_date_time,...'.
_COLUMNS = {
    "time": ("timestamp", "basedatetime"),
    "mmsi": ("mmsi",),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon"),
    "sog": ("sog",),
    "cog": ("cog",),
    "heading": ("heading",),
    "status": ("navigationalstatus", "status"),
    "name": ("name", "vesselname"),
    "imo": ("imo",),
    "call_sign": ("callsign",),
    "ship_type": ("shiptype", "vesseltype"),
    "length": ("length",),
    "width": ("width",),
    "draught": ("draught", "draft"),
    "destination": ("destination",),
    "class": ("typeofmobile", "transceiverclass", "transceiver"),
    "a": ("a",), "b": ("b",), "c": ("c",), "d": ("d",),
}

_DMA_STATUS = {
    "under way using engine": 0, "at anchor": 1, "not under command": 2,
    "restricted maneuverability": 3, "restricted manoeuvrability": 3, "constrained by her draught": 4,
    "moored": 5, "aground": 6, "engaged in fishing": 7, "under way sailing": 8,
    "ais-sart": 14, "unknown value": 15, "unknown": 15,
}


def _column_index(header: list[str]) -> dict[str, int]:
    normalised = [_norm(h) for h in header]
    index: dict[str, int] = {}
    for key, names in _COLUMNS.items():
        for name in names:
            if name in normalised:
                index[key] = normalised.index(name)
                break
    missing = [k for k in ("time", "mmsi", "lat", "lon") if k not in index]
    if missing:
        raise DecodeError("csv_header", f"no column for {', '.join(missing)} in {header!r}")
    return index


def _csv_time(text: str) -> datetime:
    text = text.strip()
    if "/" in text:  # DMA: dd/mm/yyyy HH:MM:SS
        return datetime.strptime(text, "%d/%m/%Y %H:%M:%S").replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip()
    if not text or text.lower() in ("unknown", "undefined", "nan", "none"):
        return None
    return float(text)


def _csv_row(row: list[str], col: dict[str, int], source: str, now: datetime,
             stats: IngestStats) -> list[Report]:
    def get(key: str) -> str | None:
        i = col.get(key)
        return row[i] if i is not None and i < len(row) else None

    try:
        mmsi = int(float(get("mmsi") or ""))
        when = _csv_time(get("time") or "")
        lat, lon = _number(get("lat")), _number(get("lon"))
        sog, cog, heading = _number(get("sog")), _number(get("cog")), _number(get("heading"))
    except (ValueError, TypeError):
        stats.reject("malformed_csv_row")
        return []
    stats.messages += 1
    mobile = (get("class") or "").strip().upper()
    if mobile in _NOT_VESSELS:  # DMA logs base stations, AtoNs and SAR aircraft with the ships
        stats.other_types += 1
        return []
    msg_type = 18 if mobile in ("B", "CLASS B") else 1
    valid_mmsi = mmsi_is_valid(mmsi)
    if not valid_mmsi:
        stats.flag("invalid_mmsi")
    reports: list[Report] = []
    problem = position_problem(lat, lon)
    if problem is not None:
        stats.reject(problem)
    else:
        assert lat is not None and lon is not None  # position_problem() says so
        status_text = (get("status") or "").strip()
        status = (int(status_text) if status_text.isdigit()
                  else _DMA_STATUS.get(status_text.lower()) if status_text else None)
        reports.append(PositionReport(
            mmsi=mmsi, time=when, lat=lat, lon=lon,
            sog=speed_knots(sog, msg_type), cog=course_degrees(cog), heading=heading_degrees(heading),
            nav_status=status, msg_type=msg_type, source=source, received_at=now, mmsi_valid=valid_mmsi))
    static = _csv_static(get, mmsi, when, source, now, valid_mmsi, stats)
    if static is not None:
        reports.append(static)
    if reports:
        stats.decoded += 1
    return reports


_NOT_VESSELS = frozenset({"BASE STATION", "ATON", "SAR AIRBORNE", "SEARCH AND RESCUE TRANSPONDER"})
_PLACEHOLDERS = frozenset({"", "unknown", "undefined", "n/a", "none", "nan"})


def _csv_text(value: str | None) -> str | None:
    """A CSV text cell, with the layouts' placeholders for "not known" (DMA writes 'Unknown') as None."""
    text = (value or "").strip()
    return None if text.lower() in _PLACEHOLDERS else text


def _csv_static(get: Callable[[str], str | None], mmsi: int, when: datetime, source: str, now: datetime,
                valid_mmsi: bool, stats: IngestStats) -> StaticReport | None:
    name = _csv_text(get("name"))
    call_sign = _csv_text(get("call_sign"))
    imo_text = (get("imo") or "").strip().upper().removeprefix("IMO")
    imo = int(imo_text) if imo_text.isdigit() and int(imo_text) else None
    if name is None and call_sign is None and imo is None:
        return None
    report = StaticReport(mmsi=mmsi, time=when, msg_type=5, source=source, received_at=now,
                          name=name, call_sign=call_sign, imo=imo, mmsi_valid=valid_mmsi)
    if imo is not None:
        report.imo_valid = imo_is_valid(imo)
        if not report.imo_valid:
            stats.flag("invalid_imo")
    ship_type = (get("ship_type") or "").strip()
    report.ship_type = int(ship_type) if ship_type.isdigit() else None
    try:
        report.draught = _number(get("draught")) or None
        a, b, c, d = (_number(get(k)) for k in ("a", "b", "c", "d"))
    except ValueError:
        a = b = c = d = None
    report.to_bow, report.to_stern = (int(a) if a else None), (int(b) if b else None)
    report.to_port, report.to_starboard = (int(c) if c else None), (int(d) if d else None)
    report.destination = _csv_text(get("destination"))
    return report


def _csv_lines(path: Path, source: str, stats: IngestStats) -> Iterator[tuple[bytes, list[Report]]]:
    now = datetime.now(UTC)
    with open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        stats.lines += 1
        col = _column_index(header)
        for row in reader:
            stats.lines += 1
            if not row:
                yield b"", []
                continue
            yield b"," * len(row), _csv_row(row, col, source, now, stats)


async def replay_paths(paths: list[Path], fmt: str, emit: Emit, stats: IngestStats, *,
                       speed: float | None = None, decoder_options: dict[str, Any] | None = None,
                       progress: bool = False) -> None:
    """Replay the files in order; the next file decodes (on the other core) while this one is replayed."""
    pacer = Pacer(speed)
    workers: list[DecodeWorker] = []
    try:
        for i, path in enumerate(paths):
            if not workers:
                workers.append(start_decoding(path, fmt, decoder_options))
            if i + 1 < len(paths):
                workers.append(start_decoding(paths[i + 1], fmt, decoder_options))
            log.info("replaying %s", path)
            try:
                await replay_file(workers[0], emit, stats, pacer=pacer, progress=progress)
            except DecodeError as err:
                stats.reject(err.reason)
                raise ReplayError(f"{path}: {err.detail}") from err
            await workers.pop(0).close()
    finally:
        for worker in workers:
            await worker.close()
