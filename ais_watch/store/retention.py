"""Position maintenance, a scheduled job on the leader and the `ais-watch maintain` command: partitions made
ahead, old days thinned, older days dropped.

Both destructive rules are off until configured (`retention.full_detail_days`, `retention.keep_days`,
both 0 by default). Thinned, a day keeps each vessel's track as the dashboard draws it (Douglas-Peucker
within `retention.thin_tolerance_m`), every fix that is evidence for something the service said, and no
silence that was not there (`ais_watch.store.thinning`). Days are whole UTC days of event time.

Days a replay brought positions into (marked by the replay's writer, `ais_watch.store.marks`) are history
someone chose to load: the scheduled job neither thins nor drops them, only an explicit `ais-watch
maintain` does (`include_replayed`). A dry run works out the same per day and changes nothing.

On PostgreSQL a day is a partition: it is thinned by building the thinned copy beside it and swapping it
in, which leaves no dead rows behind, and dropped by dropping the partition. On SQLite the same rules are
DELETEs, a few thousand rows a transaction so ingest never waits long for the one write lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import compress, pairwise
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.config import Settings
from ais_watch.sources.replay import SOURCE_PREFIX
from ais_watch.store.db import asyncpg_connection
from ais_watch.store.marks import (
    FULL,
    THINNED,
    THINNED_THROUGH,
    forget_replayed,
    mark_replayed,
    read_mark,
    replayed_days,
    replayed_key,
    set_marks,
)
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
from ais_watch.store.schema import alerts, encounters, port_calls, positions
from ais_watch.store.sqlite_process import sqlite_time
from ais_watch.store.thinning import Evidence, EvidenceBook, ThinningRule, keep_mask

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key held while a day is thinned or dropped: two runs (the job and a `maintain`)
# never work on the same day at once. Partition DDL itself takes DDL_LOCK_KEY, only for the swap.
THIN_LOCK_KEY = 0x41495357_0004
# Alerts whose details name a fix's time before the alert itself (the last fix before a silence, the start
# of a loitering or an encounter): read for a day even when they were raised later.
LATER_EVIDENCE_KINDS = ("went_dark", "reappeared", "possible_dark_port_call", "loitering", "encounter")
READ_ROWS = 5_000  # rows read at a time (a PostgreSQL FETCH of them holds the event loop a few ms)
DELETE_ROWS = 5_000  # SQLite: rows deleted per transaction
_MICROS_SQL = {
    "postgresql": "(extract(epoch FROM time) * 1000000)::bigint",
    # SQLite holds 'YYYY-MM-DD HH:MM:SS.ffffff' (sqlite_time): whole seconds, then the six digits.
    "sqlite": "CAST(strftime('%s', time) AS INTEGER) * 1000000 + CAST(substr(time, 21, 6) AS INTEGER)",
}


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    full_detail_days: float = 0.0  # 0: never thin
    thin_tolerance_m: float = 10.0
    thin_interval: float = 3600.0  # seconds: the longest a thinned track goes without a fix; 0: no limit
    keep_days: float = 0.0  # 0: keep forever
    partitions_ahead: int = 7

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(settings["retention.full_detail_days"], settings["retention.thin_tolerance_m"],
                   settings["retention.thin_interval"], settings["retention.keep_days"],
                   settings["retention.partitions_ahead"])

    @property
    def rule(self) -> ThinningRule:
        return ThinningRule(tolerance_m=self.thin_tolerance_m, max_gap=self.thin_interval)

    def thin_before(self, now: datetime) -> date | None:
        """Days before this one are due for thinning (a day is due once all of it is old enough)."""
        if not self.full_detail_days:
            return None
        return day_of(now - timedelta(days=self.full_detail_days))

    def drop_before(self, now: datetime) -> date | None:
        if not self.keep_days:
            return None
        return day_of(now - timedelta(days=self.keep_days))

    def describe(self, now: datetime) -> str:
        """What the settings ask for, in a line."""
        thin, drop = self.thin_before(now), self.drop_before(now)
        gap = f", a fix at least every {self.thin_interval:g} s" if self.thin_interval else ""
        return "; ".join((
            f"thinning days before {thin} (retention.full_detail_days {self.full_detail_days:g}): the track "
            f"within {self.thin_tolerance_m:g} m, every evidence fix{gap}" if thin is not None
            else "thinning off (retention.full_detail_days 0)",
            f"dropping days before {drop} (retention.keep_days {self.keep_days:g})" if drop is not None
            else "dropping off (retention.keep_days 0)"))


@dataclass(frozen=True, slots=True)
class DayWork:
    """What a run did (or, dry, would do) to one day."""

    day: date
    action: str  # "thin" or "drop"
    rows: int
    vessels: int
    kept: int
    replayed: bool  # the day holds replayed positions

    @property
    def removed(self) -> int:
        return self.rows - self.kept


@dataclass(slots=True)
class MaintenanceReport:
    dry_run: bool = False
    created: list[date] = field(default_factory=list)
    days: list[DayWork] = field(default_factory=list)
    left_replayed: list[date] = field(default_factory=list)  # due, but replayed: left for `maintain`

    @property
    def thinned(self) -> dict[date, tuple[int, int]]:
        """day -> (rows before, rows after)"""
        return {w.day: (w.rows, w.kept) for w in self.days if w.action == "thin"}

    @property
    def dropped(self) -> list[date]:
        return [w.day for w in self.days if w.action == "drop"]

    @property
    def removed(self) -> int:
        return sum(w.removed for w in self.days)

    def summary(self) -> str:
        thin = [w for w in self.days if w.action == "thin"]
        drop = [w for w in self.days if w.action == "drop"]
        verbs = ("would thin", "would drop") if self.dry_run else ("thinned", "dropped")
        parts = [f"{verbs[0]} {len(thin)} days ({sum(w.rows for w in thin):,} -> "
                 f"{sum(w.kept for w in thin):,} positions)",
                 f"{verbs[1]} {len(drop)} days ({sum(w.rows for w in drop):,} positions)"]
        if not self.days:
            parts = ["nothing would be thinned or dropped" if self.dry_run else "nothing thinned or dropped"]
        if replayed := sum(w.replayed for w in self.days):
            parts.append(f"{replayed} of them replayed")
        if self.left_replayed:
            parts.append(f"left {len(self.left_replayed)} replayed days alone ({self.left_replayed[0]} .. "
                         f"{self.left_replayed[-1]}: only `ais-watch maintain` thins or drops replayed "
                         "history)")
        if self.created:
            parts.append(f"created {len(self.created)} partitions")
        return ", ".join(parts)

    def table(self) -> list[str]:
        """One line a day: what happened to it (or would)."""
        lines = [f"{'day':<10}  {'action':<6}  {'rows':>11}  {'vessels':>8}  {'kept':>11}  {'removed':>11}"]
        lines += [f"{w.day}  {w.action:<6}  {w.rows:>11,}  {w.vessels:>8,}  {w.kept:>11,}  {w.removed:>11,}"
                  f"{'  replayed' if w.replayed else ''}" for w in self.days]
        return lines


async def maintain_positions(engine: AsyncEngine, policy: RetentionPolicy, now: datetime | None = None, *,
                             include_replayed: bool, dry_run: bool = False,
                             announce: bool = False) -> MaintenanceReport:
    """One run: `include_replayed` for an explicit `ais-watch maintain` (the scheduled job leaves replayed
    days alone); `dry_run` works out what would be thinned and dropped and changes nothing. A real run
    logs one INFO line when it removes or creates anything, or when told to `announce` (the job's first).
    Safe to run on two instances at once (advisory locks), and idempotent: a run after a run does nothing
    new."""
    now = now or datetime.now(UTC)
    report = MaintenanceReport(dry_run=dry_run)
    postgres = engine.dialect.name == "postgresql"
    if postgres and not dry_run:
        async with engine.begin() as conn:
            report.created = await conn.run_sync(create_partitions, days_ahead(day_of(now),
                                                                               policy.partitions_ahead))
    thin_before, drop_before = policy.thin_before(now), policy.drop_before(now)
    if thin_before is not None or drop_before is not None:
        async with engine.connect() as conn:
            replayed = await replayed_days(conn)
            mark = await read_mark(conn, THINNED_THROUGH)
        if drop_before is not None:
            await _drop_days(engine, drop_before, replayed, include_replayed, report)
        if thin_before is not None:
            done_before = date.fromisoformat(mark) if mark else None
            await _thin_days(engine, policy, thin_before, drop_before, done_before, replayed,
                             include_replayed, report)
    if not dry_run and (announce or report.removed or report.created):
        log.info("position maintenance: %s; %s", report.summary(), policy.describe(now))
    return report


# ------------------------------------------------------------------------------------------- the days
async def _stored_days(engine: AsyncEngine, since: date | None, before: date) -> list[date]:
    """The days in [since, before) that have positions (on PostgreSQL: a partition, maybe empty)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return sorted(d for d in await conn.run_sync(partition_days)
                          if d < before and (since is None or d >= since))
        days: list[date] = []
        cursor = sqlite_time(day_start(since)) if since else ""
        while True:  # from one day's first row to the next: an index seek a day, not a scan of them all
            first = (await conn.execute(
                text("SELECT min(time) FROM positions WHERE time >= :cursor AND time < :before"),
                {"cursor": cursor, "before": sqlite_time(day_start(before))})).scalar()
            if first is None:
                return days
            days.append(date.fromisoformat(str(first)[:10]))
            cursor = sqlite_time(day_start(days[-1]) + DAY)


async def _leave_replayed(engine: AsyncEngine, day: date, replayed: dict[date, str], include_replayed: bool,
                          report: MaintenanceReport) -> bool:
    """Whether the scheduled job must leave this day alone: marked replayed, or (replayed before replays
    marked their days) holding positions whose source is a replay's, which then marks it."""
    if include_replayed:
        return False
    if day not in replayed:
        async with engine.connect() as conn:
            found = (await conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM positions WHERE time >= :start AND time < :end AND "
                     "source LIKE :replay)"),
                {**day_params(engine.dialect.name, day), "replay": SOURCE_PREFIX + "%"})).scalar()
        if not found:
            return False
        replayed[day] = FULL
        if not report.dry_run:
            async with engine.begin() as conn:
                await mark_replayed(conn, [day])
    report.left_replayed.append(day)
    return True


