"""Batched writes behind a bounded queue: when the database falls behind, ingest waits (backpressure).

The pipeline hands over whole batches (positions, changed vessels, identity changes); batches waiting
in the queue when the writer comes to them are written together. On PostgreSQL a batch is written in
one transaction. On SQLite, whose one write lock an alert must also take, it is written in slices of at
most SLICE_ROWS rows in the process's write turn (ais_watch/store/write_gate.py), committing as soon as
another write waits for the turn: an alert raised meanwhile waits for one slice, not for the batch.
Slices committed leave the batch, so a retry or a salvage goes on with the rest and never writes a row
twice. A failed write is retried with capped exponential backoff until it succeeds or the
writer is closed, so a database that goes away for a while loses nothing that was handed over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.backoff import Backoff
from ais_watch.errors import StoreError
from ais_watch.model import IngestStats
from ais_watch.store.db import asyncpg_connection
from ais_watch.store.marks import mark_replayed
from ais_watch.store.partitions import PartitionCache, days_of, is_missing_partition
from ais_watch.store.schema import UtcDateTime, identity_history, port_calls, positions, vessels
from ais_watch.store.sqlite_process import SqliteWriterProcess, WriterProcessError, sqlite_time
from ais_watch.store.write_gate import WriteGate, write_gate

log = logging.getLogger(__name__)

# SQLite: rows written between two looks at the write gate (a few ms of the write lock; 1,000 held it
# 15-50 ms), rows a replay's transaction writes at most when no other write waits, and how many rows
# between the writer's own WAL checkpoints. A commit per 250-row slice made a replay's inserts three
# times as costly as 20,000-row transactions (3.5 s against 1.0 s for 296,000 rows, issue 17): each
# commit writes the index pages the slice touched to the WAL again. `serve` still commits every slice
# (transaction_rows=SLICE_ROWS): with 20,000-row transactions its RSS grew 100 MB over a 5-minute soak
# at 5,000 msg/s against 17 MB with a commit a slice (bench/soak.py, same session). No connection
# checkpoints on commit (db.py sets wal_autocheckpoint=0): an alert's commit would otherwise now and
# then pay for copying megabytes of the writer's pages into the database.
SLICE_ROWS = 250
TRANSACTION_ROWS = 20_000
CHECKPOINT_ROWS = 100_000


# Position rows travel as tuples in this column order: at tens of thousands a second, building a dict
# per row and letting SQLAlchemy process each parameter costs more than decoding the message did.
POSITION_COLUMNS: tuple[str, ...] = tuple(c.name for c in positions.columns)
_SQLITE_INSERT = (f"INSERT INTO positions ({', '.join(POSITION_COLUMNS)}) "
                  f"VALUES ({', '.join('?' for _ in POSITION_COLUMNS)})")


@dataclass(slots=True)
class Batch:
    positions: list[tuple[Any, ...]] = field(default_factory=list)  # in POSITION_COLUMNS order
    vessels: dict[int, dict[str, Any]] = field(default_factory=dict)  # mmsi -> whole row, upserted
    identity: list[dict[str, Any]] = field(default_factory=list)
    port_calls: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # upserted by key
    statics: int = 0  # static reports folded into the vessel rows, for the counters

    def __bool__(self) -> bool:
        return bool(self.positions or self.vessels or self.identity or self.port_calls)


def port_call_upsert(dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    """A port call is written when established and again at departure: the same row, by its key."""
    stmt = (postgresql.insert(port_calls) if dialect_name == "postgresql" else sqlite.insert(port_calls))
    return stmt.on_conflict_do_update(
        index_elements=[port_calls.c.mmsi, port_calls.c.port_id, port_calls.c.arrival],
        set_={c: stmt.excluded[c]
              for c in ("departure", "duration_seconds", "evidence", "vessel_name", "imo")},
    )


VESSEL_COLUMNS: tuple[str, ...] = tuple(c.name for c in vessels.columns)
_VESSEL_TIMES = frozenset(c.name for c in vessels.columns if isinstance(c.type, UtcDateTime))


def vessel_upsert_sql(dialect_name: str) -> str:
    """INSERT ... ON CONFLICT (mmsi) DO UPDATE every column: the row is the vessel's whole latest state.
    Driver-level SQL, like the positions insert: every few seconds tens of thousands of vessel rows are
    written, and SQLAlchemy's per-parameter processing of them cost a tenth of the event loop (soak)."""
    marks = ([f"${i}" for i in range(1, len(VESSEL_COLUMNS) + 1)] if dialect_name == "postgresql"
             else ["?"] * len(VESSEL_COLUMNS))
    updates = ", ".join(f"{c} = excluded.{c}" for c in VESSEL_COLUMNS if c != "mmsi")
    return (f"INSERT INTO vessels ({', '.join(VESSEL_COLUMNS)}) VALUES ({', '.join(marks)}) "
            f"ON CONFLICT (mmsi) DO UPDATE SET {updates}")


