"""An engine on a database (migrated to head unless told not to), rows read back from it, and positions
written straight into it (a query test seeds what it reads, with no pipeline deciding for it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Row, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.store.db import open_database
from ais_watch.store.partitions import PartitionCache, day_of
from ais_watch.store.schema import positions


@asynccontextmanager
async def engine_on(db_url: str, *, migrate_schema: bool = True) -> AsyncIterator[AsyncEngine]:
    """open_database(db_url), disposed on the way out whatever happened."""
    engine = await open_database(db_url, migrate_schema=migrate_schema)
    try:
        yield engine
    finally:
        await engine.dispose()


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def rows_of(db_url: str, table: Table) -> list[dict[str, Any]]:
    """Every row of a table with an `id`, in id order, as dicts."""
    async with engine_on(db_url) as engine, engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table).order_by(table.c.id))).mappings()]


async def fetch(db_url: str, statement: Any, **params: Any) -> list[Row[Any]]:
    """What a statement returns, from a database something else has already migrated: reading must not
    make the schema it is meant to find."""
    async with engine_on(db_url, migrate_schema=False) as engine, engine.connect() as conn:
        return list((await conn.execute(statement, params)).all())


async def insert_positions(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    """Rows straight into `positions` (msg_type 1 and source "test" unless given); on PostgreSQL their
    days' partitions are made first, as the writer would."""
    if engine.dialect.name == "postgresql":
        await PartitionCache(engine).ensure({day_of(r["time"]) for r in rows})
    async with engine.begin() as conn:
        await conn.execute(positions.insert(), [{"msg_type": 1, "source": "test", **r} for r in rows])
