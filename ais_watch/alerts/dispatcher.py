"""The outbox dispatcher: delivers pending deliveries, records every attempt, retries with capped
exponential backoff and jitter, honours Retry-After, and gives up after a number of attempts or an age.

The database is the queue. Each notifier has its own worker that takes its due deliveries oldest first
and sends them one at a time, at most one per `min_interval` (Slack's ~1/s per webhook): a burst of
alerts waits its turn in the table instead of being dropped or tripping the rate limit. A restart
resumes whatever is pending. Delivery is at least once: a process killed between a receiver's 2xx and
the commit sends that one again, with the same idempotency key, so the receiver can drop the repeat.

Retries run on wall time, not the pipeline clock: they are about the real network, not recorded events.

A threaded notifier (Slack with a bot token) gets each alert of an incident as a reply to the incident's
first message, which is remembered when its delivery is recorded (ais_watch/alerts/threads.py); a reply
due before its parent is delivered is put off, without an attempt, until the parent's next attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts import threads
from ais_watch.alerts.model import alert_json
from ais_watch.alerts.notifiers.base import (
    RESPONSE_SNIPPET,
    DeliveryResult,
    Notifier,
    ThreadedNotifier,
    ThreadRef,
)
from ais_watch.alerts.store import AlertStats, AlertStore
from ais_watch.store.schema import alerts, deliveries, delivery_attempts
from ais_watch.store.write_gate import write_gate

log = logging.getLogger(__name__)
CLAIM_LEASE = 120.0  # seconds a claimed delivery is left alone: longer than any send may take


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 12
    max_age: float = 86400.0  # seconds
    initial: float = 2.0
    maximum: float = 300.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Delay before attempt number `attempts + 1`: doubling, capped, with jitter (half to full)."""
        ceiling = min(self.maximum, self.initial * 2.0 ** max(attempts - 1, 0))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Dispatcher:
    def __init__(self, engine: AsyncEngine, notifiers: Sequence[Notifier], stats: AlertStats,
                 policy: RetryPolicy | None = None, *, sweep_interval: float = 5.0,
                 wall_clock: Callable[[], datetime] | None = None, rng: random.Random | None = None,
                 alerts: AlertStore | None = None) -> None:
        self.engine = engine
        # The store whose new deliveries this dispatcher takes as they are made, while it runs (handoff):
        # a new alert goes out without a query and a claim of its own after its commit.
        self.alerts = alerts
        self._taken: dict[str, deque[dict[str, Any]]] = {n.name: deque() for n in notifiers}
        self.notifiers = {n.name: n for n in notifiers}
        self.stats = stats
        self.policy = policy or RetryPolicy()
        self.sweep_interval = sweep_interval
        self._now = wall_clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._wake = {name: asyncio.Event() for name in self.notifiers}
        self._idle = {name: asyncio.Event() for name in self.notifiers}
        self._tasks: list[asyncio.Task[None]] = []
        self._last_send: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}  # monotonic time a receiver's Retry-After ends

    def wake(self, _row: dict[str, Any] | None = None) -> None:
        """New deliveries may be due: look now instead of at the next sweep."""
        for event in self._wake.values():
            event.set()

    def lease(self) -> float:
        return CLAIM_LEASE

    def take(self, rows: list[dict[str, Any]]) -> None:
        """Deliveries made claimed for this dispatcher in a committed alert transaction (AlertStore
        handoff): sent next, ahead of the table's due ones, with no query or claim of their own."""
        for row in rows:
            queue = self._taken.get(row["notifier"])
            if queue is not None:
                queue.append(row)
                self._wake[row["notifier"]].set()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._worker(n), name=f"dispatch:{n.name}")
                           for n in self.notifiers.values()]
            if self.alerts is not None:
                self.alerts.handoff = self

    async def close(self) -> None:
        """Stop the workers. A delivery in flight is cancelled and stays pending for the next start; one
        handed over and not yet sent is made due again at once (it was claimed for this dispatcher)."""
        if self.alerts is not None and self.alerts.handoff is self:
            self.alerts.handoff = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for queue in self._taken.values():
            while queue:
                await self._release(queue.popleft())
        for notifier in self.notifiers.values():
            await notifier.close()

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until nothing is due soon: True when no delivery is pending any more."""
        deadline = time.monotonic() + timeout
        self.wake()
        while time.monotonic() < deadline:
            if await self.pending_count() == 0:
                return True
            await asyncio.sleep(min(0.1, max(deadline - time.monotonic(), 0)))
        return await self.pending_count() == 0

    async def pending_count(self) -> int:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(deliveries.c.id).where(
                and_(deliveries.c.state == "pending", deliveries.c.notifier.in_(list(self.notifiers)))))
            return len(rows.all())

    # ------------------------------------------------------------------------------------- workers
    async def _worker(self, notifier: Notifier) -> None:
        wake = self._wake[notifier.name]
        while True:
            wake.clear()  # before looking: a wake-up during the look is then not lost
            try:
                next_due = await self._work_off(notifier)
            except Exception:  # the database went away: keep the worker, try again at the next sweep
                log.exception("dispatcher for %s failed; retrying", notifier.name)
                next_due = self.sweep_interval
            # asyncio.timeout, not wait_for, which in 3.11 loses a stop's cancellation that comes as a
            # wake-up does: the worker would go on and close() would wait for it for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(next_due, self.sweep_interval)):
                    await wake.wait()

    async def _work_off(self, notifier: Notifier) -> float:
        """Send every due delivery of this notifier, those handed over first; return seconds until the
        next one is due."""
        taken = self._taken[notifier.name]
        while taken:
            handed = taken[0]
            await self._respect_rate_limit(notifier)
            try:
                await self._deliver(notifier, handed)
            except asyncio.CancelledError:
                await asyncio.shield(self._release(handed))  # stopping: due again at once
                raise
            finally:
                taken.popleft()
        while True:
            now = self._now()
            async with self.engine.connect() as conn:
                due = (await conn.execute(
                    select(deliveries.c.id.label("delivery_id"), deliveries.c.attempts,
                           deliveries.c.created_at.label("delivery_created_at"), deliveries.c.idempotency_key,
                           deliveries.c.next_attempt_at, *alerts.c)
                    .join(alerts, alerts.c.id == deliveries.c.alert_id)
                    .where(deliveries.c.notifier == notifier.name, deliveries.c.state == "pending",
                           deliveries.c.next_attempt_at <= now)
                    .order_by(deliveries.c.next_attempt_at, deliveries.c.id).limit(20))).mappings().all()
                if not due:
                    upcoming: datetime | None = await conn.scalar(
                        select(deliveries.c.next_attempt_at)
                        .where(deliveries.c.notifier == notifier.name, deliveries.c.state == "pending")
                        .order_by(deliveries.c.next_attempt_at).limit(1))
                    if upcoming is None:
                        return self.sweep_interval
                    return max((upcoming - now).total_seconds(), 0.01)
            for row in due:
                await self._respect_rate_limit(notifier)
                claim = asyncio.ensure_future(self._claim(dict(row)))
                try:
                    claimed = await asyncio.shield(claim)
                except asyncio.CancelledError:  # stopping while the claim commits: give it back
                    if await claim:
                        await asyncio.shield(self._release(dict(row)))
                    raise
                if not claimed:
                    continue
                try:
                    await self._deliver(notifier, dict(row))
                except asyncio.CancelledError:
                    await asyncio.shield(self._release(dict(row)))  # stopping: due again at once
                    raise

    async def _claim(self, row: dict[str, Any]) -> bool:
        """Take a due delivery before sending it, by moving its next attempt a lease ahead, only if no
        one else moved it first: two dispatchers on one database (two instances, a `replay --notify`
        beside `serve`) never both send it. A process that dies mid-send leaves it due after the lease."""
        lease = self._now() + timedelta(seconds=CLAIM_LEASE)
        async with write_gate(self.engine).turn(urgent=True), self.engine.begin() as conn:
            result = await conn.execute(
                update(deliveries).where(
                    deliveries.c.id == row["delivery_id"], deliveries.c.state == "pending",
                    deliveries.c.attempts == row["attempts"],
                    deliveries.c.next_attempt_at == row["next_attempt_at"])
                .values(next_attempt_at=lease))
        return result.rowcount == 1

    async def _release(self, row: dict[str, Any]) -> None:
        """Give back a claimed delivery that was not sent (the dispatcher is stopping mid-send)."""
        try:
            async with write_gate(self.engine).turn(urgent=True), self.engine.begin() as conn:
                await conn.execute(update(deliveries).where(
                    deliveries.c.id == row["delivery_id"], deliveries.c.state == "pending",
                    deliveries.c.attempts == row["attempts"]).values(next_attempt_at=row["next_attempt_at"]))
        except Exception:  # the lease runs out by itself
            log.warning("could not release delivery %s; it is due again after the lease", row["delivery_id"])

    async def _respect_rate_limit(self, notifier: Notifier) -> None:
        """At most one send per min_interval, and nothing while a receiver's Retry-After lasts: a 429 is
        about the webhook, not about the one alert that met it."""
        paused = self._paused_until.get(notifier.name, 0.0) - time.monotonic()
        if paused > 0:
            await asyncio.sleep(paused)
        last = self._last_send.get(notifier.name)
        if last is not None and notifier.min_interval:
            wait = last + notifier.min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_send[notifier.name] = time.monotonic()

    async def _deliver(self, notifier: Notifier, row: dict[str, Any]) -> None:
        alert = alert_json(row)
        in_incident = row["incident_id"] is not None
        threaded = notifier if isinstance(notifier, ThreadedNotifier) and in_incident else None
        parent: ThreadRef | None = None
        if threaded is not None:
            async with self.engine.connect() as conn:
                where = await threads.place(conn, threaded.name, threaded.thread_scope, row["incident_id"],
                                            row["id"], self._now())
            if isinstance(where, threads.Wait):
                await self._put_off(notifier, row, where.until)
                return
            parent = where
        started = time.monotonic()
        try:
            if threaded is not None:
                result = await threaded.send_in_thread(alert, row["idempotency_key"], parent)
            else:
                result = await notifier.send(alert, row["idempotency_key"])
        except Exception as err:  # a notifier bug must not stop the others
            log.exception("notifier %s raised", notifier.name)
            result = DeliveryResult(ok=False, response=f"notifier error: {err!r}"[:RESPONSE_SNIPPET])
        elapsed_ms = int((time.monotonic() - started) * 1000)
        starts_thread = threaded.thread_scope if threaded is not None and parent is None else None
        await self._record(notifier, row, result, elapsed_ms, starts_thread)

    async def _put_off(self, notifier: Notifier, row: dict[str, Any], until: datetime) -> None:
        """A reply whose thread's parent is not delivered yet: due again when the parent is (no attempt is
        counted: nothing was sent). The claim's lease is replaced by the new time."""
        async with write_gate(self.engine).turn(urgent=True), self.engine.begin() as conn:
            await conn.execute(update(deliveries).where(
                deliveries.c.id == row["delivery_id"], deliveries.c.state == "pending",
                deliveries.c.attempts == row["attempts"]).values(next_attempt_at=until))
        log.debug("delivery of alert %s to %s waits for its incident's first message", row["id"],
                  notifier.name)

    async def _record(self, notifier: Notifier, row: dict[str, Any], result: DeliveryResult,
                      elapsed_ms: int, starts_thread: str | None = None) -> None:
        """The attempt and the delivery's new state; a threaded notifier's first message of an incident
        (`starts_thread`: its channel) is remembered in the same transaction."""
        now = self._now()
        attempts = row["attempts"] + 1
        values: dict[str, Any] = {"attempts": attempts, "last_status": result.status,
                                  "last_error": None if result.ok else result.response[:RESPONSE_SNIPPET]}
        if result.ok:
            values.update(state="delivered", delivered_at=now)
            outcome = "delivered"
        elif result.permanent or attempts >= self.policy.max_attempts or (
                now - row["delivery_created_at"] >= timedelta(seconds=self.policy.max_age)):
            values["state"] = "failed"
            outcome = "failed"
            log.error("delivery of alert %s to %s failed for good after %d attempts: %s %s",
                      row["id"], notifier.name, attempts, result.status or "", result.response[:200])
        else:
            delay = self.policy.delay(attempts, self._rng)
            if result.retry_after is not None:  # the receiver knows best (notifiers cap it at an hour)
                delay = max(delay, result.retry_after)
                self._paused_until[notifier.name] = time.monotonic() + result.retry_after
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            outcome = "retried"
            log.warning("delivery of alert %s to %s failed (%s %s); attempt %d again in %.1fs",
                        row["id"], notifier.name, result.status or "", result.response[:200],
                        attempts + 1, delay)
        async with write_gate(self.engine).turn(urgent=True), self.engine.begin() as conn:
            await conn.execute(
                update(deliveries).where(deliveries.c.id == row["delivery_id"]).values(**values))
            await conn.execute(insert(delivery_attempts).values(
                delivery_id=row["delivery_id"], attempt=attempts, at=now, ok=result.ok, status=result.status,
                response=result.response[:RESPONSE_SNIPPET], duration_ms=elapsed_ms))
            if result.ok and result.posted is not None and starts_thread is not None:
                await threads.remember(conn, notifier.name, starts_thread, row["incident_id"], row["id"],
                                       result.posted, now)
        self.stats.count_delivery(outcome)
