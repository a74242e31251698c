"""Watchlist importers: the watchlist CSV (DESIGN.md), OFAC's SDN.CSV and OpenSanctions.

Each returns (entries, ImportReport): one entry per ship (a ship listed twice is merged), rows it could
not use counted by reason, and each problem with its line number. A file that is not the format at all
raises WatchlistError. Rows are never silently dropped.

OpenSanctions comes in two shapes, both read by `read_opensanctions`:
- FollowTheMoney entities, one JSON object per line (`entities.ftm.json`): only schema "Vessel" is
  used; its properties name, alias, previousName, weakAlias, imoNumber ("IMO9179842", "IMO 9179842" or
  "9179842"), mmsi, flag, topics, and the entity's top-level "datasets".
- The maritime collection's `maritime.csv`: columns type, caption, imo, risk, countries, flag, mmsi, id,
  url, datasets, aliases (as written by OpenSanctions' zavod/exporters/maritime.py; its dataset notes
  call the second column "name", also accepted), multiple values joined by ";", one row per IMO number.
  Rows of type ORGANIZATION carry a company IMO number, not a ship's, and are skipped.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ais_watch.model import imo_is_valid, mmsi_is_valid
from ais_watch.watchlist.entries import WatchEntry, WatchlistError, entry_key, merge_entries, normalise_name

FORMATS = ("auto", "csv", "ofac-sdn", "opensanctions")
CSV_COLUMNS = ("name", "imo", "mmsi", "flag", "reason", "source")
CSV_OPTIONAL = ("tags", "aliases", "dark_threshold_hours")
OFAC_COLUMNS = 12  # ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage, GRT,
#                    Vess_flag, Vess_owner, Remarks
MARITIME_NAME_COLUMNS = ("caption", "name")


@dataclass(slots=True)
class ImportReport:
    """What an import read and did. `read` = imported + updated + sum(skipped.values()) once stored."""

    read: int = 0  # data rows or entities read (blank lines and headers not counted)
    imported: int = 0  # new entries
    updated: int = 0  # entries that were already there (the same ship, now updated)
    skipped: dict[str, int] = field(default_factory=dict)  # by reason
    problems: list[str] = field(default_factory=list)  # "line 7: IMO 1234568 fails its check digit"

    def skip(self, reason: str, problem: str | None = None) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if problem:
            self.problems.append(problem)


def dedupe(entries: Sequence[tuple[int, WatchEntry]], report: ImportReport) -> list[WatchEntry]:
    """(line, entry) pairs -> entries, one per key: a ship listed twice is merged into its first row."""
    first_line: dict[str, int] = {}
    merged: dict[str, WatchEntry] = {}
    for line, entry in entries:
        key = entry.key
        if key in merged:
            merged[key] = merge_entries(merged[key], entry)
            report.skip("same ship as an earlier row (merged)",
                        f"line {line}: same ship as line {first_line[key]} ({key}): merged into it")
        else:
            merged[key], first_line[key] = entry, line
    return list(merged.values())


Result = tuple[list[WatchEntry], ImportReport]


# ------------------------------------------------------------------------------------------ values
def parse_imo(text: str) -> int:
    """"9179842", "IMO 9179842", "IMO9179842", "IMO: 9179842" -> 9179842; ValueError saying what is wrong."""
    value = text.strip().upper()
    value = value.removeprefix("IMO").strip().lstrip(":").strip()
    if not (value.isdigit() and len(value) == 7):
        raise ValueError(f"IMO {text.strip()!r} is not a 7-digit number")
    if not imo_is_valid(int(value)):
        raise ValueError(f"IMO {value} fails its check digit")
    return int(value)


def parse_mmsi(text: str) -> int:
    value = text.strip()
    if not (value.isdigit() and len(value) == 9 and mmsi_is_valid(int(value))):
        raise ValueError(f"MMSI {value!r} is not a valid 9-digit MMSI")
    return int(value)


def _split(text: str | None, sep: str = ";") -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(sep) if part.strip())


def _read_text(path: Path) -> str:
    """The file's text: UTF-8 (with or without BOM), else Windows-1252 (OFAC), else Latin-1."""
    data = path.read_bytes()
    _refuse_compressed(path, data[:4])
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _refuse_compressed(path: Path, head: bytes) -> None:
    if head.startswith(b"\x1f\x8b") or head.startswith(b"PK\x03\x04"):
        raise WatchlistError(f"{path}: compressed (gzip or zip): decompress it first")


