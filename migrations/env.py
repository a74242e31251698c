"""Alembic environment. Used in-process by ais_watch.store.db.migrate (a connection is handed in) and by
the `alembic` command (async engine from AIS_WATCH_DB or the -x db=URL argument)."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from ais_watch.store.partitions import day_of_partition
from ais_watch.store.schema import metadata

config = context.config
target_metadata = metadata


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Day partitions of positions are made at run time, not by migrations: autogenerate ignores them."""
    return not (type_ == "table" and name is not None and day_of_partition(name) is not None)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, include_name=include_name,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from ais_watch.store.db import create_engine

    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("db") or os.environ.get(
        "AIS_WATCH_DB", "sqlite:///./ais-watch.db")
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