async def _drop_days(engine: AsyncEngine, before: date, replayed: dict[date, str], include_replayed: bool,
                     report: MaintenanceReport) -> None:
    for day in await _stored_days(engine, None, before):
        if await _leave_replayed(engine, day, replayed, include_replayed, report):
            continue
        work = await _drop_day(engine, day, day in replayed, report.dry_run)
        if work.rows:
            report.days.append(work)


async def _thin_days(engine: AsyncEngine, policy: RetentionPolicy, before: date, dropped_before: date | None,
                     done_before: date | None, replayed: dict[date, str], include_replayed: bool,
                     report: MaintenanceReport) -> None:
    """The days before `before` not thinned yet: those from the watermark on and, in an explicit run,
    replayed days still in full detail wherever they are."""
    since = max((d for d in (done_before, dropped_before) if d is not None), default=None)
    days = set(await _stored_days(engine, since, before)) if since is None or since < before else set()
    if include_replayed:
        days |= {d for d, state in replayed.items()
                 if state == FULL and d < before and (dropped_before is None or d >= dropped_before)}
    thinned_replayed = []
    for day in sorted(days):
        if await _leave_replayed(engine, day, replayed, include_replayed, report):
            continue
        work = await _thin_day(engine, day, policy.rule, day in replayed, report.dry_run)
        if work.rows:  # days with positions only (PostgreSQL has partitions of days nothing was heard)
            report.days.append(work)
        if day in replayed:
            thinned_replayed.append(day)
    report.left_replayed.sort()
    if report.dry_run:
        return
    marks = {replayed_key(d): THINNED for d in thinned_replayed}
    if done_before is None or before > done_before:
        marks[THINNED_THROUGH] = before.isoformat()
    async with engine.begin() as conn:
        await set_marks(conn, marks)


