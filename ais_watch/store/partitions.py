"""Day partitions of `positions` on PostgreSQL (native declarative range partitioning on `time`).

A partition is `positions_YYYYMMDD` and holds that UTC day. Partitions are made ahead of time by the
maintenance job and, for whatever else arrives (a replay of 2013 traffic, a late message), by the writer
just before it writes a batch: a row never finds its day missing. Creating one takes an advisory lock,
so two instances (or the job and a writer) never race on the same DDL.

The functions on a sync `Connection` are shared by the Alembic migration and the async code (run_sync).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

DAY = timedelta(days=1)
PARENT = "positions"
_NAME = re.compile(r"^positions_(\d{8})$")
# pg_advisory_xact_lock key for partition DDL (create, thin, drop): any fixed 64-bit number of our own.
DDL_LOCK_KEY = 0x41495357_0001


def partition_name(day: date) -> str:
    return f"{PARENT}_{day:%Y%m%d}"


def day_of_partition(name: str) -> date | None:
    """The day a partition's name stands for; None for any other table."""
    match = _NAME.match(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_of(moment: datetime) -> date:
    return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).date()


def days_of(rows: Sequence[tuple[Any, ...]]) -> set[date]:
    """The UTC days of position rows (their time is the second column). A batch's rows are nearly always
    of one day, told by the earliest and the latest without a day worked out for every row."""
    times = list(map(itemgetter(1), rows))
    if not times:
        return set()
    first, last = day_of(min(times)), day_of(max(times))
    return {first} if first == last else {day_of(t) for t in times}


def bounds_sql(day: date) -> str:
    start = day_start(day)
    return f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + DAY).isoformat()}')"


def partition_days(conn: Connection) -> set[date]:
    """The days that have a partition now."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:parent)"), {"parent": PARENT})
    return {d for (name,) in rows if (d := day_of_partition(name)) is not None}


def create_partitions(conn: Connection, days: Iterable[date]) -> list[date]:
    """Create the missing ones of these days' partitions, in the caller's transaction. Returns those made."""
    wanted = set(days)
    if not wanted - partition_days(conn):
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK_KEY})
    missing = sorted(wanted - partition_days(conn))  # again under the lock: another instance may have won
    for day in missing:
        conn.execute(text(f"CREATE TABLE {partition_name(day)} PARTITION OF {PARENT} {bounds_sql(day)}"))
    return missing


class PartitionCache:
    """The writer's memory of which days have a partition, so a batch costs one set lookup, not a query."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._known: set[date] = set()
        self.created = 0

    async def ensure(self, days: set[date]) -> None:
        if days <= self._known:
            return
        async with self.engine.begin() as conn:
            made = await conn.run_sync(create_partitions, days - self._known)
        self.created += len(made)
        self._known |= days

    def forget(self) -> None:
        """After a write found a partition missing (retention dropped it): ask the database again."""
        self._known.clear()


def is_missing_partition(err: BaseException) -> bool:
    return "no partition of relation" in str(err)


def days_ahead(today: date, count: int) -> list[date]:
    return [today + DAY * i for i in range(count + 1)]
