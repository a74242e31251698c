"""Turns at SQLite's one write lock, taken inside the process, with alerts first.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps in SQLite's
busy handler (1, 2, 5, 10 ... up to 100 ms a try) and is not woken when the lock frees, so behind the
store writer's position batches an alert's commit, or the dispatcher's claim of its delivery, waited a
few such sleeps: 340 ms at p99 in bench/alert_latency.py. Here the writes of one process take turns on an
asyncio lock instead, handed over the moment the holder commits, and an `urgent` write (an alert, a
delivery's claim and record, an acknowledgement) goes before every position batch that is waiting. The
store writer keeps its turns short (ais_watch/store/writer.py writes a batch in slices, and commits
after the slice during which a write came to wait), which bounds how long an alert can wait for the lock
at all. `serve`'s writer commits every slice anyway; a replay's goes on in the same transaction while no
one waits, since a commit per slice would cost a replay more than its inserts do.

PostgreSQL needs none of this (rows, not the database, are locked): there the gate is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine


class WriteGate:
    def __init__(self, serialise: bool) -> None:
        self.serialise = serialise
        self._lock = asyncio.Lock()
        self._urgent_waiting = 0
        self._waiting = 0  # every write waiting for a turn, urgent or not
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()

    @asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold the process's write turn for one transaction. Not re-entrant: never open a second write
        transaction of the same engine inside a turn."""
        if not self.serialise:
            yield
            return
        self._waiting += 1
        try:
            if urgent:
                await self._acquire_urgent()
            else:
                await self._acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    @property
    def contended(self) -> bool:
        """Another write of this process is waiting for a turn: the holder should commit soon."""
        return self._waiting > 0

    async def _acquire_urgent(self) -> None:
        self._urgent_waiting += 1
        self._no_urgent.clear()
        try:
            await self._lock.acquire()
        finally:
            self._urgent_waiting -= 1
            if not self._urgent_waiting:
                self._no_urgent.set()

    async def _acquire(self) -> None:
        while True:
            await self._no_urgent.wait()
            await self._lock.acquire()
            if not self._urgent_waiting:
                return
            self._lock.release()  # an urgent write came while this one queued: it goes first


# One gate per engine and event loop (asyncio's lock belongs to one loop; a test may run an engine in
# several), forgotten with either.
_GATES: WeakKeyDictionary[Engine, WeakKeyDictionary[asyncio.AbstractEventLoop, WriteGate]] = (
    WeakKeyDictionary())


def write_gate(engine: AsyncEngine) -> WriteGate:
    """The gate of this engine in the running loop: one per database and process."""
    loop = asyncio.get_running_loop()
    per_loop = _GATES.setdefault(engine.sync_engine, WeakKeyDictionary())
    gate = per_loop.get(loop)
    if gate is None:
        gate = per_loop[loop] = WriteGate(engine.dialect.name == "sqlite")
    return gate
