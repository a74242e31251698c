"""What grouping alerts into incidents costs where alerts are stored, beside the same store with the
grouping switched off (the baseline), in the same run and on the same kind of database.

A fleet of --vessels watched ships raises --alerts alerts (fixed seed: kinds of a voyage, event times
a few hours apart, so most join an incident and some open one), each stored by AlertStore.raise_alerts
in its own transaction as the pipeline stores a tick's drafts. Printed: per-alert p50/p99 and the total,
with incidents and without, and how many incidents were made. Compare the ratio; the machine is shared.

    python bench/incidents.py [--db sqlite|postgresql://...] [--vessels 200] [--alerts 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import func, select

from ais_watch.alerts import incident_records
from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.store.db import open_database
from ais_watch.store.schema import incidents

T0 = datetime(2024, 6, 1, tzinfo=UTC)
KINDS = ("zone_entry", "port_call", "port_departure", "went_dark", "reappeared", "zone_exit")


def drafts(vessels: int, count: int) -> list[AlertDraft]:
    rng = random.Random(15)
    clock = {m: T0 for m in range(273_000_000, 273_000_000 + vessels)}
    out = []
    for n in range(count):
        mmsi = rng.choice(list(clock))
        clock[mmsi] += timedelta(hours=rng.choice((2, 6, 12, 30, 60)))  # some gaps past the 48 h window
        out.append(AlertDraft(kind=KINDS[n % len(KINDS)], occurred_at=clock[mmsi], event_key=str(n),
                              mmsi=mmsi, imo=None, vessel_name=f"SHIP {mmsi}", place="Rajin"))
    return out


async def run(url: str, batch: list[AlertDraft], grouped: bool) -> tuple[list[float], int]:
    engine = await open_database(url)
    try:
        store = AlertStore(engine, cooldown=0)
        times = []
        patch: Any = (contextlib.nullcontext() if grouped else
                      mock.patch.object(incident_records, "assign", mock.AsyncMock(return_value=None)))
        with patch:
            for draft in batch:
                began = time.perf_counter()
                await store.raise_alerts([draft])
                times.append(time.perf_counter() - began)
        async with engine.connect() as conn:
            made = int(await conn.scalar(select(func.count()).select_from(incidents)) or 0)
        return times, made
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--vessels", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=3000)
    args = parser.parse_args()
    batch = drafts(args.vessels, args.alerts)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for grouped in (False, True):  # the baseline first
            if args.db == "sqlite":
                url = f"sqlite:///{Path(tmp) / f'bench-{grouped}.db'}"
            else:
                url = args.db
                await reset(url)
            results[grouped] = await run(url, batch, grouped)
    for grouped, (times, made) in results.items():
        ms = sorted(t * 1000 for t in times)
        label = "with incidents   " if grouped else "without (baseline)"
        print(f"{label} {len(ms)} alerts: total {sum(ms) / 1000:.2f} s, per alert p50 "
              f"{statistics.median(ms):.2f} ms, p99 {ms[int(len(ms) * 0.99)]:.2f} ms, incidents {made}")
    ratio = sum(results[True][0]) / sum(results[False][0])
    print(f"with / without: {ratio:.2f}")


async def reset(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
