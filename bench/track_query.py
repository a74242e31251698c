"""A 7-day track for one vessel from a store of 10 million positions of 5,000 vessels (target p95 < 100 ms).

Builds the store (schema by Alembic through open_database, then the positions loaded with the raw driver
in time order, as ingest writes them, then ANALYZE), and times `ais_watch.store.queries.track()` for random
vessels and random 7-day windows, consuming every row. In the same run, the same query is timed as a bare
driver call (sqlite3 / asyncpg fetch) so the SQLAlchemy overhead is visible; the two alternate per query,
so neither one always finds the pages warm. Prints p50/p95/max, load time, table size and peak RSS.

Data: --vessels MMSIs, --positions / --vessels positions each, evenly spread over 60 days (2,000 per
vessel by default: one every 43 min, so a 7-day window holds about 233 points), deterministic.

Loading SQLite uses PRAGMA journal_mode=WAL and synchronous=OFF (not crash-safe; for loading only: the
timed queries run through the service's own engine and its pragmas), one transaction per 200,000 rows.
PostgreSQL is loaded with COPY (asyncpg copy_records_to_table) into a database of the benchmarks' own,
ais_watch_bench, beside the one --pg names (emptied first); the tests' database is never touched.

    python bench/track_query.py [--positions 10000000] [--vessels 5000] [--queries 200]
                                [--pg postgresql://...] [--sqlite-path FILE] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ais_watch.store.db import open_database
from ais_watch.store.partitions import DAY, create_partitions
from ais_watch.store.queries import track
from ais_watch.store.sqlite_process import sqlite_time
from ais_watch.store.writer import POSITION_COLUMNS
from bench.replay_throughput import bench_database

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=60)
WINDOW = timedelta(days=7)
BATCH = 200_000
FIRST_MMSI = 211_000_000
SEED = 20240101
TARGET_MS = 100.0

_COLUMNS = ", ".join(POSITION_COLUMNS)
_SQLITE_INSERT = f"INSERT INTO positions ({_COLUMNS}) VALUES ({', '.join('?' for _ in POSITION_COLUMNS)})"
# The SQL track() issues for one MMSI and a window, written by hand for the bare driver baseline.
_SQLITE_TRACK = (f"SELECT {_COLUMNS} FROM positions WHERE mmsi IN (?) AND time >= ? AND time <= ? "
                 "ORDER BY time, mmsi")
_PG_TRACK = (f"SELECT {_COLUMNS} FROM positions WHERE mmsi IN ($1) AND time >= $2 AND time <= $3 "
             "ORDER BY time, mmsi")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(n_positions: int, n_vessels: int) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of rows in POSITION_COLUMNS order, in time order overall: at step k every vessel i reports
    at START + k * interval + i * interval / n_vessels, moving along its own straight line."""
    per_vessel = n_positions // n_vessels
    interval_us = int(SPAN / timedelta(microseconds=1)) // per_vessel
    offset_us = interval_us // n_vessels
    rng = random.Random(SEED)
    lat0 = [rng.uniform(-60.0, 60.0) for _ in range(n_vessels)]
    lon0 = [rng.uniform(-170.0, 170.0) for _ in range(n_vessels)]
    sog = [round(rng.uniform(0.0, 20.0), 1) for _ in range(n_vessels)]
    cog = [round(rng.uniform(0.0, 359.9), 1) for _ in range(n_vessels)]
    step_deg = [s * (interval_us / 3.6e9) / 60.0 / 4 for s in sog]  # a quarter of the true distance
    station = [f"bs{i % 50:02d}" for i in range(n_vessels)]
    batch: list[tuple[Any, ...]] = []
    for k in range(per_vessel):
        base = START + timedelta(microseconds=k * interval_us)
        for i in range(n_vessels):
            lat = (lat0[i] + k * step_deg[i]) % 120.0 - 60.0
            lon = (lon0[i] + k * step_deg[i]) % 340.0 - 170.0
            batch.append((FIRST_MMSI + i, base + timedelta(microseconds=i * offset_us), lat, lon, sog[i],
                          cog[i], int(cog[i]), 0, 1, "bench", station[i], None, None))
            if len(batch) >= BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def windows(n_positions: int, n_vessels: int, n_queries: int) -> list[tuple[int, datetime, datetime]]:
    """Random (vessel, 7-day window) pairs, the same every run."""
    rng = random.Random(SEED + 1)
    last_start = (SPAN - WINDOW) / timedelta(seconds=1)
    out = []
    for _ in range(n_queries):
        since = START + timedelta(seconds=round(rng.uniform(0, last_start)))
        out.append((FIRST_MMSI + rng.randrange(n_vessels), since, since + WINDOW))
    return out


