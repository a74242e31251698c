"""A/B check of the CSV reader (ais_watch/sources/csv_import.py) against its code at an earlier commit: the
same reports, row by row, and the same counters, rejects, flags and notes, for each file read three ways
(the layout's own date order, --dayfirst, month first); and, with --time, the worker-side cost of reading
each file (the rows into reports, and those packed for the pipe as the decode worker does), the two
versions run in turn so that a busy machine slows both alike.

The files: those named, else the bench's DMA CSV (bench/out/*.dma.csv, from `replay_throughput.py --csv`),
CSV files the tests left behind (`pytest --basetemp DIR`, then `--tests-dir DIR`), and a corpus written
here from the tests' real DMA and NOAA rows (tests/helpers/fuzz.py) with cells replaced by the fuzz tests'
odd values, rows cut, widened, blank and broken by a quote that never closes.

    python bench/csv_equivalence.py [FILE...] [--rev c6c71dd] [--tests-dir DIR] [--time 5]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import io
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ais_watch.errors import AisWatchError  # noqa: E402
from ais_watch.model import IngestStats  # noqa: E402
from ais_watch.sources import csv_import  # noqa: E402
from ais_watch.sources.decode_worker import dumps  # noqa: E402
from ais_watch.sources.replay import open_binary  # noqa: E402

# The commit before the CSV reader was made faster (the code it must agree with).
BEFORE = "c6c71dd"
FIXED = datetime(2000, 1, 1, tzinfo=UTC)  # every report's received_at, which is the wall time of reading


def load_before(rev: str) -> ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:ais_watch/sources/csv_import.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "csv_import_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("csv_import_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# The fuzz tests' odd cells (tests/test_fuzz_csv.py), and a few of each kind of cell the reader treats apart.
ODD = ["", " ", "nan", "NaN", "-nan", "inf", "-inf", "1e400", "-1e400", "1e308", "-1", "0", "-0",
       "99999999999999999999999", "1" * 5000, "²", "٣٣٣", "１２３", "Unknown", "Undefined", "IMO", "IMO²",
       "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01", "31/02/2023 12:00:00",
       "2023-01-01T00:00:01Z", "12/11/2023 12:00:01", "91", "181", "-91", "1.5e2", "0x10", "\x00", '"', "\r",
       "13/11/2023 25:00:00", "11/13/2023 12:00:01 PM", "1/2/2023 12:04:54 AM", " 12/11/2023 12:00:01 ",
       "12/11/2023 12:00:01.5", "12.11.2023 12:00", "1700000000", "1700000000123", "1700000000.5",
       "2023-01-01 00:00:01 UTC", "Moored", " moored ", "under way sailing", "15", "16", "B", "class b",
       "ATON", "Base Station", "IMO9179842", "9179843", " 219000734 ", "219000734.0", "2.19e8", "1_000",
       "+219000734", "1234567890", "-219000734"]


def odd_corpus(directory: Path, rows: int = 20_000, seed: int = 17) -> list[Path]:
    """The tests' real DMA and NOAA rows, mutated the ways the fuzz tests mutate them (deterministic)."""
    from tests.helpers.fuzz import REAL_CSV

    rng = random.Random(seed)
    out = []
    for name, (header, *real) in REAL_CSV.items():
        lines = [header]
        width = len(header.split(","))
        for i in range(rows):
            row = next(csv.reader([rng.choice(real)]))
            kind = rng.random()
            if kind < 0.5:
                for _ in range(rng.randint(1, 4)):
                    row[rng.randrange(len(row))] = rng.choice(ODD)
            elif kind < 0.55:
                row = row[:rng.randrange(width)]
            elif kind < 0.58:
                row = [*row, "x"]
            elif kind < 0.6:
                row = [" "] * width
            elif kind < 0.62:
                row = [*row, "", ""]
            text = io.StringIO()
            csv.writer(text, lineterminator="").writerow(row)
            lines.append(text.getvalue())
            if i == rows - 100:
                lines.append('"never closed' + "x" * 140_000)
        path = directory / f"odd-{name}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        gz = directory / f"odd-{name}.csv.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        out += [path, gz]
    return out


def outcome(module: Any, path: Path, options: Any) -> Iterator[Any]:
    """Row by row what a version reads (reports with a fixed receive time), then its counters."""
    stats = IngestStats()
    try:
        with open_binary(path) as fh:
            for _line, reports in module.csv_reports(path, fh, "replay:x", stats, options):
                for report in reports:
                    report.received_at = FIXED
                yield reports
    except AisWatchError as err:
        yield ("error", str(err))
    yield ("stats", stats.lines, stats.messages, stats.decoded, stats.other_types, dict(stats.rejects),
           dict(stats.flags), list(stats.notes))


def compare(before: ModuleType, path: Path) -> bool:
    same = True
    for label in ("layout's order", "dayfirst", "monthfirst"):
        dayfirst = {"dayfirst": True, "monthfirst": False}.get(label)
        rows = 0
        pairs = zip(outcome(before, path, before.CsvOptions({}, dayfirst)),
                    outcome(csv_import, path, csv_import.CsvOptions({}, dayfirst)), strict=True)
        for rows, (old, new) in enumerate(pairs, 1):
            if old != new:
                print(f"  DIFFERENT {path.name} ({label}) at item {rows}:\n    before {old!r:.600}\n"
                      f"    after  {new!r:.600}")
                same = False
                break
        else:
            print(f"  same: {path.name} ({label}), {rows - 1:,} rows and the counters")
    return same


def read_time(module: Any, path: Path) -> float:
    """The worker's per-row work on a file: rows into reports, pickled for the pipe."""
    stats = IngestStats()
    start = time.perf_counter()
    with open_binary(path) as fh:
        for _line, reports in module.csv_reports(path, fh, "replay:x", stats, module.CsvOptions()):
            dumps(reports)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--rev", default=BEFORE, help=f"the commit to compare with (default {BEFORE})")
    parser.add_argument("--tests-dir", type=Path, help="also every *.csv and *.csv.gz under this directory")
    parser.add_argument("--time", type=int, default=0, metavar="ROUNDS",
                        help="also time both versions on each file, in turn, ROUNDS times")
    args = parser.parse_args()
    before = load_before(args.rev)
    with tempfile.TemporaryDirectory() as tmp:
        files: list[Path] = list(args.files) or sorted((REPO / "bench" / "out").glob("*.dma.csv"))
        if not args.files:
            files += odd_corpus(Path(tmp))
        if args.tests_dir:
            files += sorted(p for p in args.tests_dir.rglob("*") if p.is_file()
                            and (p.name.endswith(".csv") or p.name.endswith(".csv.gz")))
        print(f"{len(files)} files against the CSV reader at {args.rev}")
        different = [path for path in files if not compare(before, path)]
        for path in files if args.time else ():
            rounds: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.time):
                rounds["before"].append(read_time(before, path))
                rounds["after"].append(read_time(csv_import, path))
            old, new = (statistics.median(rounds[k]) for k in ("before", "after"))
            print(f"  {path.name}: before {old:.2f}s, after {new:.2f}s (medians of {args.time}, in turn): "
                  f"{old / new:.2f}x")
    if different:
        raise SystemExit(f"{len(different)} files read differently: {', '.join(p.name for p in different)}")
    print("every file reads the same")


if __name__ == "__main__":
    main()
