"""Fuzzing the CSV reader of `ais-watch replay` (ais_watch/sources/replay.py, read through its public
`file_reports(path, "csv", ...)`): the Danish Maritime Authority's and NOAA MarineCadastre's layouts, with
cells replaced by odd values (numbers past a float or a C long, digits that are not ASCII, times at the
edges of the calendar, placeholders), rows' bytes flipped, cut and repeated, stray quotes, arbitrary rows.

Whatever is in the file: nothing raises but DecodeError for a header that names no time, MMSI or position
column (what replay reports as a bad file); each row is one message decoded, of a type not tracked, or
rejected under a reason (a static row whose position is not one is also a rejected position); every row
is counted; every report is well formed.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ais_watch.errors import DecodeError, ReplayError
from ais_watch.model import IngestStats
from ais_watch.sources.replay import file_reports
from tests.helpers.fuzz import REAL_CSV, assert_well_formed, mutated_bytes
from tests.helpers.fuzz_cases import counted

pytestmark = pytest.mark.unit

ODD_CELLS = st.sampled_from([
    "", " ", "nan", "NaN", "-nan", "inf", "-inf", "1e400", "-1e400", "1e308", "-1", "0", "-0",
    "99999999999999999999999", "1" * 5000, "²", "٣٣٣", "１２３", "Unknown", "Undefined", "IMO", "IMO²",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01", "31/02/2023 12:00:00",
    "2023-01-01T00:00:01Z", "12/11/2023 12:00:01", "91", "181", "-91", "1.5e2", "0x10", "\x00", '"', "\r",
]) | st.text(max_size=12)


# A quote that opens a field and never closes it, with more than csv's field limit (128 KiB) after it
# (written as this marker, so that a failing case's report stays short).
STRAY_QUOTE = "<stray quote and 140,000 bytes>"


def cells(row: str) -> list[str]:
    return next(csv.reader([row]))


def joined(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


@st.composite
def mutated_row(draw: st.DrawFn, row: str, width: int) -> str:
    """A real row with cells replaced by odd values, its bytes mutated, or an arbitrary row."""
    kind = draw(st.sampled_from(("cells", "cells", "bytes", "arbitrary")))
    if kind == "cells":
        values = cells(row)
        for _ in range(draw(st.integers(1, 4))):
            values[draw(st.integers(0, len(values) - 1))] = draw(ODD_CELLS)
        return joined(values)
    if kind == "bytes":
        return draw(mutated_bytes(row.encode())).decode("utf-8", "replace").replace("\n", " ")
    return joined(draw(st.lists(ODD_CELLS, max_size=width + 2)))


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[str, list[str]]:
    header, *rows = REAL_CSV[draw(st.sampled_from(sorted(REAL_CSV)))]
    width = len(cells(header))
    if draw(st.integers(0, 9)) == 0:  # a header that may lose a column the reader needs
        header = joined([draw(ODD_CELLS) if draw(st.integers(0, 3)) == 0 else c for c in cells(header)])
    row = (st.sampled_from(rows).flatmap(lambda r: mutated_row(r, width)) | st.sampled_from(rows)
           | st.sampled_from(["", STRAY_QUOTE, '1,"2,3']))
    body = draw(st.lists(row, max_size=12))
    return header, body


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-csv") / "recording.csv"


def outcomes(stats: IngestStats) -> int:
    return stats.decoded + stats.other_types + sum(stats.rejects.values())


@given(content=csv_files())
@counted
def test_csv_rows_all_counted_never_raise(csv_path: Path, content: tuple[str, list[str]]) -> None:
    header, rows = content
    text = "\n".join([header, *rows]) + "\n"
    csv_path.write_text(text.replace(STRAY_QUOTE, '"' + "x" * 140_000), encoding="utf-8")
    stats = IngestStats()
    read = file_reports(csv_path, "csv", "fuzz", {}, stats)
    count = 0
    while True:
        before, decoded = outcomes(stats), stats.decoded
        try:
            row, reports = next(read)
        except StopIteration:
            break
        except (DecodeError, ReplayError):  # documented: an unusable header is one line for the file
            assert count == 0
            return
        count += 1
        # The reader yields no line text: a blank row is no outcome, every other row one (two when a row
        # gives a report and a reject, a bad position beside good static data).
        results = outcomes(stats) - before
        new_decoded = stats.decoded - decoded
        assert results in (0, 1) or (results == 2 and new_decoded == 1 and stats.rejects), (row, stats)
        assert results or not reports
        assert bool(reports) == (new_decoded == 1)
        for report in reports:
            assert_well_formed(report)
    assert stats.lines == count + 1  # the header and each row


@given(layout=st.sampled_from(sorted(REAL_CSV)))
def test_csv_real_rows_decode(csv_path: Path, layout: str) -> None:
    """The other side: the real-format rows, unmutated, give their reports."""
    header, *rows = REAL_CSV[layout]
    csv_path.write_text("\n".join([header, *rows]) + "\n")
    stats = IngestStats()
    reports = [r for _, rs in file_reports(csv_path, "csv", "fuzz", {}, stats) for r in rs]
    assert len(reports) >= 2 and stats.decoded >= 2
    assert set(stats.rejects) <= {"no_position"}


# --------------------------------------------------------------------------------------------------------
# Found by the property above: each raised out of the reader and lost the whole file in a replay.
# --------------------------------------------------------------------------------------------------------
NOAA_HEADER, NOAA_ROW = REAL_CSV["noaa"][:2]
DMA_HEADER, DMA_ROW = REAL_CSV["dma"][:2]


def read_csv(path: Path, header: str, rows: list[str]) -> tuple[list[list[object]], IngestStats]:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    stats = IngestStats()
    return [list(reports) for _, reports in file_reports(path, "csv", "replay", {}, stats)], stats


def with_cell(row: str, column: int, value: str) -> str:
    values = cells(row)
    values[column] = value
    return joined(values)


@pytest.mark.parametrize(("column", "value"), [
    (0, "inf"),  # int(float('inf')): OverflowError
    (0, "-1"),  # a negative MMSI was kept (the aisstream reader refuses one)
    (1, "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC: OverflowError
    (1, "9999-12-31T23:59:59-01:00"),  # after year 9999 in UTC: OverflowError
], ids=["mmsi-inf", "mmsi-negative", "time-before-year-1", "time-after-year-9999"])
def test_csv_row_out_of_range_is_malformed(tmp_path: Path, column: int, value: str) -> None:
    rows = [NOAA_ROW, with_cell(NOAA_ROW, column, value), NOAA_ROW]
    out, stats = read_csv(tmp_path / "x.csv", NOAA_HEADER, rows)
    assert [len(reports) for reports in out] == [2, 0, 2]
    assert stats.rejects == {"malformed_csv_row": 1}


@pytest.mark.parametrize(("column", "value"), [
    (8, "²"), (8, "1" * 5000), (10, "²"), (10, "1" * 5000), (11, "²"), (11, "1" * 5000),  # IMO, type, status
    (14, "1e400"),  # draught: inf was kept
], ids=["imo-superscript", "imo-5000-digits", "type-superscript", "type-5000-digits", "status-superscript",
        "status-5000-digits", "draught-inf"])
def test_csv_odd_optional_cell_is_not_known(tmp_path: Path, column: int, value: str) -> None:
    """str.isdigit() passes '²' (int() refuses it) and 5,000 digits (past int()'s limit); a draught of inf
    is none: the cell is "not known", the row still decodes."""
    out, stats = read_csv(tmp_path / "x.csv", NOAA_HEADER, [with_cell(NOAA_ROW, column, value)])
    [[position, static]] = out
    assert stats.rejects == {} and position.mmsi == static.mmsi == 367001234
    read_back = {11: position.nav_status, 8: static.imo, 10: static.ship_type, 14: static.draught}
    assert read_back[column] is None


def test_csv_dma_dimension_inf_is_not_known(tmp_path: Path) -> None:
    """int(inf) raised OverflowError; now that dimension is not known and the others stay."""
    out, stats = read_csv(tmp_path / "x.csv", DMA_HEADER, [with_cell(DMA_ROW, 22, "1e400")])
    [[_, static]] = out
    assert static.to_bow is None and static.to_stern == 20 and stats.rejects == {}


def test_csv_quote_never_closed_past_the_field_limit_costs_one_row(tmp_path: Path) -> None:
    """csv.Error 'field larger than field limit' ended the file; now that row is malformed and the reader
    goes on with the next line."""
    stray = '"' + "x" * 140_000
    out, stats = read_csv(tmp_path / "x.csv", NOAA_HEADER, [NOAA_ROW, stray, NOAA_ROW])
    assert [len(reports) for reports in out] == [2, 0, 2]
    assert stats.rejects == {"malformed_csv_row": 1}
    assert stats.lines == 4