def stats(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {"p50": pct(50), "p95": pct(95), "max": ordered[-1]}


# --------------------------------------------------------------------------------------------- SQLite
def sqlite_count(path: Path) -> int | None:
    if not path.exists():
        return None
    try:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT count(*) FROM positions").fetchone()[0]
    except sqlite3.Error:
        return None


def load_sqlite(path: Path, n_positions: int, n_vessels: int) -> int:
    rows = 0
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")  # loading only: a crash mid-load loses the benchmark file
        conn.execute("PRAGMA cache_size=-512000")  # 500 MB: the (mmsi, time) index has 5,000 hot leaves
        for batch in generate(n_positions, n_vessels):
            conn.execute("BEGIN")
            conn.executemany(_SQLITE_INSERT, [(r[0], sqlite_time(r[1]), *r[2:]) for r in batch])
            conn.execute("COMMIT")
            rows += len(batch)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return rows


def sqlite_sizes(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        try:
            parts = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat WHERE name LIKE '%positions%' "
                                      "GROUP BY name").fetchall())
        except sqlite3.Error:
            parts = {}
        plan = conn.execute("EXPLAIN QUERY PLAN " + _SQLITE_TRACK,
                            (FIRST_MMSI, sqlite_time(START), sqlite_time(START + WINDOW))).fetchall()
    detail = ", ".join(f"{name} {size / 2**20:,.0f} MB" for name, size in sorted(parts.items()))
    return (f"file {path.stat().st_size / 2**20:,.0f} MB" + (f" ({detail})" if detail else "")
            + f"; plan: {' / '.join(str(p[-1]) for p in plan)}")


# ----------------------------------------------------------------------------------------- PostgreSQL
async def load_pg(dsn: str, n_positions: int, n_vessels: int) -> int:
    import asyncpg

    rows = 0
    conn = await asyncpg.connect(dsn)
    try:
        for batch in generate(n_positions, n_vessels):
            await conn.copy_records_to_table("positions", records=batch, columns=POSITION_COLUMNS)
            rows += len(batch)
        await conn.execute("VACUUM ANALYZE positions")
    finally:
        await conn.close()
    return rows


async def pg_sizes(dsn: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        # positions is partitioned by day: sum over its partitions (and their indexes by parent index).
        heap, total, parts = await conn.fetchrow(
            "SELECT sum(pg_relation_size(relid)), sum(pg_total_relation_size(relid)), count(*) "
            "FROM pg_partition_tree('positions') WHERE isleaf")
        idx = [(name, await conn.fetchval(
            f"SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree('{name}') WHERE isleaf"))
            for name in ("ix_positions_mmsi_time", "ix_positions_time")]
        plan = await conn.fetch("EXPLAIN " + _PG_TRACK, FIRST_MMSI, START, START + WINDOW)
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    detail = ", ".join(f"{r[0]} {r[1] / 2**20:,.0f} MB" for r in idx)
    return (f"total {total / 2**20:,.0f} MB in {parts} day partitions "
            f"(heap {heap / 2**20:,.0f} MB, {detail}); PostgreSQL {version}; "
            f"plan: {_plan_summary([r[0] for r in plan])}")


def _plan_summary(lines: list[str]) -> str:
    """The plan's first node, how many day partitions it reads and with which index: the whole plan is
    one scan per partition, too long to print."""
    import re

    read = {m.group(1) for line in lines if (m := re.search(r" on (positions_\d{8})\b", line))}
    indexed = {m.group(1) for line in lines if (m := re.search(r"(positions_\d{8})_mmsi_time_idx", line))}
    return (f"{lines[0].strip()}; {len(read)} day partitions read, {len(indexed & read)} of them by their "
            f"(mmsi, time) index")


# ------------------------------------------------------------------------------------------------ timing
async def time_queries(label: str, url: str, queries: list[tuple[int, datetime, datetime]],
                       raw: Callable[[int, datetime, datetime], Awaitable[int]]) -> float:
    engine = await open_database(url)
    try:
        async def via_track(mmsi: int, since: datetime, until: datetime) -> int:
            return sum([1 async for _ in track(engine, [mmsi], since, until)])

        for mmsi, since, until in queries[:10]:  # warm-up: connections, statement caches
            await via_track(mmsi, since, until)
            await raw(mmsi, since, until)
        timed: dict[str, list[float]] = {"track()": [], "raw driver": []}
        points: list[int] = []
        for n, (mmsi, since, until) in enumerate(queries):
            order = [("track()", via_track), ("raw driver", raw)]
            if n % 2:
                order.reverse()
            counts = []
            for name, fn in order:
                t0 = time.perf_counter()
                counts.append(await fn(mmsi, since, until))
                timed[name].append((time.perf_counter() - t0) * 1000)
            if counts[0] != counts[1]:
                raise SystemExit(f"{label}: track() and the raw query disagree: {counts}")
            points.append(counts[0])
    finally:
        await engine.dispose()
    print(f"  {len(queries)} queries, points per track: min {min(points)}, "
          f"mean {sum(points) / len(points):.0f}, max {max(points)}")
    for name, samples in timed.items():
        s = stats(samples)
        print(f"  {name:<11} p50 {s['p50']:.2f} ms, p95 {s['p95']:.2f} ms, max {s['max']:.2f} ms")
    t = stats(timed["track()"])
    r = stats(timed["raw driver"])
    verdict = "OK" if t["p95"] < TARGET_MS else "MISSED"
    print(f"  {label}: track() p95 {t['p95']:.1f} ms (target < {TARGET_MS:.0f} ms) {verdict}; "
          f"SQLAlchemy overhead at p50 {t['p50'] - r['p50']:+.2f} ms ({t['p50'] / r['p50']:.1f}x raw)")
    return t["p95"]


async def run_sqlite(args: argparse.Namespace, queries: list[tuple[int, datetime, datetime]]) -> float:
    tmpdir = None
    if args.sqlite_path:
        path = Path(args.sqlite_path).resolve()
    else:
        tmpdir = tempfile.mkdtemp(prefix="ais-watch-track-")
        path = Path(tmpdir) / "track.db"
    expected = args.positions // args.vessels * args.vessels
    print(f"SQLite {sqlite3.sqlite_version} at {path}")
    try:
        if sqlite_count(path) == expected:
            print(f"  reusing the store: {expected:,} positions already there (no load)")
            await (await open_database(f"sqlite:///{path}")).dispose()  # at head
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            t0 = time.perf_counter()
            await (await open_database(f"sqlite:///{path}")).dispose()  # the schema, by Alembic
            rows = load_sqlite(path, args.positions, args.vessels)
            elapsed = time.perf_counter() - t0
            print(f"  loaded {rows:,} positions of {args.vessels:,} vessels in {elapsed:.0f}s "
                  f"({rows / elapsed:,.0f} rows/s, WAL + synchronous=OFF while loading, then ANALYZE); "
                  f"peak RSS so far {peak_rss_mb():.0f} MB")
        print(f"  size: {sqlite_sizes(path)}")
        raw_conn = sqlite3.connect(path)

        async def raw(mmsi: int, since: datetime, until: datetime) -> int:
            return len(raw_conn.execute(_SQLITE_TRACK, (mmsi, sqlite_time(since),
                                                        sqlite_time(until))).fetchall())

        try:
            return await time_queries("SQLite", f"sqlite:///{path}", queries, raw)
        finally:
            raw_conn.close()
    finally:
        if not args.keep:
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)


