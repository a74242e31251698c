"""The store writer: backpressure, retries when the database fails, and a flush on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.clock import ReplayClock
from ais_watch.errors import StoreError
from ais_watch.model import IngestStats, PositionReport, Report
from ais_watch.pipeline.runner import Pipeline, PipelineOptions
from ais_watch.steps import build_pipeline
from ais_watch.store.marks import replayed_days
from ais_watch.store.schema import positions, vessels
from ais_watch.store.sqlite_process import WriterProcessError
from ais_watch.store.write_gate import WriteGate
from ais_watch.store.writer import SLICE_ROWS, TRANSACTION_ROWS, VESSEL_COLUMNS, Batch, StoreWriter
from tests.helpers.db import count, engine_on
from tests.helpers.reports import make_position, make_static

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 10, 11, 0, 0, tzinfo=UTC)
RU_SHIP = 273355410
KP_SHIP = 445123000


def pos(seconds: float, mmsi: int = RU_SHIP, **fields: Any) -> PositionReport:
    return make_position(mmsi, T0 + timedelta(seconds=seconds), 43.1 + seconds / 10000, 131.9, sog=10.5,
                         heading=91, **fields)


def db_down() -> OperationalError:
    return OperationalError("INSERT INTO positions ...", {}, ConnectionRefusedError("connection refused"))


def pipeline_on(engine: AsyncEngine, *, queue_batches: int = 8, **options: Any) -> Pipeline:
    stats = IngestStats()
    writer = StoreWriter(engine, stats, queue_batches=queue_batches, retry_initial=0.01, retry_max_delay=0.1,
                         close_timeout=1.0)
    return build_pipeline(engine, writer, stats, ReplayClock(), PipelineOptions(**options))


# ------------------------------------------------------------------------------------ backpressure
async def test_a_full_queue_makes_submit_wait_and_loses_nothing(db_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(30), engine_on(db_url) as engine:
        pipeline = pipeline_on(engine, queue_batches=1, batch_size=1)
        writer = pipeline.writer
        gate, writing = asyncio.Event(), asyncio.Event()
        real_write = writer.write

        async def blocked_write(batch: Batch) -> None:
            writing.set()
            await gate.wait()  # the database is slow
            await real_write(batch)

        monkeypatch.setattr(writer, "write", blocked_write)
        await pipeline.start(periodic_flush=False)
        submitted: list[int] = []

        async def produce() -> None:
            for i in range(10):
                await pipeline.submit(pos(i))
                submitted.append(i)

        producer = asyncio.create_task(produce())
        await writing.wait()
        await asyncio.sleep(0.3)  # real time: a writer that is stuck stays stuck
        assert not producer.done(), "submit must wait while the store queue is full"
        # One batch is being written, one waits in the queue (queue_batches=1); the third cannot be queued.
        assert submitted == [0, 1]
        assert writer.queue_depth == 1
        assert await count(engine, positions) == 0

        gate.set()
        await producer
        await pipeline.close()
        assert await count(engine, positions) == 10
        assert pipeline.stats.positions_stored == 10


# -------------------------------------------------------------------------------- failing database
async def test_failed_writes_are_retried_until_stored(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(30), engine_on(db_url) as engine:
        pipeline = pipeline_on(engine, batch_size=5)
        writer = pipeline.writer
        real_write = writer.write
        calls: list[int] = []
        failing_seen: list[float | None] = []

        async def flaky_write(batch: Batch) -> None:
            calls.append(len(batch.positions))
            failing_seen.append(writer.failing_since)
            if len(calls) <= 3:
                raise db_down()
            if len(calls) == 4:
                raise ConnectionResetError("server closed the connection")
            await real_write(batch)

        monkeypatch.setattr(writer, "write", flaky_write)
        await pipeline.start(periodic_flush=False)
        for i in range(12):
            await pipeline.submit(pos(i))
        await pipeline.close()

        assert await count(engine, positions) == 12, "every position handed over is stored, exactly once"
        assert await count(engine, vessels) == 1
        assert writer.write_failures == 4
        assert pipeline.stats.positions_stored == 12
        assert calls[0] >= 5 and calls[:5] == [calls[0]] * 5, "the same batch is retried"
        assert failing_seen[0] is None and all(f is not None for f in failing_seen[1:5])
        assert writer.failing_since is None, "recovered"


async def test_failures_on_every_batch_still_store_each_once(db_url: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(30), engine_on(db_url) as engine:
        pipeline = pipeline_on(engine, batch_size=3)
        writer = pipeline.writer
        real_write = writer.write
        attempts: dict[int, int] = {}

        async def fails_once_per_batch(batch: Batch) -> None:
            attempts[id(batch)] = attempts.get(id(batch), 0) + 1
            if attempts[id(batch)] == 1:
                raise db_down()
            await real_write(batch)

        monkeypatch.setattr(writer, "write", fails_once_per_batch)
        await pipeline.start(periodic_flush=False)
        for i in range(10):
            await pipeline.submit(pos(i, mmsi=RU_SHIP if i % 2 else KP_SHIP))
        await pipeline.close()
        assert await count(engine, positions) == 10
        # batches of 3, 3, 3 and the final 1, those waiting together written as one: each failed once
        assert writer.write_failures == len(attempts) and set(attempts.values()) == {2}
        async with engine.connect() as conn:
            last = dict((await conn.execute(select(vessels.c.mmsi, vessels.c.last_seen))).all())
        assert last == {RU_SHIP: T0 + timedelta(seconds=9), KP_SHIP: T0 + timedelta(seconds=8)}


async def test_close_is_bounded_when_the_database_stays_down(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(30), engine_on(f"sqlite:///{tmp_path / 'dead.db'}") as engine:
        pipeline = pipeline_on(engine, batch_size=100)

        async def dead(batch: Batch) -> None:
            raise db_down()

        monkeypatch.setattr(pipeline.writer, "write", dead)
        await pipeline.start(periodic_flush=False)
        await pipeline.submit(pos(0))
        async with asyncio.timeout(3):
            with contextlib.suppress(StoreError):  # a fix may well report the unwritten batch
                await pipeline.close()


# -------------------------------------------------------------------------------------- shutdown
async def test_close_flushes_a_partial_batch(db_url: str) -> None:
    async with asyncio.timeout(30), engine_on(db_url) as engine:
        pipeline = pipeline_on(engine, batch_size=1000, flush_interval=60)
        await pipeline.start()  # with the periodic flusher, which must not be due yet
        for i in range(7):
            await pipeline.submit(pos(i))
        await asyncio.sleep(0.1)
        assert await count(engine, positions) == 0, "7 < batch_size and the flush interval is far away"
        await pipeline.close()
        assert await count(engine, positions) == 7
        assert await count(engine, vessels) == 1
        await pipeline.writer.close()  # a second close is harmless


async def test_a_partial_batch_is_written_after_the_flush_interval(db_url: str) -> None:
    async with asyncio.timeout(30), engine_on(db_url) as engine:
        pipeline = pipeline_on(engine, batch_size=1000, flush_interval=0.1)
        await pipeline.start()
        for i in range(3):
            await pipeline.submit(pos(i))
        for _ in range(100):
            if await count(engine, positions) == 3:
                break
            await asyncio.sleep(0.05)
        assert await count(engine, positions) == 3, "live positions must not wait for a full batch"
        await pipeline.close()


async def test_submit_before_start_is_a_store_error(db_url: str) -> None:
    async with asyncio.timeout(30), engine_on(db_url) as engine:
        writer = StoreWriter(engine, IngestStats())
        batch = Batch()
        batch.positions.append((RU_SHIP, T0, 43.1, 131.9, None, None, None, None, 1, "test", None, None,
                                None))
        with pytest.raises(StoreError):
            await writer.submit(batch)
        await writer.close()  # never started: nothing to do


# ------------------------------------------- values a PostgreSQL column refuses (SQLite takes anything)
def poison(kind: str) -> Report:
    if kind == "long tag-block station":  # the s: field of an NMEA 4 tag block is free text
        return pos(1, station="s" * 80)
    if kind == "nav status out of range":  # a CSV Status column is not checked against 0..15
        return pos(1, nav_status=40000)
    assert kind == "long ship name"  # CSV and JSON names have no 20-character limit
    return make_static(RU_SHIP, T0, "N" * 100)


@pytest.mark.parametrize("kind", ["long tag-block station", "nav status out of range", "long ship name"])
async def test_one_unstorable_value_does_not_stop_the_store(db_url: str, kind: str,
                                                            request: pytest.FixtureRequest) -> None:
    async with asyncio.timeout(30), engine_on(db_url) as engine:
        pipeline = pipeline_on(engine, batch_size=100)
        await pipeline.start(periodic_flush=False)
        await pipeline.submit(pos(0, mmsi=KP_SHIP))
        await pipeline.submit(poison(kind))
        await pipeline.submit(pos(2, mmsi=KP_SHIP))
        async with asyncio.timeout(3):
            await pipeline.close()
        async with engine.connect() as conn:
            stored = (await conn.execute(
                select(func.count()).select_from(positions).where(positions.c.mmsi == KP_SHIP))).scalar_one()
        assert stored == 2, "the other vessel's positions in the same batch must be stored"


# ------------------------------------------------------------------------- SQLite: slices and the gate
def position_rows(n: int, mmsi: int = RU_SHIP) -> list[tuple[Any, ...]]:
    """n position rows in POSITION_COLUMNS order, a second apart."""
    return [(mmsi, T0 + timedelta(seconds=i), 43.1, 131.9, 10.5, 90.0, 91, 0, 1, "test", None, None, None)
            for i in range(n)]


async def test_an_alert_commits_while_a_large_batch_is_still_being_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite has one write lock: an alert raised while the writer writes 40,000 positions waits for the
    slice being written, not for the batch (before, it waited out the batch's one transaction and then
    SQLite's busy handler's sleeps: bench/alert_latency.py's p99). The writer commits what it has
    written as soon as the alert waits, and goes on after it."""
    async with asyncio.timeout(60), engine_on(f"sqlite:///{tmp_path / 'gate.db'}") as engine:
        stats = IngestStats()
        writer = StoreWriter(engine, stats, transaction_rows=TRANSACTION_ROWS)  # a replay's, in-process
        real_insert = writer._insert_positions
        slices = 0

        async def counted(conn: Any, rows: list[tuple[Any, ...]]) -> None:
            nonlocal slices
            await real_insert(conn, rows)
            slices += 1

        monkeypatch.setattr(writer, "_insert_positions", counted)
        big = Batch(positions=position_rows(40_000))
        writing = asyncio.create_task(writer.write(big))
        while slices < 2:  # the writer's transaction is open, nothing committed yet
            await asyncio.sleep(0.001)
        assert stats.positions_stored == 0
        await AlertStore(engine).raise_alerts([AlertDraft(kind="went_dark", occurred_at=T0, event_key="x",
                                                          mmsi=KP_SHIP, vessel_name="CHON MA SAN")])
        stored_when_the_alert_was = stats.positions_stored
        await writing
        assert SLICE_ROWS * 2 <= stored_when_the_alert_was <= SLICE_ROWS * 4 < 40_000
        assert await count(engine, positions) == 40_000 == stats.positions_stored
        assert big.positions == [], "a written slice leaves the batch"