async def _drop_day(engine: AsyncEngine, day: date, replayed: bool, dry_run: bool) -> DayWork:
    window = "FROM positions WHERE time >= :start AND time < :end"
    async with engine.connect() as conn:
        rows, vessels = (await conn.execute(text(f"SELECT count(*), count(DISTINCT mmsi) {window}"),
                                            day_params(engine.dialect.name, day))).one()
    if not dry_run:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await _advisory_lock(conn, THIN_LOCK_KEY)
                await _advisory_lock(conn, DDL_LOCK_KEY)
                await conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
                await forget_replayed(conn, [day] if replayed else [])
        else:
            hour = timedelta(hours=1)  # an hour a transaction: the one write lock is never held long
            for begin in (day_start(day) + hour * h for h in range(24)):
                async with engine.begin() as conn:
                    await conn.execute(text(f"DELETE {window}"), {"start": sqlite_time(begin),
                                                                  "end": sqlite_time(begin + hour)})
            async with engine.begin() as conn:
                await forget_replayed(conn, [day] if replayed else [])
    return DayWork(day, "drop", int(rows), int(vessels), 0, replayed)


def day_params(dialect: str, day: date) -> dict[str, Any]:
    """A day's [start, end) as parameters of text() SQL: datetimes, or the text SQLite stores."""
    start, end = day_start(day), day_start(day) + DAY
    if dialect == "postgresql":
        return {"start": start, "end": end}
    return {"start": sqlite_time(start), "end": sqlite_time(end)}


