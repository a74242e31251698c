"""Database URLs, engines and migrations (Alembic is the only way the schema changes)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from ais_watch import shipped_dir
from ais_watch.errors import ConfigError, StoreError
from ais_watch.store.sqlite_process import sqlite_pragmas

if TYPE_CHECKING:  # only for the annotation: SQLAlchemy imports the driver itself
    import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = shipped_dir("migrations", "env.py")  # the top-level migrations/ of the repository
MIGRATION_LOCK_KEY = 0x41495357_0003  # pg_advisory_xact_lock key held while migrating


def async_url(url: str) -> str:
    """The user's URL (sqlite:///x.db, postgresql://...) with the async driver this project uses."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigError(f"setting 'db': not a database URL: {url!r}") from err
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ConfigError(f"setting 'db': unsupported database {backend!r}; use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def _on_sqlite_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    sqlite_pragmas(dbapi_connection)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    full = async_url(url)
    engine = create_async_engine(full, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    return engine


async def asyncpg_connection(conn: AsyncConnection) -> asyncpg.Connection[asyncpg.Record]:
    """The asyncpg connection under a PostgreSQL connection, for what only the driver does (COPY,
    LISTEN, executemany of driver-level SQL)."""
    raw = await conn.get_raw_connection()
    # SQLAlchemy types the driver's connection as Any (it depends on the dialect); on postgresql+asyncpg,
    # the only PostgreSQL driver async_url() gives, it is asyncpg's.
    return cast("asyncpg.Connection[asyncpg.Record]", raw.driver_connection)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _current_and_head(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return current, head


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to head (a no-op when it is there already)."""
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # two instances starting together migrate one at a time
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            current, head = await conn.run_sync(_current_and_head)
            if current != head:
                log.info("migrating database from %s to %s", current or "empty", head)
                await conn.run_sync(_upgrade)
    except (OSError, ConnectionError) as err:
        raise StoreError(f"database {redacted(str(engine.url))} unreachable: {_first_line(err)}") from err


async def open_database(url: str, *, migrate_schema: bool = True, **kwargs: Any) -> AsyncEngine:
    """An engine on a database at the current schema. Raises StoreError with the reason if unreachable."""
    engine = create_engine(url, **kwargs)
    try:
        if migrate_schema:
            await migrate(engine)
        else:
            async with engine.connect() as conn:
                current, head = await conn.run_sync(_current_and_head)
            if current != head:
                raise StoreError(f"database schema is at {current or 'nothing'}, expected {head}: "
                                 "run `ais-watch migrate` or let the service migrate it")
    except StoreError:
        await engine.dispose()
        raise
    except Exception as err:
        await engine.dispose()
        raise StoreError(f"cannot open database {redacted(url)}: {_first_line(err)}") from err
    return engine


def _first_line(err: BaseException) -> str:
    """SQLAlchemy appends a '(Background on this error at: ...)' line; a CLI error is one line."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
