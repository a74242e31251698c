"""GET /api/fleet with 2,000 watched vessels, beside GET /api/map (the dashboard's other whole-fleet read,
5,000 vessels) and /healthz in the same run, over HTTP on loopback from the service's own app.

The store (fixed seed): --watched watchlist entries (80% by IMO, 15% by MMSI, 5% associations; as many
again expired associations, which the board leaves out), 90% of them heard (one in ten IMO ships on two
MMSIs), among --others unwatched vessels, most heard in the last day; ten port calls per heard watched
vessel (a fifth still in port) and one per ten others; twelve alerts per watched vessel, a fifth of them
still open (some anomalies of the last day); 5% of the watched held dark by the dark detector. Rows go in
with SQLAlchemy Core, the schema by Alembic through open_database.

The three routes are asked in turn, --rounds times after a warm-up; printed: each route's p50/p95/max,
the SQL statements one /api/fleet runs, the board's rows, and fleet_board() alone (no HTTP, no JSON).

    python bench/fleet.py [--watched 2000] [--others 50000] [--rounds 60] [--sqlite-path FILE]
                          [--pg URL [--pg-database ais_watch_bench]]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import KINDS, Severity
from ais_watch.api.app import create_app
from ais_watch.api.tokens import create_token
from ais_watch.fleet import fleet_board, places_of
from ais_watch.model import imo_is_valid
from ais_watch.store.db import open_database
from ais_watch.store.schema import alerts, detector_state, port_calls, vessels, watchlist
from ais_watch.zones import ZoneRegistry
from bench.replay_throughput import bench_database
from bench.track_query import stats

SEED = 20240601
FIRST_MMSI = 273_000_000
PORTS = [("kp-rajin", "Rajin", "KP", 42.2333, 130.30), ("ru-vostochny", "Vostochny", "RU", 42.757, 133.06),
         ("ru-vladivostok", "Vladivostok", "RU", 43.11, 131.88),
         ("kp-chongjin", "Chongjin", "KP", 41.77, 129.8)]
CHUNK = 5000


def valid_imos(count: int) -> list[int]:
    out, base = [], 900000
    while len(out) < count:
        out += [base * 10 + d for d in range(10) if imo_is_valid(base * 10 + d)][:1]
        base += 1
    return out


def build_rows(watched: int, others: int, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, deterministic."""
    rng = random.Random(SEED)
    imos = valid_imos(watched)
    entries: list[dict[str, Any]] = []
    vessel_rows: list[dict[str, Any]] = []
    watched_mmsis: list[int] = []
    mmsi = FIRST_MMSI

    def vessel(imo: int | None, heard_hours_ago: float | None, name: str) -> int:
        nonlocal mmsi
        mmsi += 1
        seen = None if heard_hours_ago is None else now - timedelta(hours=heard_hours_ago)
        vessel_rows.append({"mmsi": mmsi, "mmsi_valid": True, "flag": "RU", "name": name, "imo": imo,
                            "first_seen": now - timedelta(days=400), "last_seen": seen,
                            "last_lat": rng.uniform(34, 46) if seen else None,
                            "last_lon": rng.uniform(128, 142) if seen else None,
                            "last_sog": rng.uniform(0, 14), "last_cog": rng.uniform(0, 360),
                            "last_heading": 90})
        return mmsi

    stamp = now - timedelta(days=30)
    for i in range(watched + watched // 20):  # the extra twentieth: expired associations
        kind = "imo" if i < watched * 0.8 else "mmsi" if i < watched * 0.95 else "association"
        expired = i >= watched
        heard = rng.random() < 0.9
        hours = rng.expovariate(1 / 6) if heard else None
        name = f"WATCHED {i}"
        imo = imos[i] if kind == "imo" else None
        own = vessel(imo, hours, name)
        if kind == "imo" and heard and rng.random() < 0.1:  # the same hull heard on an earlier MMSI
            watched_mmsis.append(vessel(imo, hours + 200, name))
        if heard and not expired:
            watched_mmsis.append(own)
        key = f"imo:{imo}" if kind == "imo" else f"mmsi:{own}"
        entries.append({"key": key, "name": name, "imo": imo, "mmsi": None if kind == "imo" else own,
                        "flag": "Russia", "reason": "bench", "source": "bench", "aliases": [], "tags": [],
                        "association": {"met": {"key": "imo:9179842"}} if kind == "association" else None,
                        "expires_at": (now - timedelta(days=1) if expired else now + timedelta(days=30))
                        if kind == "association" else None, "created_at": stamp, "updated_at": stamp})
    other_mmsis = [vessel(None, rng.uniform(0, 30), f"OTHER {i}") for i in range(others)]

    calls: list[dict[str, Any]] = []
    watched_set, dark_set = set(watched_mmsis), set(watched_mmsis[::20])
    for m in watched_mmsis + other_mmsis[::10]:
        count = 10 if m in watched_set else 1
        start = now - timedelta(days=300)
        for k in range(count):
            port = rng.choice(PORTS)
            arrival = start + timedelta(days=30 * k + rng.uniform(0, 20))
            still = k == count - 1 and rng.random() < 0.2
            calls.append({"mmsi": m, "imo": None, "vessel_name": None, "port_id": port[0],
                          "port_name": port[1], "country": port[2], "kind": "port", "arrival": arrival,
                          "established_at": arrival, "duration_seconds": None,
                          "departure": None if still else arrival + timedelta(hours=30),
                          "evidence": "entry+stop", "lat": port[3], "lon": port[4]})

    alert_rows: list[dict[str, Any]] = []
    for n, m in enumerate(watched_mmsis * 12):
        kind = rng.choice(KINDS)
        state = "open" if rng.random() < 0.2 else rng.choice(("acknowledged", "resolved"))
        when = now - timedelta(hours=rng.uniform(0, 24 * 60))
        details = {"reason": "impossible_speed"} if kind == "position_anomaly" else {}
        alert_rows.append({"dedup_key": f"bench|{n}", "cooldown_key": f"bench|{n}", "kind": kind,
                           "severity": int(rng.choice(list(Severity))), "mmsi": m, "imo": None,
                           "vessel_name": None, "place": None, "occurred_at": when, "raised_at": when,
                           "lat": None, "lon": None, "state": state, "details": details, "tags": [],
                           "zones": []})

    dark = [{"detector": "dark", "key": str(v["mmsi"]), "state": {"alerted_for": v["last_seen"].isoformat()},
             "updated_at": now}
            for v in vessel_rows if v["mmsi"] in dark_set and v["last_seen"] is not None]
    return {"watchlist": entries, "vessels": vessel_rows, "port_calls": calls, "alerts": alert_rows,
            "detector_state": dark}


async def load(engine: AsyncEngine, rows: dict[str, list[dict[str, Any]]]) -> None:
    tables = {"watchlist": watchlist, "vessels": vessels, "port_calls": port_calls, "alerts": alerts,
              "detector_state": detector_state}
    async with engine.begin() as conn:
        for name, table in tables.items():
            for start in range(0, len(rows[name]), CHUNK):
                await conn.execute(insert(table), rows[name][start:start + CHUNK])
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE")
    else:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")


async def bench(db_url: str, watched: int, others: int, rounds: int) -> None:
    now = datetime.now(UTC)
    engine = await open_database(db_url)
    runner: web.AppRunner | None = None
    try:
        began = time.perf_counter()
        rows = build_rows(watched, others, now)
        await load(engine, rows)
        print(f"store: {len(rows['watchlist']):,} watchlist entries, {len(rows['vessels']):,} vessels, "
              f"{len(rows['port_calls']):,} port calls, {len(rows['alerts']):,} alerts, "
              f"{len(rows['detector_state']):,} dark; loaded in {time.perf_counter() - began:.1f} s "
              f"({engine.dialect.name})")
        token = await create_token(engine, "viewer", "bench", replace=True)
        runner = web.AppRunner(create_app(engine, ZoneRegistry([])))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        routes = {"/api/fleet": f"http://127.0.0.1:{port}/api/fleet",
                  "/api/map": f"http://127.0.0.1:{port}/api/map?hours=24&limit=5000",
                  "/healthz": f"http://127.0.0.1:{port}/healthz"}
        samples: dict[str, list[float]] = {route: [] for route in routes}
        sizes: dict[str, int] = {}
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            for round_ in range(rounds + 3):  # three rounds of warm-up
                order = list(routes) if round_ % 2 else list(routes)[::-1]
                for route in order:
                    t = time.perf_counter()
                    async with http.get(routes[route]) as response:
                        body = await response.read()
                        assert response.status == 200, (route, response.status, body[:200])
                    if round_ >= 3:
                        samples[route].append((time.perf_counter() - t) * 1000)
                        sizes[route] = len(body)
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        places = places_of(ZoneRegistry([]).index)
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        board = await fleet_board(engine, datetime.now(UTC), places)
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        alone = []
        for _ in range(max(10, rounds // 3)):
            t = time.perf_counter()
            await fleet_board(engine, datetime.now(UTC), places)
            alone.append((time.perf_counter() - t) * 1000)
        states: dict[str, int] = {}
        for row in board:
            states[row["state"]["state"]] = states.get(row["state"]["state"], 0) + 1
        print(f"board: {len(board):,} rows ({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}); "
              f"{len(statements)} SQL statements a request")
        for route, values in samples.items():
            s = stats(values)
            print(f"{route:12} p50 {s['p50']:7.1f} ms  p95 {s['p95']:7.1f} ms  max {s['max']:7.1f} ms  "
                  f"({sizes[route] / 1024:,.0f} KiB, {len(values)} requests)")
        s = stats(alone)
        print(f"{'fleet_board()':12} p50 {s['p50']:7.1f} ms  p95 {s['p95']:7.1f} ms  "
              "(in process, no HTTP/JSON)")
    finally:
        if runner is not None:
            await runner.cleanup()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watched", type=int, default=2000)
    parser.add_argument("--others", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--pg", help="a PostgreSQL URL: the bench uses --pg-database beside it")
    parser.add_argument("--pg-database", default="ais_watch_bench",
                        help="the database the bench empties and fills (default ais_watch_bench)")
    parser.add_argument("--sqlite-path", help="the SQLite file (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg:
            db_url = bench_database(args.pg, args.pg_database)
        else:
            path = Path(args.sqlite_path) if args.sqlite_path else Path(tmp) / "fleet.db"
            path.unlink(missing_ok=True)
            db_url = f"sqlite:///{path}"
        asyncio.run(bench(db_url, args.watched, args.others, args.rounds))


if __name__ == "__main__":
    main()
