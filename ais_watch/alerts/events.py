"""Alerts raised or changed by another instance, passed to this one's listeners (the live dashboard feed,
the dispatcher's wake-up), through PostgreSQL LISTEN/NOTIFY.

Two instances on the same feeds raise the same alert; the dedup key lets one insert win, so without this
the dashboards connected to the other instance would never see it arrive, and an acknowledgement made on
one wall screen would not show on the next. Each alert store NOTIFYs in the alert's own transaction; this
listener holds a connection of its own, LISTENs, and for each announcement not its own process's reads
the row and hands it on. A lost connection is reopened; what was announced meanwhile is not replayed (a
dashboard reloads the alert list when its own feed reconnects).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text

from ais_watch.alerts.store import CHANNEL, AlertStore
from ais_watch.store.db import asyncpg_connection

log = logging.getLogger(__name__)


class AlertEventListener:
    def __init__(self, store: AlertStore, *, retry: float = 2.0, check_every: float = 5.0) -> None:
        self.store = store
        self.retry = retry
        self.check_every = check_every
        self.listening = asyncio.Event()
        self.forwarded = 0
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._task is None and self.store.engine.dialect.name == "postgresql":
            self._task = asyncio.create_task(self._run(), name="alert-events")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with self.store.engine.connect() as conn:
                    driver = await asyncpg_connection(conn)
                    await driver.add_listener(CHANNEL, self._heard)
                    self.listening.set()
                    try:
                        while True:  # the listener lives as long as the connection: check that it does
                            await asyncio.sleep(self.check_every)
                            async with asyncio.timeout(self.check_every):  # not wait_for: see leader.py
                                await conn.execute(text("SELECT 1"))
                            await conn.commit()
                    finally:
                        self.listening.clear()
                        if not driver.is_closed():
                            await driver.remove_listener(CHANNEL, self._heard)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("alert events from other instances: connection lost (%s); reopening",
                            str(err).splitlines()[0][:160])
            await asyncio.sleep(self.retry)

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        # asyncpg passes a NOTIFY's payload as a str; its stubs promise only an object.
        alert_id, _, origin = str(payload).partition(" ")
        if origin == self.store.origin or not alert_id.isdigit():
            return  # this process's own: its listeners were told already
        task = asyncio.create_task(self._forward(int(alert_id)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _forward(self, alert_id: int) -> None:
        try:
            row = await self.store.get(alert_id)
        except Exception as err:
            log.warning("alert %s announced by another instance could not be read: %s", alert_id, err)
            return
        self.forwarded += 1
        self.store.notify_listeners(row)