async def _advisory_lock(conn: AsyncConnection, key: int) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# ------------------------------------------------------------------------------------------- thinning
async def day_evidence(conn: AsyncConnection, day: date) -> dict[int, Evidence]:
    """Every fix of the day something the service said stands on, by vessel: alerts (went_dark's last fix
    before the silence and first after it, any alert's own fix), port calls (first and last fix, the
    one that established it), encounters (every fix of both ships while together)."""
    start, end = day_start(day), day_start(day) + DAY
    book = EvidenceBook()
    for mmsi, occurred_at, details in await conn.execute(
            select(alerts.c.mmsi, alerts.c.occurred_at, alerts.c.details)
            .where(alerts.c.mmsi.is_not(None), alerts.c.occurred_at >= start,
                   or_(alerts.c.occurred_at < end, alerts.c.kind.in_(LATER_EVIDENCE_KINDS)))):
        book.alert(int(mmsi), occurred_at, details if isinstance(details, dict) else {})
    for mmsi, arrival, established_at, departure in await conn.execute(
            select(port_calls.c.mmsi, port_calls.c.arrival, port_calls.c.established_at,
                   port_calls.c.departure)
            .where(port_calls.c.arrival < end,
                   or_(port_calls.c.departure.is_(None), port_calls.c.departure >= start))):
        book.port_call(int(mmsi), arrival, established_at, departure)
    last = func.coalesce(encounters.c["end"], encounters.c.last_together)
    for mmsi_a, mmsi_b, began, ended in await conn.execute(
            select(encounters.c.mmsi_a, encounters.c.mmsi_b, encounters.c.start, last)
            .where(encounters.c.start < end, last >= start)):
        book.encounter(int(mmsi_a), int(mmsi_b), began, ended)
    return book.vessels


@dataclass(slots=True)
class DaySelection:
    """What thinning keeps of a day, worked out a few vessels at a time while the rows are read."""

    rule: ThinningRule
    evidence: dict[int, Evidence]
    want: str  # the row ids to collect: "kept" (PostgreSQL copies them), "removed" (SQLite deletes them)
    rows: int = 0
    vessels: int = 0
    kept: int = 0
    ids: list[Any] = field(default_factory=list)

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Whole vessels' rows (id, mmsi, time in microseconds, lat, lon, believed), by mmsi and time."""
        mmsi = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        times = np.fromiter((r[2] for r in rows), np.int64, len(rows))
        lats = np.fromiter((r[3] for r in rows), np.float64, len(rows))
        lons = np.fromiter((r[4] for r in rows), np.float64, len(rows))
        believed = np.fromiter((bool(r[5]) for r in rows), np.bool_, len(rows))
        bounds = [0, *(np.flatnonzero(np.diff(mmsi)) + 1).tolist(), len(rows)]
        keep = np.zeros(len(rows), dtype=np.bool_)
        for a, b in pairwise(bounds):
            keep[a:b] = keep_mask(times[a:b], lats[a:b], lons[a:b], believed[a:b], self.rule,
                                  self.evidence.get(int(mmsi[a])))
        self.rows += len(rows)
        self.vessels += len(bounds) - 1
        self.kept += int(keep.sum())
        if self.want:
            self.ids.extend(compress((r[0] for r in rows), keep if self.want == "kept" else ~keep))


async def select_day(conn: AsyncConnection, table: str, day: date, selection: DaySelection) -> None:
    """Read the day's rows from `table` (its partition on PostgreSQL) by vessel and time, and work out what
    is kept, in a worker thread (a busy day is seconds of numpy and GEOS: the event loop, ingest and the
    API go on meanwhile)."""
    carry: list[Sequence[Any]] = []  # the vessel still being read
    async for chunk in _read_day(conn, table, day):
        rows = carry + chunk
        last = len(rows) - 1
        while last > 0 and rows[last - 1][1] == rows[-1][1]:
            last -= 1
        if last:
            await asyncio.to_thread(selection.add, rows[:last])
        carry = rows[last:]
    if carry:
        await asyncio.to_thread(selection.add, carry)


