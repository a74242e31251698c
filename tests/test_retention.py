"""Positions at scale: day partitions on PostgreSQL (made ahead, made on demand, pruned by track queries),
and retention (thin old days to their track and evidence, drop older days) on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.cli import main
from ais_watch.config import load_settings
from ais_watch.model import IngestStats
from ais_watch.store.db import alembic_config, create_engine, open_database
from ais_watch.store.marks import replayed_days
from ais_watch.store.partitions import create_partitions, partition_days, partition_name
from ais_watch.store.queries import track
from ais_watch.store.retention import RetentionPolicy, maintain_positions
from ais_watch.store.schema import positions
from ais_watch.store.writer import POSITION_COLUMNS, Batch, StoreWriter
from tests.helpers.db import engine_on, insert_positions

DAY1 = datetime(2024, 3, 1, tzinfo=UTC)
SHIPS = (273355410, 445123000)
RELKIND = text("SELECT relkind::text FROM pg_class WHERE relname = 'positions'")  # p: partitioned, r: plain


def row(mmsi: int, when: datetime, lat: float = 42.25) -> tuple[Any, ...]:
    values = {"mmsi": mmsi, "time": when, "lat": lat, "lon": 130.4, "sog": 8.0, "cog": 90.0, "heading": 90,
              "nav_status": 0, "msg_type": 1, "source": "test", "station": None, "segment": None,
              "anomaly": None}
    return tuple(values[c] for c in POSITION_COLUMNS)


def every_minute(days: int, start: datetime = DAY1) -> list[tuple[Any, ...]]:
    """Both ships, one fix a minute each, for whole days: 1,440 per ship per day."""
    return [row(mmsi, start + timedelta(minutes=m)) for m in range(days * 1440) for mmsi in SHIPS]


async def write(engine: AsyncEngine, rows: list[tuple[Any, ...]], writer: StoreWriter | None = None) -> None:
    own = writer is None
    writer = writer or StoreWriter(engine, IngestStats(), retry_initial=0.01, close_timeout=2.0)
    writer.start()
    for i in range(0, len(rows), 2000):
        await writer.submit(Batch(positions=rows[i:i + 2000]))
    if own:
        await writer.close()


async def per_day(engine: AsyncEngine) -> dict[date, int]:
    async with engine.connect() as conn:
        times = (await conn.execute(select(positions.c.time))).scalars().all()
    counts: dict[date, int] = {}
    for t in times:
        counts[t.date()] = counts.get(t.date(), 0) + 1
    return counts


# ------------------------------------------------------------------------------------------ retention
@pytest.mark.integration
async def test_old_days_are_thinned_by_the_scheduled_job_and_recent_days_kept(db_url: str) -> None:
    async with asyncio.timeout(120), engine_on(db_url) as engine:
        await write(engine, every_minute(3))  # written by the service's writer: not a replay
        # With 2 days of full detail, on day 5 days 1 and 2 are wholly old enough; day 3 is not yet.
        now = DAY1 + timedelta(days=4, hours=1)
        policy = RetentionPolicy(full_detail_days=2, thin_interval=600, keep_days=0)
        report = await maintain_positions(engine, policy, now, include_replayed=False)
        # Both ships lie still all day: the shape is the day's first and last fix, and with a fix at
        # least every 10 minutes (thin_interval 600) 00:00, 00:10, ... 23:50 and 23:59: 145 a ship.
        assert report.thinned == {DAY1.date(): (2880, 290), (DAY1 + timedelta(days=1)).date(): (2880, 290)}
        assert report.left_replayed == []
        counts = await per_day(engine)
        assert counts == {DAY1.date(): 290, (DAY1 + timedelta(days=1)).date(): 290,
                          (DAY1 + timedelta(days=2)).date(): 2880}
        first_hour = [p["time"] async for p in track(engine, [SHIPS[0]], DAY1, DAY1 + timedelta(minutes=59))]
        assert first_hour == [DAY1 + timedelta(minutes=m) for m in range(0, 60, 10)]
        # A second run has nothing left to do; the next day becomes due a day later.
        again = await maintain_positions(engine, policy, now, include_replayed=False)
        assert again.thinned == {}
        later = await maintain_positions(engine, policy, now + timedelta(days=1), include_replayed=False)
        assert list(later.thinned) == [(DAY1 + timedelta(days=2)).date()]
        assert sum((await per_day(engine)).values()) == 3 * 290
        # Days with no positions (on PostgreSQL: the partitions made ahead) are not "thinned".
        assert (await maintain_positions(engine, policy, now + timedelta(days=4),
                                         include_replayed=False)).thinned == {}
        if engine.dialect.name == "postgresql":  # the swapped-in days carry the parent's indexes
            async with engine.connect() as conn:
                days = await conn.run_sync(partition_days)
                for index in ("ix_positions_mmsi_time", "ix_positions_time"):
                    leaves = (await conn.execute(text(
                        f"SELECT count(*) FROM pg_partition_tree('{index}') WHERE isleaf"))).scalar_one()
                    assert leaves == len(days) > 3, index


@pytest.mark.integration
async def test_days_past_keep_days_are_dropped(db_url: str) -> None:
    async with asyncio.timeout(120), engine_on(db_url) as engine:
        await write(engine, every_minute(3))
        now = DAY1 + timedelta(days=4, hours=1)
        policy = RetentionPolicy(full_detail_days=0, keep_days=2)  # never thin; keep 2 days
        report = await maintain_positions(engine, policy, now, include_replayed=False)
        assert report.thinned == {}
        counts = await per_day(engine)
        assert counts == {(DAY1 + timedelta(days=2)).date(): 2880}
        assert report.dropped == [DAY1.date(), (DAY1 + timedelta(days=1)).date()]
        assert report.removed == 2 * 2880 and [w.vessels for w in report.days] == [2, 2]
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                assert DAY1.date() not in await conn.run_sync(partition_days)


@pytest.mark.integration
async def test_the_scheduled_job_leaves_replayed_days_alone_and_maintain_thins_them(db_url: str) -> None:
    """A day a replay wrote to (marked by the replay's writer, or, replayed before replays marked their
    days, known by its positions' source) is left alone by the scheduled job, and marked; an explicit run
    thins it."""
    async with asyncio.timeout(120), engine_on(db_url) as engine:
        replay_writer = StoreWriter(engine, IngestStats(), retry_initial=0.01, replayed=True)
        await write(engine, every_minute(1), replay_writer)
        await replay_writer.close()
        unmarked = [{"mmsi": 273000001, "time": DAY1 + timedelta(days=2, minutes=m), "lat": 42.25,
                     "lon": 130.4, "source": "replay:2024.nmea"} for m in range(1440)]
        await insert_positions(engine, unmarked)  # an old replay: its source, no mark
        await write(engine, every_minute(1, DAY1 + timedelta(days=1)))  # the service's own
        async with engine.connect() as conn:
            assert await replayed_days(conn) == {DAY1.date(): "full"}

        now = DAY1 + timedelta(days=30)
        policy = RetentionPolicy(full_detail_days=2)
        job = await maintain_positions(engine, policy, now, include_replayed=False)
        assert list(job.thinned) == [(DAY1 + timedelta(days=1)).date()]
        assert job.left_replayed == [DAY1.date(), (DAY1 + timedelta(days=2)).date()]
        assert await per_day(engine) == {DAY1.date(): 2880, (DAY1 + timedelta(days=1)).date(): 50,
                                         (DAY1 + timedelta(days=2)).date(): 1440}
        async with engine.connect() as conn:
            assert await replayed_days(conn) == {DAY1.date(): "full",
                                                 (DAY1 + timedelta(days=2)).date(): "full"}
        assert (await maintain_positions(engine, policy, now, include_replayed=False)).thinned == {}

        explicit = await maintain_positions(engine, policy, now, include_replayed=True)
        assert explicit.thinned == {DAY1.date(): (2880, 50), (DAY1 + timedelta(days=2)).date(): (1440, 25)}
        assert all(w.replayed for w in explicit.days)
        async with engine.connect() as conn:
            assert set((await replayed_days(conn)).values()) == {"thinned"}
        assert (await maintain_positions(engine, policy, now, include_replayed=True)).thinned == {}


@pytest.mark.unit
async def test_retention_is_off_by_default_and_when_zero() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert RetentionPolicy().thin_before(now) is None
    assert RetentionPolicy().drop_before(now) is None
    assert RetentionPolicy.from_settings(load_settings(environ={})) == RetentionPolicy()
    assert RetentionPolicy().describe(now) == ("thinning off (retention.full_detail_days 0); "
                                               "dropping off (retention.keep_days 0)")
    # Configured: full detail for 90 days. A day is due only once the whole of it is 90 days old.
    ninety = RetentionPolicy(full_detail_days=90, keep_days=400)
    assert ninety.thin_before(now) == date(2026, 8, 31)
    assert ninety.drop_before(now) == date(2025, 10, 25)


# ------------------------------------------------------------------------------ PostgreSQL partitions
@pytest.mark.integration
async def test_writer_makes_the_partitions_of_the_days_it_meets(pg_url: str) -> None:
    async with asyncio.timeout(60), engine_on(pg_url) as engine:
        old = datetime(2013, 1, 15, 23, 59, 59, tzinfo=UTC)  # a replay of 2013 traffic: no partition yet
        await write(engine, [row(SHIPS[0], old), row(SHIPS[0], old + timedelta(seconds=2)),
                             row(SHIPS[1], DAY1)])
        async with engine.connect() as conn:
            days = await conn.run_sync(partition_days)
            in_parent = (await conn.execute(text("SELECT count(*) FROM ONLY positions"))).scalar_one()
            in_day = (await conn.execute(text(f"SELECT count(*) FROM {partition_name(old.date())}"))).scalar()
        assert days == {date(2013, 1, 15), date(2013, 1, 16), DAY1.date()}
        assert in_parent == 0 and in_day == 1  # each row in its own day's partition


@pytest.mark.integration
async def test_maintenance_makes_partitions_ahead(pg_url: str) -> None:
    async with asyncio.timeout(60), engine_on(pg_url) as engine:
        now = datetime(2026, 11, 29, 12, tzinfo=UTC)
        policy = RetentionPolicy(partitions_ahead=3)
        report = await maintain_positions(engine, policy, now, include_replayed=False)
        expected = [date(2026, 11, 29) + timedelta(days=i) for i in range(4)]
        assert report.created == expected
        assert (await maintain_positions(engine, policy, now, include_replayed=False)).created == []
        # A dry run makes none either.
        dry = await maintain_positions(engine, RetentionPolicy(partitions_ahead=9), now,
                                       include_replayed=True, dry_run=True)
        assert dry.created == []
        async with engine.connect() as conn:
            assert max(await conn.run_sync(partition_days)) == date(2026, 12, 2)


@pytest.mark.integration
async def test_a_dropped_day_is_made_again_for_a_late_position(pg_url: str) -> None:
    """The writer remembers which days exist; retention on another instance may have dropped one since."""
    async with asyncio.timeout(60), engine_on(pg_url) as engine:
        stats = IngestStats()
        writer = StoreWriter(engine, stats, retry_initial=0.01, close_timeout=2.0)
        await write(engine, [row(SHIPS[0], DAY1)], writer)
        while stats.positions_stored < 1:
            await asyncio.sleep(0.01)
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {partition_name(DAY1.date())}"))
        await write(engine, [row(SHIPS[0], DAY1 + timedelta(hours=1))], writer)
        await writer.close()
        assert stats.positions_stored == 2 and not stats.rejects
        assert await per_day(engine) == {DAY1.date(): 1}


@pytest.mark.integration
async def test_two_instances_making_the_same_partitions_at_once(pg_url: str) -> None:
    engines = [await open_database(pg_url) for _ in range(2)]
    try:
        days = [DAY1.date() + timedelta(days=i) for i in range(20)]

        async def make(engine: AsyncEngine) -> list[date]:
            async with engine.begin() as conn:
                return await conn.run_sync(create_partitions, days)

        made = await asyncio.wait_for(asyncio.gather(*(make(e) for e in engines)), 30)
        assert sorted(made[0] + made[1]) == days  # each day made once, by one of them, no error
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.mark.integration
async def test_a_track_query_reads_only_the_partitions_of_its_window(pg_url: str) -> None:
    async with asyncio.timeout(60), engine_on(pg_url) as engine:
        await write(engine, [row(m, DAY1 + timedelta(days=d, hours=h)) for d in range(10) for h in range(24)
                             for m in SHIPS])
        since, until = DAY1 + timedelta(days=3, hours=6), DAY1 + timedelta(days=4, hours=18)
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE positions"))
            plan = "\n".join(r[0] for r in await conn.execute(text(
                "EXPLAIN SELECT * FROM positions WHERE mmsi IN (:mmsi) AND time >= :since AND time <= :until "
                "ORDER BY time"), {"mmsi": SHIPS[0], "since": since, "until": until}))
        all_days = (DAY1.date() + timedelta(days=i) for i in range(10))
        scanned = {d for d in all_days if partition_name(d) in plan}
        assert scanned == {(DAY1 + timedelta(days=3)).date(), (DAY1 + timedelta(days=4)).date()}, plan
        points = [p async for p in track(engine, [SHIPS[0]], since, until)]
        assert len(points) == 18 + 19


@pytest.mark.integration
async def test_upgrade_moves_existing_positions_into_day_partitions_and_back(pg_url: str) -> None:
    """A database from before partitioning (revision 0005) keeps every position through the upgrade."""
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0005"))
            # The columns revision 0005 had: the segment and its mark came with 0008.
            await conn.execute(positions.insert(), [
                {k: v for k, v in zip(POSITION_COLUMNS, r, strict=True) if k not in ("segment", "anomaly")}
                for r in every_minute(1, DAY1 - timedelta(hours=12))])
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        async with engine.connect() as conn:
            days = await conn.run_sync(partition_days)
            total = (await conn.execute(select(func.count()).select_from(positions))).scalar_one()
            kind = (await conn.execute(RELKIND)).scalar()
        assert kind == "p" and total == 2880
        assert days == {(DAY1 - timedelta(days=1)).date(), DAY1.date()}
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0005"))
        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(positions))).scalar_one()
            kind = (await conn.execute(RELKIND)).scalar()
        assert kind == "r" and total == 2880
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------- commands
@pytest.mark.integration
def test_maintain_command_thins_what_the_settings_say(db_url: str, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async def load() -> None:
        async with engine_on(db_url) as engine:
            await write(engine, every_minute(1))

    asyncio.run(load())
    async def counted() -> int:
        async with engine_on(db_url) as engine:
            return sum((await per_day(engine)).values())

    assert main(["--db", db_url, "maintain"]) == 0  # the defaults: nothing thinned or dropped
    out = capsys.readouterr().out
    assert "thinning off (retention.full_detail_days 0); dropping off (retention.keep_days 0)" in out
    assert "nothing thinned or dropped" in out
    assert asyncio.run(counted()) == 2880
    monkeypatch.setenv("AIS_WATCH_RETENTION_FULL_DETAIL_DAYS", "30")  # 2024-03-01 is long past 30 days
    assert main(["--db", db_url, "maintain"]) == 0
    out = capsys.readouterr().out
    # Still ships: each day's first and last fix, and one at least every hour (00:00 .. 23:00, 23:59).
    assert "2024-03-01  thin          2,880         2           50        2,830" in out, out
    assert "thinned 1 days (2,880 -> 50 positions)" in out
    assert asyncio.run(counted()) == 50


@pytest.mark.integration
def test_with_auto_migrate_off_an_old_schema_is_refused_with_the_way_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"

    async def at_0005() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0005"))
        await engine.dispose()

    asyncio.run(at_0005())
    recording = tmp_path / "one.nmea"
    recording.write_text("\\s:test,c:1709251200*7F\\!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23\n")
    monkeypatch.setenv("AIS_WATCH_STORE_AUTO_MIGRATE", "false")
    assert main(["--db", url, "replay", str(recording)]) == 2
    err = capsys.readouterr().err
    assert "database schema is at 0005" in err and "ais-watch migrate" in err
    monkeypatch.delenv("AIS_WATCH_STORE_AUTO_MIGRATE")
    assert main(["--db", url, "migrate"]) == 0