async def test_with_no_other_write_waiting_a_batch_is_one_transaction_and_waiting_batches_join_it(
        tmp_path: Path) -> None:
    """A commit per slice cost a replay three times its inserts (issue 17): uncontended, a replay's
    writer commits once per TRANSACTION_ROWS, and batches already queued are written with the one before
    them, the latest vessel row winning as its upsert would. Serve's commits every slice."""
    async with asyncio.timeout(60), engine_on(f"sqlite:///{tmp_path / 'one.db'}") as engine:
        commits = 0

        def on_commit(_conn: Any) -> None:
            nonlocal commits
            commits += 1

        event.listen(engine.sync_engine, "commit", on_commit)
        serve = StoreWriter(engine, IngestStats())
        await serve.write(Batch(positions=position_rows(SLICE_ROWS * 5 + 7, mmsi=RU_SHIP + 2)))
        assert commits == 6, "serve commits every slice (its memory grew with longer transactions)"

        commits = 0
        stats = IngestStats()
        writer = StoreWriter(engine, stats, queue_batches=8, transaction_rows=TRANSACTION_ROWS)
        await writer.write(Batch(positions=position_rows(SLICE_ROWS * 5 + 7)))
        assert commits == 1 and stats.positions_stored == SLICE_ROWS * 5 + 7
        await writer.write(Batch(positions=position_rows(TRANSACTION_ROWS + 10, mmsi=KP_SHIP)))
        assert commits == 3, "TRANSACTION_ROWS at most in one"

        commits = 0
        rows = position_rows(30, mmsi=RU_SHIP + 1)
        for i in range(3):  # queued before the writer starts: written together
            vessel = {c: None for c in VESSEL_COLUMNS} | {"mmsi": RU_SHIP + 1, "mmsi_valid": True,
                                                            "name": f"NAME {i}", "last_seen": rows[i][1]}
            await writer._queue.put(Batch(positions=rows[i * 10:(i + 1) * 10], vessels={RU_SHIP + 1: vessel}))
        writer.start()
        await writer.close()
        assert commits == 1
        assert await count(engine, positions) == 2 * (SLICE_ROWS * 5 + 7) + TRANSACTION_ROWS + 10 + 30
        async with engine.connect() as conn:
            name = await conn.scalar(select(vessels.c.name).where(vessels.c.mmsi == RU_SHIP + 1))
        assert name == "NAME 2"