async def _read_day(conn: AsyncConnection, table: str, day: date) -> AsyncIterator[list[Any]]:
    """The day's (row id, mmsi, time in microseconds, lat, lon, believed) by mmsi and time, READ_ROWS at a
    time. On PostgreSQL straight from the driver (a few times faster than through SQLAlchemy's rows),
    through a cursor of our own, closed at the end: the driver's stay open until the transaction ends,
    and a table a cursor reads cannot be swapped out in it."""
    dialect = conn.dialect.name
    query = (f"SELECT {'ctid::text' if dialect == 'postgresql' else 'rowid'}, mmsi, {_MICROS_SQL[dialect]}, "
             f"lat, lon, anomaly IS NULL FROM {table} WHERE time >= :start AND time < :end "
             "ORDER BY mmsi, time")
    if dialect != "postgresql":
        result = await conn.stream(text(query), day_params(dialect, day))
        async for rows in result.partitions(READ_ROWS):
            yield list(rows)
        return
    await conn.execute(text(f"DECLARE thinning_read NO SCROLL CURSOR FOR {query}"), day_params(dialect, day))
    driver = await asyncpg_connection(conn)
    try:
        while chunk := await driver.fetch(f"FETCH {READ_ROWS} FROM thinning_read"):
            yield chunk
    finally:
        await driver.execute("CLOSE thinning_read")


async def _thin_day(engine: AsyncEngine, day: date, rule: ThinningRule, replayed: bool,
                    dry_run: bool) -> DayWork:
    async with engine.connect() as conn:
        evidence = await day_evidence(conn, day)
    postgres = engine.dialect.name == "postgresql"
    selection = DaySelection(rule, evidence, "" if dry_run else "kept" if postgres else "removed")
    if dry_run:
        async with engine.connect() as conn:
            await select_day(conn, PARENT, day, selection)
    elif postgres:
        async with engine.begin() as conn:
            await _swap_in_thinned_partition(conn, day, selection)
    else:
        async with engine.connect() as conn:
            await select_day(conn, PARENT, day, selection)
        removed = sorted(selection.ids)  # in rowid order: each transaction touches neighbouring pages
        for i in range(0, len(removed), DELETE_ROWS):
            async with engine.begin() as conn:
                await conn.exec_driver_sql("DELETE FROM positions WHERE rowid = ?",
                                           [(rowid,) for rowid in removed[i:i + DELETE_ROWS]])
    return DayWork(day, "thin", selection.rows, selection.vessels, selection.kept, replayed)


async def _swap_in_thinned_partition(conn: AsyncConnection, day: date, selection: DaySelection) -> None:
    """Build the thinned day beside the partition, then swap it in, in one transaction.

    The old partition is locked against writes first (a late row for that day waits, then lands in the
    thinned one), so the row ids read stay put; the parent is locked only for the detach/attach at the
    end, which the CHECK constraint and the ready-made indexes make quick (no validation scan, no index
    build under the lock)."""
    name, thin = partition_name(day), partition_name(day) + "_thin"
    start, end = day_start(day), day_start(day) + DAY
    await _advisory_lock(conn, THIN_LOCK_KEY)
    if day not in await conn.run_sync(partition_days):
        return  # dropped meanwhile
    await conn.execute(text(f"LOCK TABLE {name} IN SHARE MODE"))
    await select_day(conn, name, day, selection)
    if not selection.rows:  # a day nothing was heard (a partition made ahead): nothing to swap
        return
    columns = ", ".join(c.name for c in positions.columns)
    await conn.execute(text(f"CREATE TABLE {thin} (LIKE {PARENT} INCLUDING DEFAULTS)"))
    driver = await asyncpg_connection(conn)
    for i in range(0, len(selection.ids), READ_ROWS):
        await driver.execute(f"INSERT INTO {thin} ({columns}) SELECT {columns} FROM {name} "
                             "WHERE ctid = ANY($1::text[]::tid[])", selection.ids[i:i + READ_ROWS])
    await conn.execute(text(f"ALTER TABLE {thin} ADD CONSTRAINT {thin}_bounds CHECK "
                            f"(time >= '{start.isoformat()}' AND time < '{end.isoformat()}')"))
    await conn.execute(text(f"CREATE INDEX ON {thin} (mmsi, time)"))
    await conn.execute(text(f"CREATE INDEX ON {thin} USING brin (time)"))
    await _advisory_lock(conn, DDL_LOCK_KEY)
    await conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
    await conn.execute(text(f"DROP TABLE {name}"))
    await conn.execute(text(f"ALTER TABLE {thin} RENAME TO {name}"))
    await conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {bounds_sql(day)}"))
    await conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {thin}_bounds"))