def _csv_rows(text: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank record; the number is the record's first line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for row in reader:
        if any(cell.strip() for cell in row):
            yield line, row
        line = reader.line_num + 1


# --------------------------------------------------------------------------------- watchlist CSV
def _records(rows: Iterable[tuple[int, list[str]]], columns: list[str],
             report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """CSV rows as {column: stripped cell} with their line numbers; a row longer than the header is a
    problem reported with its line, a shorter one is padded with empty cells."""
    for line, row in rows:
        report.read += 1
        if len(row) > len(columns):
            report.skip("malformed row", f"line {line}: {len(row)} fields, the header has {len(columns)}")
            continue
        cells = [c.strip() for c in row] + [""] * (len(columns) - len(row))
        yield line, dict(zip(columns, cells, strict=True))


def read_csv(path: Path) -> Result:
    """The DESIGN.md watchlist CSV: header name,imo,mmsi,flag,reason,source; optional tags, aliases
    (both ;-separated) and dark_threshold_hours. A row needs an IMO, an MMSI or a name. A row whose IMO
    or MMSI is wrong (a typo, or a failed check digit) is skipped and reported."""
    path = Path(path)
    report = ImportReport()
    rows = iter(_csv_rows(_read_text(path)))
    _, header = next(rows, (0, []))
    columns = [h.strip().lower() for h in header]
    if not {"name", "imo", "mmsi"} <= set(columns):
        got = ",".join(header)[:120] or "an empty file"
        raise WatchlistError(f"{path}: not a watchlist CSV: the header must be {','.join(CSV_COLUMNS)} "
                             f"(optionally {', '.join(CSV_OPTIONAL)}); got {got}")
    unknown = [c for c in columns if c not in CSV_COLUMNS + CSV_OPTIONAL]
    if unknown:
        report.problems.append(f"line 1: columns ignored: {', '.join(unknown)}")
    found: list[tuple[int, WatchEntry]] = []
    for line, values in _records(rows, columns, report):
        try:
            imo = parse_imo(values["imo"]) if values["imo"] else None
        except ValueError as err:
            report.skip("bad IMO", f"line {line}: {err}")
            continue
        try:
            mmsi = parse_mmsi(values["mmsi"]) if values["mmsi"] else None
        except ValueError as err:
            report.skip("bad MMSI", f"line {line}: {err}")
            continue
        threshold = None
        if values.get("dark_threshold_hours"):
            try:
                threshold = float(values["dark_threshold_hours"]) * 3600.0
                if not threshold > 0:
                    raise ValueError
            except ValueError:
                report.skip("bad dark_threshold_hours", f"line {line}: dark_threshold_hours "
                            f"{values['dark_threshold_hours']!r} is not a positive number of hours")
                continue
        name = values["name"] or None
        if entry_key(imo, mmsi, name) is None:
            report.skip("no IMO, MMSI or name", f"line {line}: no IMO, MMSI or name")
            continue
        found.append((line, WatchEntry(
            name=name, imo=imo, mmsi=mmsi, flag=values.get("flag") or None,
            reason=values.get("reason") or None,
            source=values.get("source") or f"file {path.name}", aliases=_split(values.get("aliases")),
            tags=_split(values.get("tags")), dark_threshold=threshold)))
    return dedupe(found, report), report


# -------------------------------------------------------------------------------------- OFAC SDN
_OFAC_IMO = re.compile(r"Vessel Registration Identification IMO\s+([^;]*?)(?:;|\.?$)")
_OFAC_MMSI = re.compile(r"\bMMSI\s+([^;]*?)(?:;|\.?$)")
_OFAC_AKA = re.compile(r"\b[afn]\.k\.a\.\s+'([^']+)'")


def _ofac_cell(text: str) -> str:
    value = text.strip()
    return "" if value == "-0-" else value


def read_ofac_sdn(path: Path) -> Result:
    """OFAC's legacy SDN.CSV (no header, 12 columns, "-0- " empty, CRLF, Windows-1252). Vessel rows only:
    IMO and MMSI from Remarks, a.k.a./f.k.a. names as aliases, the flag from Vess_flag; the reason is
    the program and who the ship is linked to. Companies' "Identification Number IMO" (a company number)
    is never read. An IMO or MMSI that fails its check is reported and the ship kept by what remains,
    since a list we cannot correct should not lose a sanctioned ship."""
    path = Path(path)
    report = ImportReport()
    found: list[tuple[int, WatchEntry]] = []
    seen_record = False
    for line, row in _csv_rows(_read_text(path)):
        if len(row) == 1 and row[0].strip() in ("\x1a", ""):  # SDN.CSV ends with a DOS end-of-file mark
            continue
        if not seen_record and row[0].strip().lower() == "ent_num":  # a header someone added
            continue
        if len(row) != OFAC_COLUMNS or not row[0].strip().isdigit():
            if not seen_record:
                raise WatchlistError(f"{path}: not an OFAC SDN CSV (legacy SDN.CSV: no header, "
                                     f"{OFAC_COLUMNS} columns, the first the entity number); line {line} "
                                     f"has {len(row)} fields starting {row[0][:30]!r}")
            report.read += 1
            report.skip("malformed row", f"line {line}: {len(row)} fields, expected {OFAC_COLUMNS}")
            continue
        seen_record = True
        report.read += 1
        ent_num, name, sdn_type, program, *_ = (_ofac_cell(cell) for cell in row)
        if sdn_type.lower() != "vessel":
            report.skip("not a vessel")
            continue
        remarks = _ofac_cell(row[11])
        imo = mmsi = None
        if (found_imo := _OFAC_IMO.search(remarks)) is not None:
            try:
                imo = parse_imo(found_imo.group(1))
            except ValueError as err:
                report.problems.append(f"line {line}: {name}: {err}; kept without it")
        if (found_mmsi := _OFAC_MMSI.search(remarks)) is not None:
            try:
                mmsi = parse_mmsi(found_mmsi.group(1))
            except ValueError as err:
                report.problems.append(f"line {line}: {name}: {err}; kept without it")
        if entry_key(imo, mmsi, name) is None:
            report.skip("no IMO, MMSI or name", f"line {line}: vessel {ent_num} has no IMO, MMSI or name")
            continue
        programs = [p.strip(" []") for p in program.split("] [") if p.strip(" []")]
        parts = [p.strip() for p in remarks.removesuffix(".").split(";")]
        linked = [p.removeprefix("Linked To:").strip() for p in parts if p.startswith("Linked To:")]
        reason = "OFAC " + (", ".join(programs) or "SDN")
        if linked:
            reason += "; Linked To: " + "; ".join(linked)
        aliases = tuple(a for a in dict.fromkeys(m.strip() for m in _OFAC_AKA.findall(remarks))
                        if normalise_name(a) != normalise_name(name))
        found.append((line, WatchEntry(
            name=name or None, imo=imo, mmsi=mmsi, flag=_ofac_cell(row[9]) or None, reason=reason,
            source=f"OFAC SDN {ent_num}", aliases=aliases, tags=("ofac", *(p.lower() for p in programs)))))
    if not seen_record and report.read == 0:
        raise WatchlistError(f"{path}: not an OFAC SDN CSV: no records")
    return dedupe(found, report), report


# ---------------------------------------------------------------------------------- OpenSanctions
def read_opensanctions(path: Path) -> Result:
    """OpenSanctions FollowTheMoney JSON lines, or its maritime.csv (told apart by the first character)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4096)
    _refuse_compressed(path, head[:4])
    first = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")[:1]
    return _read_ftm(path) if first in ("{", "[") else _read_maritime_csv(path)


def _ftm_values(props: dict[str, Any], name: str) -> list[str]:
    values = props.get(name) or []
    if isinstance(values, str):
        values = [values]
    return [str(v).strip() for v in values if str(v).strip()]


def _opensanctions_entries(line: int, report: ImportReport, *, name: str | None, other_names: Iterable[str],
                           imos: Iterable[str], mmsis: Iterable[str], flag: str | None,
                           topics: Iterable[str], datasets: Iterable[str], entity_id: str
                           ) -> list[tuple[int, WatchEntry]]:
    """One vessel's entries: one per valid IMO number (a vessel with none is kept by MMSI or name)."""
    valid_imos: list[int] = []
    for text in imos:
        try:
            valid_imos.append(parse_imo(text))
        except ValueError as err:
            report.problems.append(f"line {line}: {name or entity_id}: {err}; kept without it")
    mmsi = None
    for text in mmsis:
        try:
            mmsi = parse_mmsi(text)
            break
        except ValueError as err:
            report.problems.append(f"line {line}: {name or entity_id}: {err}; kept without it")
    topics, datasets = sorted(set(topics)), sorted(set(datasets))
    aliases = tuple(dict.fromkeys(a for a in other_names if normalise_name(a) != normalise_name(name)))
    reason = "OpenSanctions " + (", ".join(topics) or "listed")
    if datasets:
        reason += f" ({', '.join(datasets)})"
    if not valid_imos and entry_key(None, mmsi, name) is None:
        report.skip("no IMO, MMSI or name", f"line {line}: vessel {entity_id} has no IMO, MMSI or name")
        return []
    each_imo: list[int | None] = [*valid_imos] or [None]  # one entry per IMO, or one without
    return [(line, WatchEntry(name=name or None, imo=imo, mmsi=mmsi, flag=flag.upper() if flag else None,
                              reason=reason, source=f"OpenSanctions {entity_id}"[:200], aliases=aliases,
                              tags=("opensanctions", *topics)))
            for imo in each_imo]


def _read_ftm(path: Path) -> Result:
    report = ImportReport()
    found: list[tuple[int, WatchEntry]] = []
    seen_entity = False
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        for line, text in enumerate(fh, 1):
            if not text.strip():
                continue
            problem: str | None
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                obj, problem = None, f"line {line}: not JSON ({err.msg})"
            else:
                problem = None if isinstance(obj, dict) and isinstance(obj.get("schema"), str) else (
                    f"line {line}: not a FollowTheMoney entity (no \"schema\")")
            if problem is not None:
                if not seen_entity:
                    raise WatchlistError(f"{path}: not OpenSanctions FollowTheMoney JSON lines (one entity "
                                         f"object with a \"schema\" per line): {problem}")
                report.read += 1
                report.skip("not an entity", problem)
                continue
            assert isinstance(obj, dict)
            seen_entity = True
            report.read += 1
            if obj["schema"] != "Vessel":
                report.skip("not a vessel")
                continue
            props = obj.get("properties") or {}
            names = _ftm_values(props, "name")
            name = str(obj.get("caption") or "").strip() or (names[0] if names else None)
            others = [*names, *(value for prop in ("alias", "previousName", "weakAlias")
                                for value in _ftm_values(props, prop))]
            flags = _ftm_values(props, "flag")
            found.extend(_opensanctions_entries(
                line, report, name=name, other_names=others, imos=_ftm_values(props, "imoNumber"),
                mmsis=_ftm_values(props, "mmsi"), flag=flags[0] if flags else None,
                topics=_ftm_values(props, "topics"), datasets=[str(d) for d in obj.get("datasets") or []],
                entity_id=str(obj.get("id") or "?")))
    if not seen_entity:
        raise WatchlistError(f"{path}: not OpenSanctions FollowTheMoney JSON lines: no entities")
    return dedupe(found, report), report


def _read_maritime_csv(path: Path) -> Result:
    report = ImportReport()
    rows = iter(_csv_rows(_read_text(path)))
    _, header = next(rows, (0, []))
    columns = [h.strip().lower() for h in header]
    name_column = next((c for c in MARITIME_NAME_COLUMNS if c in columns), None)
    if not ({"type", "imo", "id"} <= set(columns) and name_column):
        got = ",".join(header)[:120] or "an empty file"
        raise WatchlistError(f"{path}: not an OpenSanctions file: expected FollowTheMoney JSON lines or the "
                             f"maritime CSV (type,caption,imo,risk,countries,flag,mmsi,id,url,datasets,"
                             f"aliases); got {got}")
    found: list[tuple[int, WatchEntry]] = []
    for line, values in _records(rows, columns, report):
        if values["type"].upper() != "VESSEL":  # an ORGANIZATION's IMO number is a company number
            report.skip("not a vessel")
            continue
        flags = _split(values.get("flag"))
        found.extend(_opensanctions_entries(
            line, report, name=values[name_column] or None, other_names=_split(values.get("aliases")),
            imos=_split(values["imo"]), mmsis=_split(values.get("mmsi")), flag=flags[0] if flags else None,
            topics=_split(values.get("risk")), datasets=_split(values.get("datasets")),
            entity_id=values["id"] or "?"))
    return dedupe(found, report), report


# ----------------------------------------------------------------------------------------- dispatch
READERS: dict[str, Callable[[Path], Result]] = {
    "csv": read_csv, "ofac-sdn": read_ofac_sdn, "opensanctions": read_opensanctions,
}


def detect_format(path: Path) -> str:
    """csv, ofac-sdn or opensanctions, from the file's first record; WatchlistError if none fits."""
    with Path(path).open("rb") as fh:
        head = fh.read(65536)
    _refuse_compressed(path, head[:4])
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text[:1] in ("{", "["):
        return "opensanctions"
    first = next(iter(_csv_rows(text)), (0, []))[1]
    cells = {cell.strip().lower() for cell in first}
    if "imo" in cells and "type" in cells and (cells & set(MARITIME_NAME_COLUMNS)) and "id" in cells:
        return "opensanctions"
    if {"name", "imo", "mmsi"} <= cells:
        return "csv"
    if len(first) == OFAC_COLUMNS and first[0].strip().isdigit():
        return "ofac-sdn"
    raise WatchlistError(f"{path}: cannot tell the watchlist format from its first line; "
                         "give --format csv, ofac-sdn or opensanctions")


def read_watchlist(path: Path | str, fmt: str = "auto") -> Result:
    """Entries and report from a file in one of FORMATS ("auto" looks at the file)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise WatchlistError(f"unknown watchlist format {fmt!r}: one of {', '.join(FORMATS)}")
    if not path.exists():
        raise WatchlistError(f"{path}: no such file")
    if not path.is_file():
        raise WatchlistError(f"{path}: not a file")
    if fmt == "auto":
        fmt = detect_format(path)
    return READERS[fmt](path)
