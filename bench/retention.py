"""Retention: what thinning keeps of real tracks, what thinning one old day costs, and what ingest feels
while it happens.

1. **Real tracks.** Replays the bundled recordings (ais_watch/data/demo/: Australia 2012, Denmark 2013)
   into a SQLite file and thins every vessel's day three ways, in the same run: the rule before this
   version (each vessel's first fix in every 10 minutes), Douglas-Peucker alone at
   `--tolerance` metres, and the default thinning (Douglas-Peucker, every evidence fix, a fix at least
   every hour: what `ais-watch maintain` does, whose dry run must count the same). For each: positions
   kept, and how far the thinned track is from the full one (each left-out fix's distance to the
   segment that replaced it, as the map draws it, in metres on the sphere): the largest, the 99th
   percentile, the share over the tolerance.
2. **One busy old day.** Loads `--positions` positions of `--vessels` vessels (one fix every few seconds
   each, weaving a few tens of metres either side of their course) into one old day and a few into
   today, then runs the maintenance job (full detail 90 days, the default thinning) while a writer keeps
   inserting batches of 2,000 positions into today through the service's StoreWriter. Prints the time
   the job took, rows before and after, and the writer's batch latency during the job beside the same
   writer's latency just before it (the baseline of the same run): on PostgreSQL the parent table is
   locked only for the swap; on SQLite each delete of 5,000 rows holds the one write lock.

PostgreSQL runs in a database of the benchmarks' own (ais_watch_bench, or --bench-db), never the tests'.

    python bench/retention.py [--positions 2000000] [--vessels 2000] [--tolerance 10] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ais_watch.cli import main as ais_watch_main
from ais_watch.demo import DEMO_DIR
from ais_watch.model import IngestStats
from ais_watch.store.db import open_database
from ais_watch.store.retention import RetentionPolicy, day_evidence, maintain_positions
from ais_watch.store.thinning import ThinningRule, deviations_m, keep_mask
from ais_watch.store.writer import POSITION_COLUMNS, Batch, StoreWriter
from bench.replay_throughput import bench_database
from bench.track_query import stats

OLD_DAY = datetime(2026, 6, 1, tzinfo=UTC)  # > 90 days before now: due for thinning


# ------------------------------------------------------------------------------------------ real tracks
def one_per_interval(times: np.ndarray, interval: float = 600.0) -> np.ndarray:
    """The rule before this version: each vessel's first fix in every interval of the day."""
    kept = np.zeros(len(times), dtype=np.bool_)
    kept[np.unique(times // int(interval * 1_000_000), return_index=True)[1]] = True
    kept[[0, -1]] = True  # the segments either end are measured from the day's first and last fix
    return kept


async def vessel_days(url: str) -> list[tuple[Any, ...]]:
    """(day, mmsi, times, lats, lons, believed) of every vessel's day."""
    engine = await open_database(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT substr(time, 1, 10), mmsi, CAST(strftime('%s', time) AS INTEGER) * 1000000 + "
                "CAST(substr(time, 21, 6) AS INTEGER), lat, lon, anomaly IS NULL FROM positions "
                "ORDER BY 1, mmsi, time"))).all()
    finally:
        await engine.dispose()
    out: list[tuple[Any, ...]] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][:2] != rows[start][:2]:
            part = rows[start:i]
            out.append((part[0][0], part[0][1], np.array([r[2] for r in part], dtype=np.int64),
                        np.array([r[3] for r in part]), np.array([r[4] for r in part]),
                        np.array([bool(r[5]) for r in part])))
            start = i
    return out


def figures(label: str, tracks: list[tuple[Any, ...]], keep: Any, tolerance: float, total: int) -> int:
    """Prints what one rule keeps of the tracks and how far off it is; returns the positions kept."""
    t0 = time.perf_counter()
    kept, off = 0, []
    for track in tracks:
        _, _, _, lats, lons, believed = track
        mask = keep(track)
        kept += int(mask.sum())
        line = np.flatnonzero(believed)
        if len(line) > 2:
            on_line = mask[line]
            on_line[[0, -1]] = True
            off.append(deviations_m(lats[line], lons[line], on_line))
    took = time.perf_counter() - t0
    d = np.concatenate(off)
    print(f"  {label:<44} {kept:>7,} kept ({kept / total:5.1%}); off the full track: max {d.max():,.1f} m, "
          f"p99 {np.percentile(d, 99):,.1f} m, over {tolerance:g} m {np.mean(d > tolerance):.1%} of "
          f"{len(d):,} left out ({took:.1f} s)")
    return kept