async def test_a_write_failing_part_way_through_goes_on_with_the_rest_and_writes_no_row_twice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(60), engine_on(f"sqlite:///{tmp_path / 'slices.db'}") as engine:
        pipeline = pipeline_on(engine)
        writer = pipeline.writer
        real_insert = writer._insert_positions
        calls = 0

        async def fails_on_the_third_slice(conn: Any, rows: list[tuple[Any, ...]]) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise db_down()
            await real_insert(conn, rows)

        monkeypatch.setattr(writer, "_insert_positions", fails_on_the_third_slice)
        writer.start()
        await writer.submit(Batch(positions=position_rows(SLICE_ROWS * 5 + 7)))
        await writer.close()
        assert writer.write_failures == 1 and calls == 7  # 6 slices, a transaction each, one of them twice
        assert await count(engine, positions) == SLICE_ROWS * 5 + 7 == writer.stats.positions_stored
        async with engine.connect() as conn:
            distinct = await conn.scalar(select(func.count(func.distinct(positions.c.time))))
        assert distinct == SLICE_ROWS * 5 + 7


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_urgent_writes_go_before_waiting_batches_and_postgresql_has_no_gate(dialect: str) -> None:
    gate = WriteGate(dialect == "sqlite")
    order: list[str] = []

    async def write(name: str, urgent: bool = False) -> None:
        async with gate.turn(urgent=urgent):
            order.append(name)
            await asyncio.sleep(0.01)

    async with asyncio.timeout(10):
        first = asyncio.create_task(write("slice 1"))
        await asyncio.sleep(0)  # slice 1 holds the turn
        waiting = [asyncio.create_task(write(f"slice {i}")) for i in (2, 3)]
        await asyncio.sleep(0)
        alert = asyncio.create_task(write("alert", urgent=True))
        await asyncio.gather(first, *waiting, alert)
    if dialect == "sqlite":
        assert order == ["slice 1", "alert", "slice 2", "slice 3"]
    else:  # all at once: rows, not the database, are locked
        assert order == ["slice 1", "slice 2", "slice 3", "alert"]


