"""Position maintenance, a scheduled job on the leader: partitions made ahead, old days thinned, older
days dropped.

Thinning keeps each vessel's first position in every `thin_interval` (by default one per 10 minutes)
of a day older than `full_detail_days`: a track stays a track, at a tenth of the rows or less. Days are
whole UTC days, so a day is thinned once, and a watermark (maintenance_marks) says how far that has
gone. On PostgreSQL a day is a partition: it is thinned by building the thinned copy beside it and
swapping it in, which leaves no dead rows behind, and dropped by dropping the partition. On SQLite the
same rules are DELETEs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.config import Settings
from ais_watch.store.partitions import (
    DAY,
    DDL_LOCK_KEY,
    PARENT,
    bounds_sql,
    create_partitions,
    day_of,
    day_start,
    days_ahead,
    partition_days,
    partition_name,
)
from ais_watch.store.schema import maintenance_marks, positions
from ais_watch.store.writer import sqlite_time

log = logging.getLogger(__name__)
THINNED_THROUGH = "positions.thinned_through"  # mark: every day before this one is thinned


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    full_detail_days: float = 90.0  # 0: never thin
    thin_interval: float = 600.0  # seconds
    keep_days: float = 0.0  # 0: keep forever
    partitions_ahead: int = 7

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(settings["retention.full_detail_days"], settings["retention.thin_interval"],
                   settings["retention.keep_days"], settings["retention.partitions_ahead"])

    def thin_before(self, now: datetime) -> date | None:
        """Days before this one are due for thinning (a day is due once all of it is old enough)."""
        if not self.full_detail_days:
            return None
        return day_of(now - timedelta(days=self.full_detail_days))

    def drop_before(self, now: datetime) -> date | None:
        if not self.keep_days:
            return None
        return day_of(now - timedelta(days=self.keep_days))


@dataclass(slots=True)
class MaintenanceReport:
    created: list[date] = field(default_factory=list)
    thinned: dict[date, tuple[int, int]] = field(default_factory=dict)  # day -> (rows before, after)
    dropped: list[date] = field(default_factory=list)
    dropped_rows: int = 0  # SQLite only: PostgreSQL drops partitions without counting them

    def summary(self) -> str:
        before = sum(b for b, _ in self.thinned.values())
        after = sum(a for _, a in self.thinned.values())
        dropped = (f"{len(self.dropped)} day partitions dropped" if not self.dropped_rows
                   else f"{self.dropped_rows} positions past retention deleted")
        return (f"{len(self.created)} partitions created, {len(self.thinned)} days thinned "
                f"({before} -> {after} positions), {dropped}")


async def maintain_positions(engine: AsyncEngine, policy: RetentionPolicy,
                             now: datetime | None = None) -> MaintenanceReport:
    """One run of the job. Safe to run on two instances at once (PostgreSQL DDL takes a lock), and
    idempotent: a run after a run does nothing new."""
    now = now or datetime.now(UTC)
    report = MaintenanceReport()
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        async with engine.begin() as conn:
            report.created = await conn.run_sync(create_partitions, days_ahead(day_of(now),
                                                                               policy.partitions_ahead))
    drop_before = policy.drop_before(now)
    if drop_before is not None:
        if postgres:
            report.dropped = await _drop_partitions(engine, drop_before)
        else:
            report.dropped_rows = await _delete_before(engine, drop_before)
    thin_before = policy.thin_before(now)
    if thin_before is not None:
        await _thin_days(engine, policy, thin_before, drop_before, report)
    if report.created or report.thinned or report.dropped or report.dropped_rows:
        log.info("position maintenance: %s", report.summary())
    return report


async def _thin_days(engine: AsyncEngine, policy: RetentionPolicy, before: date, dropped_before: date | None,
                     report: MaintenanceReport) -> None:
    async with engine.connect() as conn:
        mark = (await conn.execute(select(maintenance_marks.c.value)
                                   .where(maintenance_marks.c.key == THINNED_THROUGH))).scalar()
        done_before = date.fromisoformat(mark) if mark else None
        if done_before is not None and done_before >= before:
            return
        if engine.dialect.name == "postgresql":
            days = sorted(d for d in await conn.run_sync(partition_days) if d < before)
        else:  # the days that have positions, from where the last run stopped
            since = sqlite_time(day_start(done_before)) if done_before else ""
            days = [date.fromisoformat(d) for (d,) in await conn.execute(text(
                "SELECT DISTINCT substr(time, 1, 10) FROM positions WHERE time >= :since AND time < :before"),
                {"since": since, "before": sqlite_time(day_start(before))})]
    for day in days:
        if (done_before is not None and day < done_before) or (dropped_before is not None
                                                                and day < dropped_before):
            continue
        before_after = await _thin_day(engine, day, policy.thin_interval)
        if before_after[0]:  # days with positions only, as SQLite lists them
            report.thinned[day] = before_after
    async with engine.begin() as conn:
        await _set_mark(conn, THINNED_THROUGH, before.isoformat())


async def _thin_day(engine: AsyncEngine, day: date, interval: float) -> tuple[int, int]:
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            return await conn.run_sync(_swap_in_thinned_partition, day, interval)
    return await _thin_day_sqlite(engine, day, interval)


def _swap_in_thinned_partition(conn: Connection, day: date, interval: float) -> tuple[int, int]:
    """Build the thinned day beside the partition, then swap it in, in one transaction.

    The old partition is locked against writes first (a late row for that day waits, then lands in the
    thinned one); the parent is locked only for the detach/attach at the end, which the CHECK constraint
    and the ready-made indexes make quick (no validation scan, no index build under the lock)."""
    name, thin = partition_name(day), partition_name(day) + "_thin"
    start, end = day_start(day), day_start(day) + DAY
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK_KEY})
    conn.execute(text(f"LOCK TABLE {name} IN SHARE MODE"))
    before = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
    if not before:  # a day nothing was heard (a partition made ahead): nothing to swap
        return 0, 0
    columns = ", ".join(c.name for c in positions.columns)
    bucket = f"floor(extract(epoch FROM time) / {float(interval)!r})"
    conn.execute(text(f"CREATE TABLE {thin} (LIKE {PARENT} INCLUDING DEFAULTS)"))
    conn.execute(text(f"INSERT INTO {thin} ({columns}) SELECT DISTINCT ON (mmsi, {bucket}) {columns} "
                      f"FROM {name} ORDER BY mmsi, {bucket}, time"))
    after = conn.execute(text(f"SELECT count(*) FROM {thin}")).scalar_one()
    conn.execute(text(f"ALTER TABLE {thin} ADD CONSTRAINT {thin}_bounds CHECK "
                      f"(time >= '{start.isoformat()}' AND time < '{end.isoformat()}')"))
    conn.execute(text(f"CREATE INDEX ON {thin} (mmsi, time)"))
    conn.execute(text(f"CREATE INDEX ON {thin} USING brin (time)"))
    conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
    conn.execute(text(f"DROP TABLE {name}"))
    conn.execute(text(f"ALTER TABLE {thin} RENAME TO {name}"))
    conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {bounds_sql(day)}"))
    conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {thin}_bounds"))
    return before, after


async def _thin_day_sqlite(engine: AsyncEngine, day: date, interval: float) -> tuple[int, int]:
    """An hour (a whole number of intervals) per transaction: SQLite has one write lock, and ingest must
    not wait out a whole day's DELETE (a big day would outlast the busy timeout)."""
    chunk = timedelta(seconds=interval * max(1, round(3600 / interval)))
    window = "FROM positions WHERE time >= :start AND time < :end"
    before = after = 0
    start, day_end = day_start(day), day_start(day) + DAY
    while start < day_end:
        end = min(start + chunk, day_end)
        params = {"start": sqlite_time(start), "end": sqlite_time(end), "interval": int(interval)}
        async with engine.begin() as conn:
            before += (await conn.execute(text(f"SELECT count(*) {window}"), params)).scalar_one()
            await conn.execute(text(
                "DELETE FROM positions WHERE rowid IN (SELECT rid FROM (SELECT rowid AS rid, row_number() "
                "OVER (PARTITION BY mmsi, CAST(strftime('%s', time) AS INTEGER) / :interval ORDER BY time) "
                f"AS rn {window}) WHERE rn > 1)"), params)
            after += (await conn.execute(text(f"SELECT count(*) {window}"), params)).scalar_one()
        start = end
    return before, after


async def _drop_partitions(engine: AsyncEngine, before: date) -> list[date]:
    dropped = []
    async with engine.connect() as conn:
        days = sorted(d for d in await conn.run_sync(partition_days) if d < before)
    for day in days:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK_KEY})
            await conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
        dropped.append(day)
    return dropped


async def _delete_before(engine: AsyncEngine, before: date) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(delete(positions).where(positions.c.time < day_start(before)))
    return int(result.rowcount or 0)


async def _set_mark(conn: AsyncConnection, key: str, value: str) -> None:
    now = datetime.now(UTC)
    updated = await conn.execute(maintenance_marks.update().where(maintenance_marks.c.key == key)
                                 .values(value=value, updated_at=now))
    if not updated.rowcount:
        await conn.execute(maintenance_marks.insert().values(key=key, value=value, updated_at=now))