async def real_tracks(args: argparse.Namespace, tmp: Path) -> None:
    url = f"sqlite:///{tmp / 'recordings.db'}"
    recordings = sorted(DEMO_DIR.glob("*.nmea*"))
    with contextlib.redirect_stdout(io.StringIO()):  # the replay's summary
        await asyncio.to_thread(ais_watch_main, ["--db", url, "--log-level", "WARNING", "replay",
                                                 *map(str, recordings), "--no-progress"])
    every_track = await vessel_days(url)
    # MMSI 0 is no one: many transmitters with no identity set, whose "track" jumps across the world.
    tracks = [t for t in every_track if t[1] >= 100_000_000]
    total = sum(len(t[2]) for t in tracks)
    spans = np.array([(t[2][-1] - t[2][0]) / 60e6 for t in tracks])
    print(f"real tracks: {', '.join(p.name for p in recordings)}: {total:,} positions, {len(tracks):,} "
          f"vessel-days, each heard over {np.median(spans):.0f} min (median), {spans.max():.0f} min at most "
          f"(MMSIs under 100000000 left out of the figures)")
    policy = RetentionPolicy(full_detail_days=90, thin_tolerance_m=args.tolerance)
    engine = await open_database(url)
    try:
        evidence: dict[str, Any] = {}
        async with engine.connect() as conn:
            for day in sorted({t[0] for t in tracks}):
                evidence[day] = await day_evidence(conn, datetime.fromisoformat(day).date())
        dry = await maintain_positions(engine, policy, include_replayed=True, dry_run=True)
    finally:
        await engine.dispose()
    before = figures("one per 10 minutes (the rule before)", tracks, lambda t: one_per_interval(t[2]),
                     args.tolerance, total)
    for tolerance in sorted({args.tolerance / 2, args.tolerance, args.tolerance * 5}):
        figures(f"Douglas-Peucker alone, {tolerance:g} m", tracks, lambda t, tol=tolerance: keep_mask(
            t[2], t[3], t[4], t[5], ThinningRule(tolerance_m=tol, max_gap=0)), tolerance, total)
    def default(t: tuple[Any, ...]) -> Any:
        return keep_mask(t[2], t[3], t[4], t[5], policy.rule, evidence[t[0]].get(t[1]))

    now = figures(f"the default: {args.tolerance:g} m, evidence, a fix an hour", tracks, default,
                  args.tolerance, total)
    print(f"  the default keeps {now / before:.2f}x the positions the rule before kept")
    kept = sum(int(default(t).sum()) for t in every_track)
    dry_kept = sum(w.kept for w in dry.days)
    print(f"  `ais-watch maintain --dry-run` on the same database, every MMSI: {dry_kept:,} kept; the "
          f"default above over every MMSI {kept:,} ({'the same' if dry_kept == kept else 'NOT THE SAME'})")


# ------------------------------------------------------------------------------------- one busy old day
def row(mmsi: int, when: datetime, k: int) -> tuple[Any, ...]:
    # Northward at about 1 m a fix, weaving 30 m either side of the course every 200 fixes.
    lon = 130.0 + (mmsi % 1000) * 1e-3 + 3.6e-4 * np.sin(k * np.pi / 100)
    values = {"mmsi": mmsi, "time": when, "lat": 42.0 + k * 1e-5, "lon": float(lon),
              "sog": 9.5, "cog": 45.0, "heading": 45, "nav_status": 0, "msg_type": 1, "source": "bench",
              "station": None, "segment": None, "anomaly": None}
    return tuple(values[c] for c in POSITION_COLUMNS)