def vessel_rows(rows: list[dict[str, Any]], dialect_name: str) -> list[tuple[Any, ...]]:
    if dialect_name == "postgresql":
        return [tuple(r[c] for c in VESSEL_COLUMNS) for r in rows]
    return [tuple(sqlite_time(r[c]) if c in _VESSEL_TIMES and r[c] is not None else r[c]
                  for c in VESSEL_COLUMNS) for r in rows]


# PostgreSQL says "try again": a deadlock victim (e.g. against retention swapping a day partition) or a
# serialization failure.
_RETRY_SQLSTATES = {"40P01", "40001"}


def is_transient(err: BaseException) -> bool:
    """A failure that may pass (the database restarting, the network) rather than a row it refuses."""
    if isinstance(err, OperationalError | InterfaceError | OSError | ConnectionError | TimeoutError):
        return True
    if getattr(getattr(err, "orig", err), "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    if isinstance(err, DBAPIError):
        return bool(err.connection_invalidated)
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(err, asyncpg.PostgresConnectionError | asyncpg.InterfaceError)


class StoreWriter:
    def __init__(self, engine: AsyncEngine, stats: IngestStats, *, queue_batches: int = 8,
                 retry_initial: float = 0.5, retry_max_delay: float = 30.0,
                 close_timeout: float = 10.0, replayed: bool = False,
                 transaction_rows: int = SLICE_ROWS) -> None:
        self.engine = engine
        # SQLite: rows a transaction holds at most when no other write waits (see TRANSACTION_ROWS), and
        # the most positions that batches waiting in the queue are joined into.
        self.transaction_rows = transaction_rows
        self.stats = stats
        self._queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=queue_batches)
        self._backoff = Backoff(retry_initial, retry_max_delay)
        self._task: asyncio.Task[None] | None = None
        self._vessel_upsert = vessel_upsert_sql(engine.dialect.name)
        self._port_call_upsert = port_call_upsert(engine.dialect.name)
        self.close_timeout = close_timeout
        self._give_up_at: float | None = None  # set by close(): past it, a dead database loses the rest
        self.failing_since: float | None = None  # loop time of the first failed write, for /readyz
        self.write_failures = 0
        self.partitions = PartitionCache(engine) if engine.dialect.name == "postgresql" else None
        # A replay's writer marks the days it writes to as replayed (ais_watch.store.marks), in the same
        # transaction as their first rows: history someone chose to load, which the service's retention
        # job leaves alone. The days marked so far, so a batch costs a set lookup.
        self.replayed_days: set[date] | None = set() if replayed else None
        self._rows_since_checkpoint = 0
        self._process: SqliteWriterProcess | None = None  # a replay's, on SQLite: see start()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            database = self.engine.url.database
            if (self.engine.dialect.name == "sqlite" and self.replayed_days is not None
                    and database not in (None, "", ":memory:")):
                # A replay's rows go to a process of their own, beside the pipeline (sqlite_process.py).
                assert database is not None
                self._process = SqliteWriterProcess(database, _SQLITE_INSERT, self._vessel_upsert,
                                                    CHECKPOINT_ROWS)
            self._task = asyncio.create_task(self._run(), name="store-writer")

    async def submit(self, batch: Batch) -> None:
        """Queue a batch; waits while the queue is full (this is the backpressure)."""
        if self._task is None:
            raise StoreError("store writer not started")
        if self._task.done():
            raise StoreError("store writer stopped") from self._task.exception()
        await self._queue.put(batch)

    async def close(self) -> None:
        """Write everything queued, then stop. If the database stays down, give up after close_timeout
        (counting what was not stored) rather than hang a shutdown forever."""
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        self._give_up_at = loop.time() + self.close_timeout
        if not self._task.done():
            try:
                async with asyncio.timeout(self.close_timeout):  # not wait_for: see ais_watch/leader.py
                    await self._queue.put(None)
            except TimeoutError:
                self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._process is not None:
            await self._process.close()
            self._process = None
        lost = sum(len(b.positions) for b in self._drain_queue())
        if lost:
            self.stats.reject("unstored_at_shutdown", lost)
            raise StoreError(f"database unreachable at shutdown: {lost} positions were not stored")

    def _drain_queue(self) -> list[Batch]:
        left = []
        while not self._queue.empty():
            batch = self._queue.get_nowait()
            if batch is not None:
                left.append(batch)
        return left

    async def _run(self) -> None:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            closing = self._take_waiting(batch)
            if not await self._write_with_retry(batch):
                self._queue.put_nowait(batch)  # counted as lost by close()
                return
            if closing:
                return

    def _take_waiting(self, batch: Batch) -> bool:
        """Fold the batches already waiting behind this one into it, up to transaction_rows positions:
        a writer that has fallen behind catches up in fewer, larger transactions. The rows and their
        final state are the same (a later vessel row or port call replaces an earlier one, as its upsert
        would). True: the close() marker was among them."""
        while len(batch.positions) < self.transaction_rows and not self._queue.empty():
            later = self._queue.get_nowait()
            if later is None:
                return True
            batch.positions.extend(later.positions)
            batch.vessels.update(later.vessels)
            batch.identity.extend(later.identity)
            batch.port_calls.update(later.port_calls)
            batch.statics += later.statics
        return False

    async def _write_with_retry(self, batch: Batch) -> bool:
        """Write a batch, retrying while the database is unreachable. False: gave up at shutdown."""
        loop = asyncio.get_running_loop()
        remade_partitions = False
        while True:
            try:
                await self.write(batch)
            except Exception as err:
                if self.partitions is not None and is_missing_partition(err) and not remade_partitions:
                    self.partitions.forget()  # retention dropped a day this writer had seen: make it again
                    remade_partitions = True
                    continue
                if not is_transient(err):
                    # A value the database refuses: store the rest, drop and count only the bad rows.
                    log.error("database refused a batch (%s); storing it row by row",
                              str(err).splitlines()[0][:200])
                    return await self._salvage(batch)
                self.write_failures += 1
                if self.failing_since is None:
                    self.failing_since = loop.time()
                if self._give_up_at is not None and loop.time() >= self._give_up_at:
                    log.error("database still unreachable at shutdown; %d positions not stored",
                              len(batch.positions))
                    return False
                delay = self._backoff.next_delay()
                if self._give_up_at is not None:
                    delay = max(0.0, min(delay, self._give_up_at - loop.time()))
                log.warning("database write failed (%s); %d positions kept, retrying in %.1fs",
                            str(err).splitlines()[0][:200], len(batch.positions), delay)
                await asyncio.sleep(delay)
                continue
            if self.failing_since is not None:
                log.info("database writes recovered")
            self.failing_since = None
            self._backoff.reset()
            return True

    async def _salvage(self, batch: Batch) -> bool:
        """Write each part of a refused batch on its own, halving until the refused rows are alone."""
        parts = [Batch(positions=[p]) for p in batch.positions]
        parts += [Batch(vessels={m: v}) for m, v in batch.vessels.items()]
        parts += [Batch(identity=[i]) for i in batch.identity]
        parts += [Batch(port_calls={k: v}) for k, v in batch.port_calls.items()]
        written = 0
        for part in parts:
            try:
                await self.write(part)
                written += 1
            except Exception as err:
                if is_transient(err):
                    if not await self._write_with_retry(part):
                        return False
                    written += 1
                    continue
                self.stats.reject("unstorable_row")
                row: object = [*part.positions, *part.vessels.values(), *part.identity,
                               *part.port_calls.values()][0]  # the part's one row, of whichever kind
                log.error("dropped one row the database refuses (%s): %r", str(err).splitlines()[0][:200],
                          row)
        self.stats.statics_stored += batch.statics
        return True

    async def write(self, batch: Batch) -> None:
        if self.engine.dialect.name == "sqlite":
            if self._process is not None and (batch.positions or batch.vessels):
                await self._write_through_process(batch)
            await self._write_in_slices(batch)  # the rest: identity changes and port calls, a few rows
            return
        days = (days_of(batch.positions)
                if batch.positions and (self.partitions or self.replayed_days is not None) else set())
        if self.partitions is not None and days:
            await self.partitions.ensure(days)
        new_replayed = days - self.replayed_days if self.replayed_days is not None else set()
        async with self.engine.begin() as conn:
            if new_replayed:
                await mark_replayed(conn, new_replayed)
            if batch.positions:
                await self._insert_positions(conn, batch.positions)
            if batch.vessels:
                await self._upsert_vessels(conn, list(batch.vessels.values()))
            if batch.identity:
                await conn.execute(insert(identity_history), batch.identity)
            if batch.port_calls:
                await conn.execute(self._port_call_upsert, list(batch.port_calls.values()))
        if self.replayed_days is not None:
            self.replayed_days |= new_replayed
        self.stats.positions_stored += len(batch.positions)
        self.stats.statics_stored += batch.statics

    async def _write_through_process(self, batch: Batch) -> None:
        """A replay on SQLite: the batch's positions and vessel rows, one transaction in the writer
        process. Each day's replayed mark is committed before its first rows, so no replayed row is ever
        unmarked. If the process has died, this and every later batch are written in-process."""
        assert self._process is not None
        if self.replayed_days is not None and batch.positions:
            days = days_of(batch.positions) - self.replayed_days
            if days:
                async with write_gate(self.engine).turn(), self.engine.begin() as conn:
                    await mark_replayed(conn, days)
                self.replayed_days |= days
        try:
            await self._process.write([(r[0], r[1].timestamp(), *r[2:]) for r in batch.positions],
                                      vessel_rows(list(batch.vessels.values()), "sqlite"))
        except WriterProcessError as err:
            if self._process.alive:
                error = OperationalError if err.transient else IntegrityError
                raise error("INSERT INTO positions ...", None, err) from err
            log.warning("%s; writing in this process from now on", err)
            await self._process.close()
            self._process = None
            return
        self.stats.positions_stored += len(batch.positions)
        batch.positions, batch.vessels = [], {}

    async def _write_in_slices(self, batch: Batch) -> None:
        """SQLite: the batch a slice at a time in the process's write turn, committing when another write
        waits for the turn (after the slice in progress) or transaction_rows rows are written, and each
        slice taken out of the batch once committed (see the module's docstring)."""
        gate = write_gate(self.engine)
        while batch:
            async with gate.turn(), self.engine.begin() as conn:
                committed = await self._write_slices(conn, batch, gate)
            committed()
        self.stats.statics_stored += batch.statics
        batch.statics = 0
        if self._rows_since_checkpoint >= CHECKPOINT_ROWS:
            self._rows_since_checkpoint = 0
            async with self.engine.connect() as conn:  # PASSIVE: waits for no one, and no one for it
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def _write_slices(self, conn: AsyncConnection, batch: Batch, gate: WriteGate) -> Callable[[], None]:
        """Write slices of the batch in one transaction until it is done or should commit. Returns what
        to do once it has committed: take the written rows out of the batch, and count them."""
        positions = vessel_keys = 0
        days: set[date] = set()
        identity_and_calls = False
        rows = 0

        def committed() -> None:
            del batch.positions[:positions]
            for key in list(batch.vessels)[:vessel_keys]:
                del batch.vessels[key]
            if identity_and_calls:
                batch.identity, batch.port_calls = [], {}
            if self.replayed_days is not None:
                self.replayed_days |= days
            self.stats.positions_stored += positions
            self._rows_since_checkpoint += positions + vessel_keys

        def enough() -> bool:
            return gate.contended or rows >= self.transaction_rows

        while positions < len(batch.positions):
            part = batch.positions[positions:positions + SLICE_ROWS]
            if self.replayed_days is not None:
                new_days = days_of(part) - self.replayed_days - days
                if new_days:
                    await mark_replayed(conn, new_days)
                    days |= new_days
            await self._insert_positions(conn, part)
            positions += len(part)
            rows += len(part)
            if enough():
                return committed
        while vessel_keys < len(batch.vessels):
            keys = list(batch.vessels)[vessel_keys:vessel_keys + SLICE_ROWS]
            await self._upsert_vessels(conn, [batch.vessels[k] for k in keys])
            vessel_keys += len(keys)
            rows += len(keys)
            if enough():
                return committed
        if batch.identity or batch.port_calls:  # a few rows
            if batch.identity:
                await conn.execute(insert(identity_history), batch.identity)
            if batch.port_calls:
                await conn.execute(self._port_call_upsert, list(batch.port_calls.values()))
            identity_and_calls = True
        return committed

    async def _upsert_vessels(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            driver = await asyncpg_connection(conn)
            await driver.executemany(self._vessel_upsert, vessel_rows(rows, dialect))
        else:
            await conn.exec_driver_sql(self._vessel_upsert, vessel_rows(rows, dialect))

    async def _insert_positions(self, conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        """The bulk path each database does best: COPY on PostgreSQL, executemany on SQLite."""
        if self.engine.dialect.name == "postgresql":
            driver = await asyncpg_connection(conn)
            await driver.copy_records_to_table("positions", records=rows, columns=POSITION_COLUMNS)
        else:
            await conn.exec_driver_sql(_SQLITE_INSERT, [(r[0], sqlite_time(r[1]), *r[2:]) for r in rows])
