"""Replay throughput and peak memory of `ais-watch replay`, beside bare pyais decoding of the same lines.

The bundled real recordings are repeated with their timestamps shifted (the $PGHP, $GPZDA and trailing
epoch-ms fields rewritten, checksums recomputed) so the copies are new traffic, not duplicates, up to
about --messages AIS messages. `--danish 12` is issue 17's input instead: the Danish recording alone,
twelve copies (962,952 lines, 312,924 messages). Every run is a separate process on the same files in the
same run; compare the ratios, not the absolute figures (the machine is shared and noisy).

Each replay is timed twice: the whole command's wall time (Python's start and imports included, a fixed
0.6-0.7 s here) and the replay's own clock, which the command prints (from its start of work to the
last row committed: opening the database, building the detectors, decoding, the pipeline, the store).
--repeat N measures N rounds (baselines, then the replays) and prints each replay's median ratio.

Baselines, each printed with its rate and every replay's ratio to it:
- pyais FileReaderStream + decode (the file read line by line, multi-part messages joined by pyais);
- with --strict, issue 17's: the lines read into memory first, then pyais only (IterMessages + decode);
- gpsdecode (C, Debian's gpsd-clients) on the same files, when /usr/bin/gpsdecode (or one on PATH) is
  there: its messages a second, reading the files itself.

With --csv, issue 17's CSV backfill: the same Danish traffic (--danish N, 12 by default) written as a
Danish Maritime Authority aisdk CSV (its daily export's columns, day-first times: one row per position
report and one per static report, from decoding the NMEA file with ais-watch's own decoder once; cached
beside it in bench/out/), replayed with every detector on (SQLite, and PostgreSQL with --pg), its rows/s
beside the strict pyais baseline of the NMEA file and the replay of the NMEA file itself, in the same run.

    python bench/replay_throughput.py [--messages 1000000 | --danish 12] [--strict] [--pg URL] [--full-only]
                                      [--repeat N]
    python bench/replay_throughput.py --csv [--danish 12] [--pg URL]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "ais_watch" / "data" / "demo"
OUT = REPO / "bench" / "out"
RECORDINGS = ("dma-tagblock-pghp-2013.nmea.gz", "amsa-terrestrial-2012.nmea.gz",
              "amsa-satellite-trailing-ms.nmea")
MESSAGES_PER_ROUND = 64_058  # whole AIS messages in one pass over the three recordings

_PGHP = re.compile(rb"^(\$PGHP,1,)(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)(,[^*]*)\*[0-9A-Fa-f]{2}")
_ZDA = re.compile(rb"^(\$..ZDA,)(\d{6}(?:\.\d+)?),(\d+),(\d+),(\d{4})([^*]*)\*[0-9A-Fa-f]{2}")
_TRAILING_MS = re.compile(rb"(\*[0-9A-Fa-f]{2},)(\d{13})\s*$")


def _with_checksum(body: bytes) -> bytes:
    value = 0
    for byte in body[1:]:
        value ^= byte
    return body + b"*%02X" % value


def shift_line(line: bytes, shift: timedelta) -> bytes:
    """The same line with every timestamp it carries moved by `shift` (checksums recomputed)."""
    if match := _PGHP.match(line):
        y, mo, d, h, mi, s, ms = (int(g) for g in match.groups()[1:8])
        t = datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC) + shift
        body = (match.group(1) + b"%d,%d,%d,%d,%d,%d,%d" % (t.year, t.month, t.day, t.hour, t.minute,
                                                              t.second, t.microsecond // 1000)
                + match.group(9))
        rest = line[match.end():]
        line = _with_checksum(body) + rest
    elif match := _ZDA.match(line):
        hhmmss = match.group(2)
        day, month, year = int(match.group(3)), int(match.group(4)), int(match.group(5))
        base = datetime(year, month, day, int(hhmmss[:2]), int(hhmmss[2:4]), tzinfo=UTC)
        seconds = float(hhmmss[4:])
        t = base + timedelta(seconds=seconds) + shift
        body = (match.group(1) + b"%02d%02d%05.2f,%02d,%02d,%04d" % (
            t.hour, t.minute, t.second + t.microsecond / 1e6, t.day, t.month, t.year) + match.group(6))
        line = _with_checksum(body) + line[match.end():]
    if match := _TRAILING_MS.search(line):
        shifted = int(match.group(2)) + int(shift.total_seconds() * 1000)
        line = line[:match.start(2)] + b"%d" % shifted + line[match.end(2):]
    return line


def build_inputs(rounds: int, recordings: tuple[str, ...] = RECORDINGS) -> list[Path]:
    """One file per recording, each holding `rounds` time-shifted copies (cached in bench/out/)."""
    OUT.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in recordings:
        target = OUT / f"{name.split('.')[0]}-x{rounds}.nmea"
        paths.append(target)
        if target.exists():
            continue
        source = DEMO / name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(source, "rb") as fh:
            lines = fh.read().splitlines()
        span = timedelta(hours=3)  # longer than any recording, so copies never overlap
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as out:
            for k in range(rounds):
                shift = span * k
                out.writelines(shift_line(line, shift) + b"\n" for line in lines)
        tmp.rename(target)
    return paths


# The DMA's aisdk daily export: its header as the files have it, and how it writes a navigational status.
DMA_HEADER = ["# Timestamp", "Type of mobile", "MMSI", "Latitude", "Longitude", "Navigational status",
              "ROT", "SOG", "COG", "Heading", "IMO", "Callsign", "Name", "Ship type", "Cargo type", "Width",
              "Length", "Type of position fixing device", "Draught", "Destination", "ETA", "Data source type",
              "A", "B", "C", "D"]
DMA_STATUS = {0: "Under way using engine", 1: "At anchor", 2: "Not under command",
              3: "Restricted maneuverability", 4: "Constrained by her draught", 5: "Moored", 6: "Aground",
              7: "Engaged in fishing", 8: "Under way sailing", 14: "AIS-SART", 15: "Unknown value"}


def _cell(value: object, spec: str = "") -> str:
    return "" if value is None else format(value, spec)


def build_dma_csv(nmea: Path) -> tuple[Path, int]:
    """The NMEA file's traffic as a DMA aisdk CSV (cached beside it), and its data rows.

    One row per report the project's own decoder makes of the file: a position report's row has its
    position, motion and status and the identity cells as DMA writes them when not known ('Unknown',
    'Undefined'); a static report's row has its identity (IMO, call sign, name, ship type as its number,
    draught, destination, A-D and the width and length they make) and no position, so the reader counts
    it as no_position besides its static report. Whole seconds, as DMA's times are."""
    from ais_watch.decode import NmeaDecoder
    from ais_watch.model import IngestStats, PositionReport

    target = nmea.with_suffix(".dma.csv")
    if target.exists():
        with target.open("rb") as fh:
            return target, sum(1 for _ in fh) - 1
    decoder = NmeaDecoder("bench", IngestStats(), require_event_time=True)
    now = datetime.now(UTC)
    rows = 0
    tmp = target.with_suffix(".tmp")
    with nmea.open("rb") as src, tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(DMA_HEADER)
        for line in src:
            for r in decoder.feed(line, now):
                stamp = r.time.strftime("%d/%m/%Y %H:%M:%S")
                mobile = ("Class B" if r.msg_type in (18, 19, 24) else
                          "SAR Airborne" if r.msg_type == 9 else "Class A")
                if isinstance(r, PositionReport):
                    status = (DMA_STATUS.get(r.nav_status, str(r.nav_status)) if r.nav_status is not None
                              else "Unknown value")
                    writer.writerow([stamp, mobile, r.mmsi, f"{r.lat:.6f}", f"{r.lon:.6f}", status, "",
                                     _cell(r.sog, ".1f"), _cell(r.cog, ".1f"), _cell(r.heading), "Unknown",
                                     "Unknown", "", "Undefined", "", "", "", "Undefined", "", "Unknown", "",
                                     "AIS", "", "", "", ""])
                else:
                    width = (r.to_port or 0) + (r.to_starboard or 0) or None
                    length = (r.to_bow or 0) + (r.to_stern or 0) or None
                    writer.writerow([stamp, mobile, r.mmsi, "", "", "Unknown value", "", "", "", "",
                                     _cell(r.imo) or "Unknown", r.call_sign or "Unknown", r.name or "",
                                     _cell(r.ship_type) or "Undefined", "", _cell(width), _cell(length),
                                     "Undefined", _cell(r.draught, ".1f"), r.destination or "Unknown", "",
                                     "AIS", _cell(r.to_bow), _cell(r.to_stern), _cell(r.to_port),
                                     _cell(r.to_starboard)])
                rows += 1
    tmp.rename(target)
    return target, rows


