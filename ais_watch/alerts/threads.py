"""One thread per incident for a threaded notifier (Slack with a bot token): where the dispatcher sends
an alert of an incident, and the thread's parent message remembered once it is posted.

Per incident, notifier and channel (`thread_scope`), the first alert delivered is the parent; every later
one replies to it. An alert due before the parent is delivered (the parent's delivery is waiting for a
retry) waits for it, so a thread never starts with its second alert and a voyage is never split into two
threads by a passing Slack hiccup. If the parent's delivery fails for good, the next alert starts the
thread. Nothing here sends: the dispatcher does, and records the parent in the transaction that marks its
delivery delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.alerts.notifiers.base import ThreadRef
from ais_watch.store.schema import alerts, deliveries, incident_threads


@dataclass(frozen=True, slots=True)
class Wait:
    """Not yet: an earlier alert of the incident, the thread's parent to be, is still pending."""

    until: datetime


async def place(conn: AsyncConnection, notifier: str, scope: str, incident_id: int, alert_id: int,
                now: datetime) -> ThreadRef | Wait | None:
    """Where an alert of an incident goes: a reply to the thread's parent; Wait (until the earlier
    alert's next attempt); or None: it is the incident's first for this notifier and starts the thread."""
    parent = (await conn.execute(select(incident_threads.c.channel, incident_threads.c.ts).where(
        incident_threads.c.incident_id == incident_id, incident_threads.c.notifier == notifier,
        incident_threads.c.scope == scope))).first()
    if parent is not None:
        return ThreadRef(parent.channel, parent.ts)
    earlier: datetime | None = await conn.scalar(
        select(func.min(deliveries.c.next_attempt_at))
        .join(alerts, alerts.c.id == deliveries.c.alert_id)
        .where(deliveries.c.notifier == notifier, deliveries.c.state == "pending",
               alerts.c.incident_id == incident_id, alerts.c.id < alert_id))
    if earlier is not None:
        return Wait(max(earlier, now))
    return None


async def remember(conn: AsyncConnection, notifier: str, scope: str, incident_id: int, alert_id: int,
                   posted: ThreadRef, now: datetime) -> None:
    """The incident's parent message for this notifier and channel (the first one wins)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert(incident_threads).values(
        incident_id=incident_id, notifier=notifier, scope=scope, channel=posted.channel[:128],
        ts=posted.ts[:64], alert_id=alert_id, created_at=now).on_conflict_do_nothing())
