"""A replay's position and vessel rows written to SQLite by a process of their own.

Python's sqlite3 takes the GIL back after every row it steps, so in one process SQLite's work cannot
run beside the pipeline's: while the pipeline computes, the insert all but stops, and the pipeline
then waits for it (a replay of issue 17's input spent 1.7 s of 8 s waiting on a full store queue with
SQLite's thread doing the rest). PostgreSQL does its work in its own server process; this gives a
replay on SQLite the same shape. The store writer (ais_watch/store/writer.py) sends a batch's rows down
a pipe and waits for the answer, one batch at a time, while the pipeline goes on; the process writes
the batch in one transaction and answers with the rows written, or with why it could not.

Only a replay into a database file uses it. `serve` writes in-process, where the write gate puts an
alert before waiting position batches (ais_watch/store/write_gate.py); a replay raises few alerts, and
one that meets this process's transaction waits in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import sqlite3
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

# Answers: written, a failure that may pass (the database busy or gone), a row the database refuses.
OK, TRANSIENT, REFUSED = "ok", "transient", "refused"


def _serve(path: str, position_insert: str, vessel_upsert: str, checkpoint_rows: int,
           conn: Connection) -> None:
    """In the writer process: each request is (positions, vessel rows), written in one transaction."""
    db = sqlite3.connect(path, isolation_level=None)
    sqlite_pragmas(db)
    since_checkpoint = 0
    try:
        while True:
            try:
                data = conn.recv_bytes()
            except EOFError:  # the replay closed its end: done
                return
            stamped, vessels = pickle.loads(data)
            # Times come as epoch seconds: a float pickles in half the time a datetime does, and the
            # text is made here, on this process's core (exact: a float holds any AIS-era time to
            # well under the microsecond, and fromtimestamp rounds to the nearest).
            positions = [(r[0], sqlite_time(datetime.fromtimestamp(r[1], UTC)), *r[2:]) for r in stamped]
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if positions:
                        db.executemany(position_insert, positions)
                    if vessels:
                        db.executemany(vessel_upsert, vessels)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as err:
                conn.send_bytes(pickle.dumps((TRANSIENT, str(err))))
                continue
            except sqlite3.Error as err:
                conn.send_bytes(pickle.dumps((REFUSED, f"{type(err).__name__}: {err}")))
                continue
            since_checkpoint += len(positions) + len(vessels)
            if since_checkpoint >= checkpoint_rows:  # as the in-process writer does (see writer.py)
                since_checkpoint = 0
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.send_bytes(pickle.dumps((OK, "")))
    finally:
        db.close()
        conn.close()


def sqlite_pragmas(dbapi_connection: Any) -> None:
    """How every connection to a SQLite database is set up: the engine's (ais_watch/store/db.py) and
    this process's. Here, not in db.py, so that the process starts without SQLAlchemy and Alembic."""
    # WAL lets the API read while ingest writes; NORMAL sync is durable across process crashes in WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Positions go into two indexes, (mmsi, time) in no order: with SQLite's default 2 MB page cache a
    # replay spends most of its insert time re-reading index pages. 32 MB of cache, and checkpoints
    # tens of MB apart, take 40-45% off a replay's inserts (issue 17); the cache is filled only as pages
    # are read, and a small database never grows one that large.
    cursor.execute("PRAGMA cache_size=-32768")
    # No checkpoint on commit: the store writer runs them itself (every CHECKPOINT_ROWS rows), so an
    # alert's commit never pays for one (ais_watch/store/writer.py). A process that never starts a
    # writer (the CLI) checkpoints on closing.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores: 'YYYY-MM-DD HH:MM:SS.ffffff', always with micros,
    so that stored values and bound query parameters compare correctly as strings."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


class WriterProcessError(Exception):
    """The writer process could not write a batch: `transient` says whether trying again may work."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class SqliteWriterProcess:
    """The process, and one request in flight at a time (the store writer awaits each)."""

    def __init__(self, path: str, position_insert: str, vessel_upsert: str, checkpoint_rows: int) -> None:
        ctx = multiprocessing.get_context("forkserver")
        self._conn, child = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=_serve, daemon=True, name="sqlite writer",
                                    args=(path, position_insert, vessel_upsert, checkpoint_rows, child))
        self._process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def write(self, positions: list[tuple[Any, ...]], vessels: list[tuple[Any, ...]]) -> None:
        """Rows in the tables' column order, returns once committed. A position's time (its second
        column) as epoch seconds; the vessel rows' times as SQLite text (sqlite_time)."""
        try:
            self._conn.send_bytes(pickle.dumps((positions, vessels), pickle.HIGHEST_PROTOCOL))
            status, message = pickle.loads(await asyncio.to_thread(self._conn.recv_bytes))
        except (EOFError, OSError) as err:
            raise WriterProcessError(f"the SQLite writer process ended (exit code {self._process.exitcode})",
                                     transient=True) from err
        if status != OK:
            raise WriterProcessError(message, transient=status == TRANSIENT)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    async def close(self) -> None:
        self._conn.close()
        await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.kill()
