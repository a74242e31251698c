"""Retention: what thinning one old day costs, and what ingest feels while it happens.

Loads `--positions` positions of `--vessels` vessels into one old day (one fix every few seconds each, as
a busy coastal receiver hears them) and a few into today, then runs the maintenance job
(`ais_watch.store.retention.maintain_positions`, full detail 90 days, one position per 10 minutes after)
while a writer keeps inserting batches of 2,000 positions into today through the service's StoreWriter.
Prints the time the job took, rows before and after, and the writer's batch latency during the job beside
the same writer's latency just before it (the baseline of the same run): on PostgreSQL the parent table is
locked only for the swap, so ingest should barely notice; on SQLite the DELETE holds the one write lock.

PostgreSQL runs in a database of the benchmarks' own (ais_watch_bench), never the tests'.

    python bench/retention.py [--positions 2000000] [--vessels 2000] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.exc import OperationalError

from ais_watch.model import IngestStats
from ais_watch.store.db import open_database
from ais_watch.store.retention import RetentionPolicy, maintain_positions
from ais_watch.store.writer import POSITION_COLUMNS, Batch, StoreWriter
from bench.replay_throughput import bench_database
from bench.track_query import stats

OLD_DAY = datetime(2026, 6, 1, tzinfo=UTC)  # > 90 days before now: due for thinning


def row(mmsi: int, when: datetime, k: int) -> tuple[Any, ...]:
    values = {"mmsi": mmsi, "time": when, "lat": 42.0 + k * 1e-5, "lon": 130.0 + (mmsi % 1000) * 1e-3,
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
        report = await maintain_positions(engine, RetentionPolicy(full_detail_days=90, thin_interval=600))
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
    parser.add_argument("--pg", default=os.environ.get("AIS_WATCH_TEST_PG", ""))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="ais-watch-retention-") as tmp:
            await run("SQLite", f"sqlite:///{Path(tmp) / 'retention.db'}", args)
    if args.pg:
        url = await asyncio.to_thread(bench_database, args.pg)
        await run("PostgreSQL", url, args)


if __name__ == "__main__":
    asyncio.run(main())