async def run_pg(args: argparse.Namespace, queries: list[tuple[int, datetime, datetime]]) -> float:
    import asyncpg

    # bench_database runs its own event loop, so off this one. Emptied: PostgreSQL is loaded every run.
    url = await asyncio.to_thread(bench_database, args.pg)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    print(f"PostgreSQL: database {dsn.rsplit('/', 1)[-1]} (emptied)")
    t0 = time.perf_counter()
    engine = await open_database(url)  # the schema, by Alembic
    async with engine.begin() as conn:  # the day partitions the writer would make as it meets each day
        await conn.run_sync(create_partitions, [(START + DAY * i).date() for i in range(SPAN.days + 1)])
    await engine.dispose()
    rows = await load_pg(dsn, args.positions, args.vessels)
    elapsed = time.perf_counter() - t0
    print(f"  loaded {rows:,} positions of {args.vessels:,} vessels in {elapsed:.0f}s "
          f"({rows / elapsed:,.0f} rows/s, COPY, then VACUUM ANALYZE); "
          f"peak RSS so far {peak_rss_mb():.0f} MB")
    print(f"  size: {await pg_sizes(dsn)}")
    raw_conn = await asyncpg.connect(dsn)

    async def raw(mmsi: int, since: datetime, until: datetime) -> int:
        return len(await raw_conn.fetch(_PG_TRACK, mmsi, since, until))

    try:
        return await time_queries("PostgreSQL", url, queries, raw)
    finally:
        await raw_conn.close()


async def main_async(args: argparse.Namespace) -> None:
    per_vessel = args.positions // args.vessels
    queries = windows(args.positions, args.vessels, args.queries)
    print(f"store: {per_vessel * args.vessels:,} positions = {args.vessels:,} vessels x {per_vessel:,} over "
          f"{SPAN.days} days; {args.queries} track() queries of one vessel over a random 7-day window "
          f"(~{per_vessel * WINDOW / SPAN:.0f} points)")
    results = {"SQLite": await run_sqlite(args, queries)}
    if args.pg:
        results["PostgreSQL"] = await run_pg(args, queries)
    else:
        print("PostgreSQL: skipped (no --pg and no AIS_WATCH_TEST_PG)")
    for label, p95 in results.items():
        print(f"{label}: p95 {p95:.1f} ms (target < {TARGET_MS:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=10_000_000)
    parser.add_argument("--vessels", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg", default=os.environ.get("AIS_WATCH_TEST_PG", ""),
                        help="also PostgreSQL: a database ais_watch_bench beside this one (emptied)")
    parser.add_argument("--sqlite-path", default="", help="the SQLite store (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the SQLite file; a rerun with the same file and sizes skips loading")
    args = parser.parse_args()
    if args.positions < args.vessels or args.queries < 1:
        parser.error("need --positions >= --vessels and --queries >= 1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"benchmark took {time.perf_counter() - start:.0f}s; peak RSS {peak_rss_mb():.0f} MB")