def old_day_batches(n_positions: int, n_vessels: int) -> list[list[tuple[Any, ...]]]:
    per_vessel = n_positions // n_vessels
    step = timedelta(days=1) / per_vessel
    rows = [row(211_000_000 + v, OLD_DAY + step * k + timedelta(microseconds=v), k)
            for k in range(per_vessel) for v in range(n_vessels)]
    return [rows[i:i + 20_000] for i in range(0, len(rows), 20_000)]


async def timed_writes(writer: StoreWriter, stop: asyncio.Event, samples: list[float],
                       retries: list[int]) -> None:
    """Batches of 2,000 positions for today, one after another, each timed to its commit."""
    k = 0
    while not stop.is_set():
        now = datetime.now(UTC)
        batch = Batch(positions=[row(990_000_000 + i, now + timedelta(microseconds=i), k)
                                 for i in range(2000)])
        t0 = time.perf_counter()
        while True:  # as the service's writer does: a locked or unreachable database is waited out
            try:
                await writer.write(batch)
                break
            except OperationalError:
                retries[0] += 1
                await asyncio.sleep(0.1)
        samples.append((time.perf_counter() - t0) * 1000)
        k += 1
        await asyncio.sleep(0.05)


async def run(label: str, url: str, args: argparse.Namespace) -> None:
    engine = await open_database(url)
    try:
        writer = StoreWriter(engine, IngestStats())
        t0 = time.perf_counter()
        for batch in old_day_batches(args.positions, args.vessels):
            await writer.write(Batch(positions=batch))
        print(f"{label}: loaded {args.positions:,} positions into {OLD_DAY.date()} in "
              f"{time.perf_counter() - t0:.0f}s")

        baseline: list[float] = []
        retries = [0]
        stop = asyncio.Event()
        task = asyncio.create_task(timed_writes(writer, stop, baseline, retries))
        await asyncio.sleep(args.baseline_seconds)
        stop.set()
        await task

        during: list[float] = []
        retries = [0]
        stop = asyncio.Event()
        task = asyncio.create_task(timed_writes(writer, stop, during, retries))
        t0 = time.perf_counter()
        policy = RetentionPolicy(full_detail_days=90, thin_tolerance_m=args.tolerance)
        report = await maintain_positions(engine, policy, include_replayed=False)
        took = time.perf_counter() - t0
        stop.set()
        await task
        before, after = report.thinned.get(OLD_DAY.date(), (0, 0))
        print(f"  thinned {before:,} -> {after:,} positions ({after / max(before, 1):.1%} kept) "
              f"in {took:.1f}s = {before / took:,.0f} rows/s")
        b, d = stats(baseline), stats(during)
        print(f"  ingest batch of 2,000 before: p50 {b['p50']:.1f} ms, p95 {b['p95']:.1f} ms, "
              f"max {b['max']:.1f} ms ({len(baseline)} batches)")
        print(f"  ingest batch during thinning: p50 {d['p50']:.1f} ms, p95 {d['p95']:.1f} ms, "
              f"max {d['max']:.1f} ms ({len(during)} batches); "
              f"max / baseline p95 = {d['max'] / b['p95']:.1f}x; retried on a locked/busy database "
              f"{retries[0]} times")
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=2_000_000)
    parser.add_argument("--vessels", type=int, default=2_000)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--tolerance", type=float, default=10.0, help="retention.thin_tolerance_m")
    parser.add_argument("--skip-real", action="store_true", help="not the real tracks")
    parser.add_argument("--pg", default=os.environ.get("AIS_WATCH_TEST_PG", ""))
    parser.add_argument("--bench-db", default="ais_watch_bench",
                        help="the PostgreSQL database beside --pg's to run in (emptied first)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_real:
        with tempfile.TemporaryDirectory(prefix="ais-watch-retention-") as tmp:
            await real_tracks(args, Path(tmp))
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="ais-watch-retention-") as tmp:
            await run("SQLite", f"sqlite:///{Path(tmp) / 'retention.db'}", args)
    if args.pg:
        url = await asyncio.to_thread(bench_database, args.pg, args.bench_db)
        await run("PostgreSQL", url, args)


if __name__ == "__main__":
    asyncio.run(main())
