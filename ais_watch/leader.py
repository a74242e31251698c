"""Leader election: of the instances on one PostgreSQL, one at a time runs the fleet-wide time-driven
rules (went dark), the position maintenance job and the outbox dispatcher. Every instance ingests and
serves the API.

The leader is whoever holds a session-level advisory lock on a connection of its own. The lock goes
with the connection: when the leader dies, its backend sees the socket close and lets go, and a standby
trying every `interval` seconds takes over. TCP keepalives on that connection bound how long a leader
lost without a FIN (a dead host, a cut network) keeps the lock on the server's side, and the leader
checks its connection every `interval` and steps down as soon as it fails, so it is not leading any
more by the time a standby can have the lock. A send that was cut short in between is covered by the
dispatcher's claims: a claimed delivery is not sent by another dispatcher until its lease ends.

On SQLite (one embedded database, one process) the instance leads from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypedDict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x41495357_0002  # pg_advisory_lock key of the leader: any fixed number of our own
# The server gives up on a silent leader connection after idle + interval * count seconds.
_KEEPALIVES = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2",
               "SET tcp_keepalives_count = 3")

Hook = Callable[[], Awaitable[None]]


class LeaderStatus(TypedDict):
    """What /readyz shows of leadership."""

    instance: str  # host:pid
    leader: bool
    leader_since: str | None  # ISO 8601, while leading


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    def __init__(self, engine: AsyncEngine, *, on_elected: Hook, on_deposed: Hook,
                 interval: float = 1.0) -> None:
        self.engine = engine
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.interval = interval
        self.is_leader = False
        self.since: datetime | None = None
        self.elections = 0  # times this instance became leader
        self.name = instance_name()
        self._task: asyncio.Task[None] | None = None

    def status(self) -> LeaderStatus:
        return {"instance": self.name, "leader": self.is_leader,
                "leader_since": self.since.isoformat() if self.since else None}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leadership")

    async def close(self) -> None:
        """Step down (stopping the leader's work first) and let go of the lock."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._step_down("shutting down", logging.INFO)

    async def _run(self) -> None:
        if self.engine.dialect.name != "postgresql":
            await self._elected()
            await asyncio.Event().wait()  # leads until closed
        while True:
            try:
                async with self.engine.connect() as conn:
                    await self._campaign(conn)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the database went away: the lock went with the connection
                await self._step_down(f"lost the database connection ({str(err).splitlines()[0][:120]})")
            await asyncio.sleep(self.interval)

    async def _campaign(self, conn: AsyncConnection) -> None:
        for statement in _KEEPALIVES:
            await conn.execute(text(statement))
        await conn.commit()
        try:
            while True:
                if not self.is_leader:
                    got = await self._ask(conn, "SELECT pg_try_advisory_lock(:key)")
                    if got:
                        await self._elected()
                else:
                    await self._ask(conn, "SELECT 1")  # still connected, so still holding the lock
                await asyncio.sleep(self.interval)
        finally:
            if self.is_leader:
                await asyncio.shield(self._unlock(conn))

    async def _ask(self, conn: AsyncConnection, sql: str) -> object:
        # Bounded: a leader whose connection hangs must find out within seconds, not at TCP's pace.
        # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation that arrives as the
        # query completes, and a campaign that missed its cancellation kept `serve` from stopping.
        async with asyncio.timeout(max(2.0, 2 * self.interval)):
            result = await conn.execute(text(sql), {"key": LEADER_LOCK_KEY})
        value = result.scalar()
        await conn.commit()  # no transaction left open: the lock is the session's, not a transaction's
        return value

    async def _unlock(self, conn: AsyncConnection) -> None:
        await self._step_down("leaving", logging.INFO)
        with contextlib.suppress(Exception):  # closing the connection lets go of it just the same
            async with asyncio.timeout(2):
                await self._ask(conn, "SELECT pg_advisory_unlock(:key)")

    async def _elected(self) -> None:
        self.is_leader = True
        self.since = datetime.now(UTC)
        self.elections += 1
        log.info("leader: this instance (%s) now runs the scheduled rules, maintenance and deliveries",
                 self.name)
        await self.on_elected()

    async def _step_down(self, why: str, level: int = logging.WARNING) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        self.since = None
        log.log(level, "leader: stepping down (%s)", why)
        await self.on_deposed()
