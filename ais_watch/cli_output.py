"""The CLI's list formats: JSON lines (for tools), CSV (for spreadsheets) and aligned tables (for people)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from typing import Any, TextIO


def cell(value: Any, width: int = 40) -> str:
    """A table cell: lists joined with ';'; control characters (AIS names and imported text can hold
    anything) are shown as '?' so they cannot move a terminal's cursor."""
    text = "" if value is None else ";".join(map(str, value)) if isinstance(value, list) else str(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:width]


def print_table(items: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    rows = [[cell(item[c]) for c in columns] for item in items]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


# A text cell a spreadsheet would take for a formula (OWASP's CSV injection list): a ship may call itself
# "=HYPERLINK(...)" over AIS, and an analyst opens the export in Excel.
# A leading line break too: a spreadsheet may drop it and read what follows.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: Any) -> Any:
    """None as an empty cell; text that would start a formula behind a leading "'" (shown as the text
    itself by spreadsheets); numbers as they are (a negative longitude is a number, not a formula). A
    carriage return in text becomes a line break: csv quotes a cell holding "\n" (our line end) but not
    one holding a lone "\r", which readers take for the end of the row."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        if value.startswith(FORMULA_START):
            return "'" + value
    return value


def csv_writer(fields: Sequence[str], out: TextIO, header: Sequence[str] | None = None
               ) -> Callable[[dict[str, Any]], None]:
    """Writes a header (`fields`, unless given) and returns what writes one item as a row of `fields`
    (spreadsheet_safe cells); a streamed list (a track) writes its rows as they come."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields if header is None else header)

    def write_row(item: dict[str, Any]) -> None:
        writer.writerow([spreadsheet_safe(item[f]) for f in fields])

    return write_row


def write_items(items: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str], out: TextIO,
                fields: Sequence[str] = ()) -> None:
    """`--format jsonl`: one JSON object per line, every field; `--format csv`: `fields` (every field, in
    the contract's order); `--format table`: the named columns."""
    if fmt == "jsonl":
        for item in items:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        write_row = csv_writer(fields, out)
        for item in items:
            write_row(item)
    else:
        print_table(items, columns, out)