# ------------------------------------------------------- a replay on SQLite: the writer process
def replay_writer(engine: AsyncEngine) -> StoreWriter:
    return StoreWriter(engine, IngestStats(), retry_initial=0.01, retry_max_delay=0.1, close_timeout=2.0,
                       replayed=True)


def vessel_row(mmsi: int, name: str) -> dict[str, Any]:
    return {c: None for c in VESSEL_COLUMNS} | {"mmsi": mmsi, "mmsi_valid": True, "name": name,
                                                "last_seen": T0}


async def test_a_replay_on_a_sqlite_file_writes_its_rows_in_a_process_of_its_own(tmp_path: Path) -> None:
    """Python's sqlite3 needs the GIL for every row, so in-process its inserts stopped while the
    pipeline ran (issue 17): a replay's positions and vessels are written by a process of their own,
    and each day's replayed mark is there before its rows."""
    async with asyncio.timeout(60), engine_on(f"sqlite:///{tmp_path / 'replay.db'}") as engine:
        writer = replay_writer(engine)
        writer.start()
        assert writer._process is not None and writer._process.pid not in (None, os.getpid())
        process = writer._process
        hostile = "A<B>&'\""
        await writer.submit(Batch(positions=position_rows(5000),
                                  vessels={KP_SHIP: vessel_row(KP_SHIP, hostile)}))
        await writer.close()
        assert not process.alive, "closed with the writer"
        assert await count(engine, positions) == 5000 == writer.stats.positions_stored
        async with engine.connect() as conn:
            assert await conn.scalar(select(vessels.c.name)) == hostile
            assert set(await replayed_days(conn)) == {T0.date()}