BASELINE = r"""
import sys, time, json, resource
from pyais.stream import FileReaderStream
ok = bad = 0
start = time.perf_counter()
for path in sys.argv[1:]:
    for msg in FileReaderStream(path):
        try:
            msg.decode()
            ok += 1
        except Exception:
            bad += 1
elapsed = time.perf_counter() - start
print(json.dumps({"decoded": ok, "errors": bad, "seconds": elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# Issue 17's baseline: every line in memory before the clock starts, then pyais alone.
STRICT = r"""
import sys, time, json, resource
from pyais.stream import IterMessages
lines = []
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        lines.extend(fh.read().splitlines())
ok = bad = 0
start = time.perf_counter()
for msg in IterMessages(lines):
    try:
        msg.decode()
        ok += 1
    except Exception:
        bad += 1
elapsed = time.perf_counter() - start
print(json.dumps({"decoded": ok, "errors": bad, "seconds": elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_RSS = r"""
import resource, subprocess, sys, time, json
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - start
print(json.dumps({"rc": proc.returncode, "seconds": elapsed, "stdout": proc.stdout,
                  "stderr": proc.stderr[-2000:],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run_baseline(paths: list[Path]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", BASELINE, *map(str, paths)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def run_strict(paths: list[Path]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", STRICT, *map(str, paths)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def gpsdecode_path() -> str | None:
    debian = Path("/usr/bin/gpsdecode")
    return shutil.which("gpsdecode") or (str(debian) if debian.exists() else None)


def run_gpsdecode(binary: str, paths: list[Path]) -> dict[str, float]:
    """gpsdecode over the files one after the other (JSON out, counted, thrown away): its messages/s."""
    messages = 0
    start = time.perf_counter()
    for path in paths:  # its output counted as it comes (held whole, it would swell this driver by 180 MB)
        with path.open("rb") as fh, subprocess.Popen([binary], stdin=fh, stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            messages += sum(block.count(b"\n") for block in iter(lambda: proc.stdout.read(1 << 20), b""))
        if proc.returncode:
            raise SystemExit(f"gpsdecode failed on {path} (exit code {proc.returncode})")
    return {"decoded": messages, "seconds": time.perf_counter() - start}


def run_replay(paths: list[Path], db: str, *, detectors: bool = True, integrity: bool = True,
               encounters: bool = True) -> dict[str, object]:
    cmd = [sys.executable, "-m", "ais_watch", "--db", db, "--log-level", "WARNING", "replay", "--no-progress",
           *map(str, paths)]
    env = {**os.environ, "AIS_WATCH_DETECTORS_ENABLED": "true" if detectors else "false",
           "AIS_WATCH_INTEGRITY_ENABLED": "true" if integrity else "false",
           "AIS_WATCH_ENCOUNTER_ENABLED": "true" if encounters else "false"}
    out = subprocess.run([sys.executable, "-c", CHILD_RSS, *cmd], capture_output=True, text=True, check=True,
                         env=env)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"replay failed: {result['stderr']}")
    match = re.search(r"messages\s+([\d,]+)", result["stdout"])
    stored = re.search(r"positions stored\s+([\d,]+)", result["stdout"])
    result["messages"] = int(match.group(1).replace(",", "")) if match else 0
    lines = re.search(r"lines\s+([\d,]+)", result["stdout"])
    result["lines"] = int(lines.group(1).replace(",", "")) if lines else 0
    result["positions_stored"] = int(stored.group(1).replace(",", "")) if stored else 0
    # The replay's own clock: from the command's start of work (Python started and its modules loaded)
    # to the last row committed; it includes opening the database and building the detectors.
    own = re.search(r"replay finished in ([\d.]+)s", result["stdout"])
    result["own_seconds"] = float(own.group(1)) if own else float("nan")
    return result


def bench_database(url: str, name: str = "ais_watch_bench") -> str:
    """A database of the benchmarks' own beside the one named (created if missing, emptied), so a
    benchmark never touches the tests' database. Returns its URL."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    target = make_url(url).set(database=name)

    async def prepare() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        plain = target.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(prepare())
    return target.render_as_string(hide_password=False)


def bench_csv(rounds: int, pg: str, pg_bench_db: str) -> None:
    """Issue 17's CSV backfill: the DMA CSV of the Danish traffic against pyais on its NMEA, same run."""
    nmea = build_inputs(rounds, RECORDINGS[:1])
    csv_path, rows = build_dma_csv(nmea[0])
    size_mb = csv_path.stat().st_size / 1e6
    print(f"input: {nmea[0].name} ({rounds} time-shifted copies of the Danish recording) and the same "
          f"traffic as a DMA aisdk CSV, {csv_path.name}: {rows:,} rows, {size_mb:.0f} MB")
    strict = run_strict(nmea)
    strict_rate = strict["decoded"] / strict["seconds"]
    print(f"strict baseline on the NMEA, lines in memory then pyais IterMessages + decode only: "
          f"{strict['decoded']:,} messages in {strict['seconds']:.1f}s = {strict_rate:,.0f} msg/s")
    label = "every detector on"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("sqlite", "postgresql") if pg else ("sqlite",):
            # The NMEA replay first, into a database of its own: the ratio the CSV is to match, same run.
            for kind, paths in (("NMEA", nmea), ("CSV", [csv_path])):
                db = (bench_database(pg, pg_bench_db) if name == "postgresql"
                      else f"sqlite:///{tmp}/{kind.lower()}.db")
                result = run_replay(paths, db)
                seconds = float(result["seconds"])  # type: ignore[arg-type]
                if kind == "NMEA":
                    rate = float(result["messages"]) / seconds  # type: ignore[arg-type]
                    print(f"ais-watch replay of the NMEA, {name}, {label}: {result['messages']:,} messages "
                          f"in {seconds:.1f}s = {rate:,.0f} msg/s ({rate / strict_rate:.2f}x strict pyais), "
                          f"peak RSS {result['peak_rss_mb']:.0f} MB")
                    continue
                rate = rows / seconds
                print(f"ais-watch replay of the CSV, {name}, {label}: {rows:,} rows "
                      f"({result['positions_stored']:,} positions stored) in {seconds:.1f}s = {rate:,.0f} "
                      f"rows/s ({rate / strict_rate:.2f}x strict pyais's msg/s; the same traffic in "
                      f"{strict['seconds'] / seconds:.2f}x pyais's time on its NMEA; target >= 0.50x), "
                      f"peak RSS {result['peak_rss_mb']:.0f} MB (target < 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--danish", type=int, metavar="COPIES", default=0,
                        help="issue 17's input: the Danish recording alone, COPIES time-shifted copies")
    parser.add_argument("--strict", action="store_true",
                        help="also the strict baseline (lines in memory, pyais only); the ratios are to it")
    parser.add_argument("--full-only", action="store_true",
                        help="only the replays with every detector on (SQLite, and PostgreSQL with --pg)")
    parser.add_argument("--pg", default=os.environ.get("AIS_WATCH_TEST_PG", ""),
                        help="also replay into PostgreSQL: a database ais_watch_bench beside this one")
    parser.add_argument("--pg-bench-db", default="ais_watch_bench",
                        help="the name of that database (emptied first; created if missing)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="measure N rounds (baselines, then each replay), and print each replay's "
                             "median ratio to the baseline: the machine is shared and noisy")
    parser.add_argument("--csv", action="store_true",
                        help="the Danish traffic (--danish, 12 copies by default) as a DMA aisdk CSV, "
                             "replayed with every detector on, beside the strict pyais baseline of the NMEA "
                             "file")
    args = parser.parse_args()
    if args.csv:
        bench_csv(args.danish or 12, args.pg, args.pg_bench_db)
        return
    if args.danish:
        rounds, paths = args.danish, build_inputs(args.danish, RECORDINGS[:1])
    else:
        rounds = max(1, round(args.messages / MESSAGES_PER_ROUND))
        paths = build_inputs(rounds)
    lines = sum(1 for p in paths for _ in p.open("rb"))
    print(f"input: {len(paths)} files, {lines:,} lines, "
          f"{rounds} time-shifted copies of the bundled recording{'s' if len(paths) > 1 else ''}")

    target_base = "strict pyais" if args.strict else "pyais"
    ratios: dict[str, list[tuple[float, float]]] = {}
    for round_ in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"-- round {round_} of {args.repeat}")
        for label, pair in one_round(paths, args).items():
            ratios.setdefault(label, []).append(pair)
    if args.repeat > 1:
        for label, pairs in ratios.items():
            wall, own = sorted(p[0] for p in pairs), sorted(p[1] for p in pairs)
            print(f"{label}: over {len(pairs)} rounds, {target_base} ratio median "
                  f"{statistics.median(wall):.2f}x ({wall[0]:.2f}-{wall[-1]:.2f}), "
                  f"by the replay's own clock {statistics.median(own):.2f}x "
                  f"({own[0]:.2f}-{own[-1]:.2f})")


def one_round(paths: list[Path], args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """The baselines, then each replay; prints them. Returns each replay's ratio to the target baseline
    (strict pyais with --strict), by the command's wall time and by the replay's own clock."""
    base = run_baseline(paths)
    base_rate = base["decoded"] / base["seconds"]
    print(f"baseline pyais FileReaderStream + decode: {base['decoded']:,} messages "
          f"({base['errors']:,} errors) "
          f"in {base['seconds']:.1f}s = {base_rate:,.0f} msg/s, peak RSS {base['peak_rss_mb']:.0f} MB")
    baselines = {"pyais": base_rate}
    if args.strict:
        strict = run_strict(paths)
        baselines["strict pyais"] = strict_rate = strict["decoded"] / strict["seconds"]
        print(f"strict baseline, lines in memory then pyais IterMessages + decode only: "
              f"{strict['decoded']:,} messages in {strict['seconds']:.1f}s = {strict_rate:,.0f} msg/s")
    if binary := gpsdecode_path():
        gps = run_gpsdecode(binary, paths)
        baselines["gpsdecode"] = gps_rate = gps["decoded"] / gps["seconds"]
        print(f"gpsdecode ({binary}): {gps['decoded']:,} messages in {gps['seconds']:.1f}s "
              f"= {gps_rate:,.0f} msg/s")
    else:
        print("gpsdecode: not installed (apt-get install gpsd-clients), no column")
    target_base = "strict pyais" if args.strict else "pyais"
    out: dict[str, tuple[float, float]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        full_label = "zones + watchlist + identity + segments + dark + port calls + encounters"
        targets = [(f"sqlite, {full_label}", f"sqlite:///{tmp}/full.db", True, True, True)]
        if not args.full_only:
            targets += [("sqlite, ingest only (detectors off)", f"sqlite:///{tmp}/plain.db", False, False,
                         False),
                        ("sqlite, the same without segments (integrity off)", f"sqlite:///{tmp}/noseg.db",
                         True, False, True),
                        ("sqlite, the same without encounters", f"sqlite:///{tmp}/noenc.db", True, True,
                         False)]
        if args.pg:
            pg_db = bench_database(args.pg, args.pg_bench_db)
            targets.append((f"postgresql, {full_label}", pg_db, True, True, True))
        rates: dict[str, float] = {}
        memory: dict[str, float] = {}
        for label, db, detectors, integrity, encounters in targets:
            result = run_replay(paths, db, detectors=detectors, integrity=integrity, encounters=encounters)
            memory[label] = float(result["peak_rss_mb"])  # type: ignore[arg-type]
            rate = rates[label] = float(result["messages"]) / float(result["seconds"])  # type: ignore[arg-type]
            own_rate = float(result["messages"]) / float(result["own_seconds"])  # type: ignore[arg-type]
            ratios = ", ".join(f"{rate / r:.2f}x {name}" for name, r in baselines.items())
            print(f"ais-watch replay, {label}: {result['messages']:,} messages, "
                  f"{result['positions_stored']:,} positions stored in {result['seconds']:.1f}s "
                  f"= {rate:,.0f} msg/s ({ratios}; target >= 0.50x {target_base}), "
                  f"peak RSS {result['peak_rss_mb']:.0f} MB (target < 300 MB); by its own clock "
                  f"{result['own_seconds']:.1f}s = {own_rate:,.0f} msg/s "
                  f"({own_rate / baselines[target_base]:.2f}x {target_base})")
            out[label] = (rate / baselines[target_base], own_rate / baselines[target_base])
        if args.full_only:
            return out
        full, plain, unsegmented, unmet = (rates[t[0]] for t in targets[:4])
        print(f"detectors on / off (sqlite): {full / plain:.2f} (target >= 0.80)")
        print(f"segments on / off (sqlite, every detector on): {full / unsegmented:.2f} (target >= 0.85); "
              f"peak RSS {memory[targets[0][0]] - memory[targets[2][0]]:+.0f} MB")
        print(f"encounters on / off (sqlite, every detector on): {full / unmet:.2f} (target >= 0.85); "
              f"peak RSS {memory[targets[0][0]] - memory[targets[3][0]]:+.0f} MB")
    return out


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"benchmark took {time.perf_counter() - start:.0f}s; peak RSS of this driver "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
