"""Alembic migrations against real databases: head is exactly the schema the code declares."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, func, insert, inspect, select, text
from sqlalchemy.engine import Connection

from ais_watch.cli import main
from ais_watch.errors import StoreError
from ais_watch.store.db import migrate, open_database
from ais_watch.store.partitions import create_partitions, day_of_partition
from ais_watch.store.schema import metadata, positions
from tests.helpers.paths import REPO

# The repository's top-level migrations/ (the wheel carries them as ais_watch/migrations/).
MIGRATIONS = REPO / "migrations"


def _script() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


HEAD = _script().get_current_head()  # the newest file in migrations/versions
UNREACHABLE_PG = "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/test"  # port 1: nothing listens there


def _schema_diff(sync_conn: Connection, target: MetaData) -> list[Any]:
    # The same filter as the migrations' env.py: day partitions of positions are made at run time.
    include = {"include_name": lambda name, type_, _p: not (type_ == "table" and day_of_partition(name))}
    return compare_metadata(MigrationContext.configure(sync_conn, opts=include), target)


def _revision(sync_conn: Connection) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()


@pytest.mark.integration
async def test_head_schema_equals_declared_metadata(db_url: str) -> None:
    async with asyncio.timeout(30):
        engine = await open_database(db_url)
        try:
            async with engine.connect() as conn:
                diff = await conn.run_sync(_schema_diff, metadata)
                revision = await conn.run_sync(_revision)
                tables = set(await conn.run_sync(lambda c: c.dialect.get_table_names(c)))
        finally:
            await engine.dispose()
    assert diff == [], f"migrations at head differ from ais_watch.store.schema.metadata: {diff}"
    assert revision == HEAD
    assert tables == {*metadata.tables, "alembic_version"}
    assert {"positions", "vessels", "identity_history"} <= tables


@pytest.mark.unit
def test_one_linear_history() -> None:
    script = _script()
    assert len(script.get_heads()) == 1, "two heads: migrations branched"
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert all(len(r.nextrev) <= 1 for r in revisions)


@pytest.mark.integration
async def test_schema_comparison_does_detect_drift(db_url: str) -> None:
    """The check above is only worth something if the comparison sees a column or index the db lacks."""
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["vessels"].append_column(Column("not_in_any_migration", Integer))
    async with asyncio.timeout(30):
        engine = await open_database(db_url)
        try:
            async with engine.connect() as conn:
                diff = await conn.run_sync(_schema_diff, drifted)
        finally:
            await engine.dispose()
    assert [d[0] for d in diff] == ["add_column"], diff
    assert diff[0][3].name == "not_in_any_migration"


@pytest.mark.integration
async def test_migrating_twice_is_a_no_op(db_url: str) -> None:
    when = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    async with asyncio.timeout(30):
        engine = await open_database(db_url)
        try:
            async with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    await conn.run_sync(create_partitions, [when.date()])
                await conn.execute(insert(positions), [{"mmsi": 273123456, "time": when, "lat": 43.1,
                                                        "lon": 131.9, "msg_type": 1, "source": "t"}])
            await migrate(engine)
            await migrate(engine)
            async with engine.connect() as conn:
                revision = await conn.run_sync(_revision)
                versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
                rows = (await conn.execute(select(positions.c.mmsi, positions.c.time))).all()
                diff = await conn.run_sync(_schema_diff, metadata)
        finally:
            await engine.dispose()
        # And a fresh open of the migrated database, without migrating, is accepted as it is.
        again = await open_database(db_url, migrate_schema=False)
        try:
            async with again.connect() as conn:
                count = (await conn.execute(select(func.count()).select_from(positions))).scalar_one()
        finally:
            await again.dispose()
    assert revision == HEAD
    assert [v[0] for v in versions] == [HEAD]
    assert rows == [(273123456, when)], "data written before a repeated migration must survive it"
    assert diff == []
    assert count == 1


@pytest.mark.integration
async def test_open_without_migrating_refuses_an_empty_database(db_url: str) -> None:
    async with asyncio.timeout(30):
        with pytest.raises(StoreError) as info:
            await open_database(db_url, migrate_schema=False)
    message = str(info.value)
    assert "schema" in message
    assert "migrate" in message, "the error should say how to fix it"
    assert HEAD in message


@pytest.mark.integration
async def test_unreachable_postgresql_is_a_store_error_without_the_password() -> None:
    for migrate_schema in (True, False):
        async with asyncio.timeout(20):
            with pytest.raises(StoreError) as info:
                await open_database(UNREACHABLE_PG, migrate_schema=migrate_schema)
        message = str(info.value)
        assert "unreachable" in message or "cannot open" in message, message
        assert "127.0.0.1" in message, f"the message should say which server: {message!r}"
        assert "s3cr3t-pw" not in message, "the password must never reach an error message"


@pytest.mark.integration
async def test_sqlite_in_a_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'ais.db'}"
    for migrate_schema in (True, False):
        async with asyncio.timeout(20):
            with pytest.raises(StoreError) as info:
                await open_database(url, migrate_schema=migrate_schema)
        message = str(info.value)
        assert "cannot open database" in message, message
        assert str(tmp_path / "no" / "such" / "dir" / "ais.db") in message
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("url", [UNREACHABLE_PG, "sqlite:////nonexistent-ais-watch-dir/x/ais.db"])
@pytest.mark.integration
def test_cli_reports_an_unreachable_database_in_one_line(url: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", url, "migrate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ais-watch: error: "), err
    assert "Traceback" not in err
    assert "s3cr3t-pw" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.integration
def test_cli_migrate_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["--db", url, "migrate"]) == 0
    assert main(["--db", url, "migrate"]) == 0
    assert capsys.readouterr().out.count("database schema is at head") == 2


@pytest.mark.integration
async def test_0007_carries_the_detectors_restart_state_over_from_the_alerts(db_url: str) -> None:
    """Before 0007 the detectors read their restart state back from alert payloads. The upgrade keeps it:
    an open zone entry (no exit after it) and the latest went_dark per vessel; a closed entry is gone."""
    from alembic import command

    from ais_watch.store.db import alembic_config, create_engine
    from ais_watch.store.detector_state import load
    from ais_watch.store.schema import alerts

    def row(n: int, kind: str, mmsi: int, place: str, details: dict[str, Any]) -> dict[str, Any]:
        when = datetime(2024, 5, 1, n, tzinfo=UTC)
        return {"dedup_key": f"k{n}", "cooldown_key": f"c{n}", "kind": kind, "severity": 3, "mmsi": mmsi,
                "imo": None, "vessel_name": "ANGARA", "place": place, "occurred_at": when, "raised_at": when,
                "lat": 42.0, "lon": 130.0, "state": "open", "details": details, "tags": [], "zones": []}

    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0006"))
            await conn.execute(insert(alerts), [
                row(1, "zone_entry", 273111111, "Rajin approaches", {"zone_id": "kp-a", "entered_at": "T1"}),
                row(2, "zone_entry", 273111111, "Gulf", {"zone_id": "ru-b", "entered_at": "T2"}),
                row(3, "zone_exit", 273111111, "Gulf", {"zone_id": "ru-b", "entered_at": "T2"}),
                row(4, "went_dark", 273111111, "Rajin", {"last_seen": "2024-05-01T03:00:00+00:00"}),
                row(5, "went_dark", 273111111, "Rajin", {"last_seen": "2024-05-01T04:30:00+00:00"}),
                row(6, "port_call", 273222222, "Rajin", {"port_id": "kp-rajin"}),
            ])
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        async with engine.connect() as conn:
            zones, dark = await load(conn, "zones"), await load(conn, "dark")
        assert zones == {"273111111:kp-a": {"entered_at": "T1", "zone_name": "Rajin approaches"}}
        assert dark == {"273111111": {"alerted_for": "2024-05-01T04:30:00+00:00"}}
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_0008_keeps_every_position_believed_and_downgrades(db_url: str) -> None:
    """Positions stored before segments come through 0008 unmarked (believed, segment unknown), and the
    downgrade takes the columns away again without losing a row."""
    from alembic import command

    from ais_watch.store.db import alembic_config, create_engine

    when = datetime(2024, 5, 1, 12, tzinfo=UTC)
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0007"))
            if conn.dialect.name == "postgresql":
                await conn.run_sync(lambda c: create_partitions(c, [when.date()]))
            await conn.execute(text("INSERT INTO positions (mmsi, time, lat, lon, msg_type, source) "
                                    "VALUES (273111111, :t, 42.2, 130.3, 1, 'old')"), {"t": when})
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0008"))
            rows = (await conn.execute(select(positions.c.segment, positions.c.anomaly))).all()
            assert [tuple(r) for r in rows] == [(None, None)]
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0007"))
            count = (await conn.execute(text("SELECT count(*) FROM positions"))).scalar_one()
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("positions")})
        assert count == 1 and "segment" not in columns and "anomaly" not in columns
    finally:
        await engine.dispose()