async def test_serve_and_an_in_memory_database_write_in_process(tmp_path: Path) -> None:
    async with engine_on(f"sqlite:///{tmp_path / 'serve.db'}") as engine:
        writer = StoreWriter(engine, IngestStats())
        writer.start()
        assert writer._process is None
        await writer.close()
    async with engine_on("sqlite:///:memory:") as engine:
        writer = replay_writer(engine)
        writer.start()
        assert writer._process is None, "a process would open a database of its own"
        await writer.close()


async def test_if_the_writer_process_dies_the_replay_goes_on_in_process_and_loses_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(60), engine_on(f"sqlite:///{tmp_path / 'dies.db'}") as engine:
        writer = replay_writer(engine)
        writer.start()
        assert writer._process is not None and writer._process.pid is not None
        rows = position_rows(2000)
        await writer.submit(Batch(positions=rows[:1000]))
        while writer.stats.positions_stored < 1000:
            await asyncio.sleep(0.01)
        os.kill(writer._process.pid, signal.SIGKILL)
        await writer.submit(Batch(positions=rows[1000:], vessels={KP_SHIP: vessel_row(KP_SHIP, "AFTER")}))
        await writer.close()
        assert await count(engine, positions) == 2000 == writer.stats.positions_stored
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count(func.distinct(positions.c.time)))) == 2000
            assert await conn.scalar(select(vessels.c.name)) == "AFTER"
        assert "writing in this process from now on" in caplog.text


async def test_a_row_the_database_refuses_in_the_writer_process_is_dropped_alone(tmp_path: Path) -> None:
    async with asyncio.timeout(60), engine_on(f"sqlite:///{tmp_path / 'refused.db'}") as engine:
        writer = replay_writer(engine)
        writer.start()
        rows = position_rows(10)
        rows[4] = (None, *rows[4][1:])  # no MMSI: NOT NULL
        await writer.submit(Batch(positions=rows))
        await writer.close()
        assert await count(engine, positions) == 9 == writer.stats.positions_stored
        assert writer.stats.rejects == {"unstorable_row": 1}


async def test_a_failure_that_may_pass_in_the_writer_process_is_retried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with asyncio.timeout(60), engine_on(f"sqlite:///{tmp_path / 'busy.db'}") as engine:
        writer = replay_writer(engine)
        writer.start()
        assert writer._process is not None
        real_write = writer._process.write
        calls = 0

        async def busy_once(*args: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise WriterProcessError("database is locked", transient=True)
            await real_write(*args)

        monkeypatch.setattr(writer._process, "write", busy_once)
        await writer.submit(Batch(positions=position_rows(300)))
        await writer.close()
        assert calls == 2 and writer.write_failures == 1
        assert await count(engine, positions) == 300 == writer.stats.positions_stored
