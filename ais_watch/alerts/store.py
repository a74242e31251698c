"""Alert store and lifecycle. An alert and its pending deliveries are committed in one transaction (the
transactional outbox): whatever happens to Slack or the network afterwards, the alert is not lost.

De-duplication has two layers:
- the dedup key (kind, vessel, place, event): one alert per real event, however often it is raised
  (a replay run twice, two instances, a detector re-evaluating after a restart);
- a cooldown per kind, vessel and place, on event time: a ship drifting on a zone boundary raises one
  zone_entry, not one every few minutes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import ReturningInsert

from ais_watch.alerts import incident_records
from ais_watch.alerts.model import DEFAULT_SEVERITY, KINDS, STATES, AlertAmendment, AlertDraft
from ais_watch.alerts.notifiers.base import Notifier
from ais_watch.audit import Actor, record
from ais_watch.errors import AisWatchError
from ais_watch.store.schema import alerts, deliveries, delivery_attempts
from ais_watch.store.write_gate import write_gate

log = logging.getLogger(__name__)
# PostgreSQL channel on which every new or changed alert is announced, for the other instances'
# dashboards and dispatcher (ais_watch.alerts.events). Payload: "<alert id> <origin>".
CHANNEL = "ais_watch_alerts"


class AlertError(AisWatchError):
    """An alert operation refused: unknown id, a state change that makes no sense."""


@dataclass(slots=True)
class AlertStats:
    raised: dict[str, int] = field(default_factory=dict)  # by kind
    duplicates: int = 0
    cooled_down: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # by outcome: delivered, retried, failed

    def count_delivery(self, outcome: str) -> None:
        self.deliveries[outcome] = self.deliveries.get(outcome, 0) + 1


def _insert_ignoring_duplicates(dialect: str) -> ReturningInsert[*tuple[Any, ...]]:
    stmt = postgresql.insert(alerts) if dialect == "postgresql" else sqlite.insert(alerts)
    return stmt.on_conflict_do_nothing(index_elements=[alerts.c.dedup_key]).returning(alerts)


class Handoff(Protocol):
    """A dispatcher running in this process that takes new deliveries straight from the transaction that
    made them (Dispatcher.take): no query, no separate claim on the alert's path."""

    def lease(self) -> float:
        """Seconds a delivery handed over is claimed for (left alone by other dispatchers)."""
        ...

    def take(self, rows: list[dict[str, Any]]) -> None:
        """Deliveries of committed alerts, claimed, each with its alert's row."""
        ...


class AlertStore:
    def __init__(self, engine: AsyncEngine, notifiers: Sequence[Notifier] = (), *, cooldown: float = 1800.0,
                 incident_window: float = 172800.0,
                 wall_clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.notifiers = list(notifiers)
        self.cooldown = timedelta(seconds=cooldown)
        self.incident_window = timedelta(seconds=incident_window)  # ais_watch/alerts/incident_rules.py
        self.stats = AlertStats()
        self._now = wall_clock or (lambda: datetime.now(UTC))
        self._insert = _insert_ignoring_duplicates(engine.dialect.name)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._incident_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.origin = uuid.uuid4().hex  # marks this process's own announcements, which it skips
        # Set by a started dispatcher (Dispatcher.start), cleared when it stops: new deliveries are then
        # made claimed by it and handed over after the commit.
        self.handoff: Handoff | None = None

    def wall_time(self) -> datetime:
        """Wall time as this store reads it (a test gives its own clock)."""
        return self._now()

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Called with each new or changed alert row (the dispatcher's wake-up, the live API feed)."""
        self._listeners.append(listener)

    def notify_listeners(self, row: dict[str, Any]) -> None:
        """Tell this process's listeners of a new or changed alert (also of another instance's)."""
        for listener in self._listeners:
            try:
                listener(row)
            except Exception:  # a broken listener must not undo a stored alert
                log.exception("alert listener failed")

    def subscribe_incidents(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Called with each incident object people change (ais_watch/alerts/incidents.py): the live feed."""
        self._incident_listeners.append(listener)

    def notify_incident_listeners(self, incident: dict[str, Any]) -> None:
        for listener in self._incident_listeners:
            try:
                listener(incident)
            except Exception:  # a broken listener must not undo a stored change
                log.exception("incident listener failed")

    async def announce(self, conn: AsyncConnection, alert_id: int) -> None:
        """NOTIFY in the alert's own transaction: the other instances hear of it when, and only if, it
        commits."""
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                               {"channel": CHANNEL, "payload": f"{alert_id} {self.origin}"})

    # --------------------------------------------------------------------------------------- raise
    async def raise_alerts(
        self, drafts: Sequence[AlertDraft | AlertAmendment], *,
        with_state: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> list[dict[str, Any]]:
        """Store each draft that is a new event outside its cooldown, with its deliveries, and apply each
        amendment to the alert it names, in order, in one transaction (with `with_state`: the detectors'
        state saved in it too). Returns the stored alert rows (duplicates and cooled-down drafts are
        counted); amended rows go to the listeners (the live feed) but raise no new delivery."""
        stored: list[dict[str, Any]] = []
        amended: list[dict[str, Any]] = []
        handoff = self.handoff
        handed: list[dict[str, Any]] = []
        # Urgent: on SQLite, ahead of the position slices waiting for the write lock (store/write_gate.py).
        async with write_gate(self.engine).turn(urgent=True), self.engine.begin() as conn:
            for draft in drafts:
                if isinstance(draft, AlertAmendment):
                    changed = await self._amend(conn, draft)
                    if changed is not None:
                        amended.append(changed)
                    continue
                row = await self._raise_one(conn, draft, handoff, handed)
                if row is not None:
                    stored.append(row)
            if with_state is not None:
                await with_state(conn)
        if handoff is not None and handed:
            handoff.take(handed)
        for row in stored:
            self.stats.raised[row["kind"]] = self.stats.raised.get(row["kind"], 0) + 1
            place = row["place"] or "-"
            where = place if place.startswith(("at sea", "on land")) else f"at {place}"  # no "at at sea"
            log.info("alert %s %s: %s %s %s", row["id"], row["kind"], row["mmsi"] or "",
                     row["vessel_name"] or "", where)
            self.notify_listeners(row)
        for row in amended:
            self.notify_listeners(row)
        return stored

    async def _amend(self, conn: AsyncConnection, amendment: AlertAmendment) -> dict[str, Any] | None:
        row = (await conn.execute(select(alerts).where(alerts.c.dedup_key == amendment.dedup_key))
               ).mappings().first()
        if row is None:
            return None  # cooled down or never stored: nothing to add to
        details = {**(row["details"] or {}), **amendment.details}
        await conn.execute(update(alerts).where(alerts.c.id == row["id"]).values(details=details))
        await self.announce(conn, row["id"])
        return {**row, "details": details}

    async def _raise_one(self, conn: AsyncConnection, draft: AlertDraft, handoff: Handoff | None = None,
                         handed: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        if draft.kind not in KINDS:
            raise AlertError(f"unknown alert kind {draft.kind!r}")
        if self.cooldown:
            recent = await conn.scalar(
                select(alerts.c.id).where(and_(
                    alerts.c.cooldown_key == draft.cooldown_key(),
                    alerts.c.occurred_at > draft.occurred_at - self.cooldown,
                    alerts.c.occurred_at <= draft.occurred_at + self.cooldown,
                    alerts.c.dedup_key != draft.dedup_key())).limit(1))
            if recent is not None:
                self.stats.cooled_down += 1
                return None
        severity = draft.severity if draft.severity is not None else DEFAULT_SEVERITY[draft.kind]
        values = {  # text cut to what the columns hold: a hostile 200-character name stays an alert
            "dedup_key": draft.dedup_key(), "cooldown_key": draft.cooldown_key(), "kind": draft.kind,
            "severity": int(severity), "mmsi": draft.mmsi, "imo": draft.imo,
            "vessel_name": draft.vessel_name and draft.vessel_name[:64],
            "place": draft.place and draft.place[:128], "occurred_at": draft.occurred_at,
            "raised_at": self._now(),
            "lat": draft.lat, "lon": draft.lon, "state": "open", "details": draft.details,
            "tags": list(draft.tags), "zones": list(draft.zones),
        }
        inserted = (await conn.execute(self._insert, values)).mappings().first()
        if inserted is None:
            self.stats.duplicates += 1
            return None
        row = dict(inserted)
        await self.announce(conn, row["id"])
        now = self._now()
        row["incident_id"] = await incident_records.assign(conn, row, self.incident_window, now)
        targets = [n for n in self.notifiers
                   if n.filter.matches(draft.kind, severity, draft.tags, draft.zones)]
        if targets:
            # Handed to this process's dispatcher: made claimed (due after its lease, so no other
            # dispatcher takes it), due `now` again if the dispatcher stops before sending it.
            due = now + timedelta(seconds=handoff.lease()) if handoff is not None else now
            made = (await conn.execute(insert(deliveries).returning(deliveries), [{
                "alert_id": row["id"], "notifier": n.name, "idempotency_key": uuid.uuid4().hex,
                "state": "pending", "attempts": 0, "created_at": now, "next_attempt_at": due,
            } for n in targets])).mappings().all()
            if handoff is not None and handed is not None:
                handed += [{**row, "delivery_id": d["id"], "notifier": d["notifier"], "attempts": 0,
                            "delivery_created_at": now, "idempotency_key": d["idempotency_key"],
                            "next_attempt_at": now} for d in made]
        return row

    # ----------------------------------------------------------------------------------- lifecycle
    async def get(self, alert_id: int) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).mappings().first()
        if row is None:
            raise AlertError(f"no alert with id {alert_id}")
        return dict(row)

    async def acknowledge(self, alert_id: int, by: str, note: str | None = None, *,
                          actor: Actor | None = None) -> dict[str, Any]:
        """Acknowledged by `by`; with an `actor` (a person through the API or the CLI) also audited."""
        return await self._transition(alert_id, "acknowledged", {"acknowledged_by": by[:64],
                                                                 "acknowledged_at": self._now(),
                                                                 "ack_note": note}, actor)

    async def resolve(self, alert_id: int, by: str, note: str | None = None, *,
                      actor: Actor | None = None) -> dict[str, Any]:
        return await self._transition(alert_id, "resolved", {"resolved_by": by[:64],
                                                             "resolved_at": self._now(),
                                                             "resolve_note": note}, actor)

    async def _transition(self, alert_id: int, state: str, values: dict[str, Any],
                          actor: Actor | None) -> dict[str, Any]:
        allowed_from = {"acknowledged": ("open", "acknowledged"), "resolved": ("open", "acknowledged")}[state]
        async with write_gate(self.engine).turn(urgent=True), self.engine.begin() as conn:
            current = await conn.scalar(select(alerts.c.state).where(alerts.c.id == alert_id))
            if current is None:
                raise AlertError(f"no alert with id {alert_id}")
            if current not in allowed_from:
                raise AlertError(f"alert {alert_id} is {current}; it cannot become {state}")
            await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(state=state, **values))
            if actor is not None:
                note = values.get("ack_note") or values.get("resolve_note")
                await record(conn, actor, "alert.ack" if state == "acknowledged" else "alert.resolve",
                             f"alert {alert_id}", {"from": current, "to": state, "note": note},
                             datetime.now(UTC))  # when it was done, whatever clock the service runs on
            await self.announce(conn, alert_id)
            incident_id = await conn.scalar(select(alerts.c.incident_id).where(alerts.c.id == alert_id))
            if incident_id is not None:
                by = values.get("acknowledged_by") or values.get("resolved_by") or ""
                when = values.get("acknowledged_at") or values.get("resolved_at") or self._now()
                await incident_records.settle(conn, incident_id, by, when)
        row = await self.get(alert_id)
        self.notify_listeners(row)
        return row

    # --------------------------------------------------------------------------------------- query
    async def deliveries(self, *, alert_id: int | None = None, state: str | None = None
                         ) -> list[dict[str, Any]]:
        """Deliveries (optionally of one alert, or in one state), each with its `attempt_log`."""
        query = select(deliveries).order_by(deliveries.c.id)
        if alert_id is not None:
            query = query.where(deliveries.c.alert_id == alert_id)
        if state is not None:
            query = query.where(deliveries.c.state == state)
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
            for row in rows:
                row["attempt_log"] = [dict(a) for a in (await conn.execute(
                    select(delivery_attempts).where(delivery_attempts.c.delivery_id == row["id"])
                    .order_by(delivery_attempts.c.attempt))).mappings()]
        return rows

    async def query(self, *, kind: str | None = None, mmsis: Sequence[int] | None = None,
                    imo: int | None = None, since: datetime | None = None, until: datetime | None = None,
                    state: str | None = None, limit: int | None = None,
                    newest_first: bool = False) -> list[dict[str, Any]]:
        if kind is not None and kind not in KINDS:
            raise AlertError(f"unknown alert kind {kind!r}; one of {', '.join(KINDS)}")
        if state is not None and state not in STATES:
            raise AlertError(f"unknown state {state!r}; one of {', '.join(STATES)}")
        query = select(alerts)
        if kind is not None:
            query = query.where(alerts.c.kind == kind)
        if mmsis is not None and imo is not None:
            query = query.where((alerts.c.mmsi.in_(mmsis)) | (alerts.c.imo == imo))
        elif mmsis is not None:
            query = query.where(alerts.c.mmsi.in_(mmsis))
        elif imo is not None:
            query = query.where(alerts.c.imo == imo)
        if since is not None:
            query = query.where(alerts.c.occurred_at >= since)
        if until is not None:
            query = query.where(alerts.c.occurred_at <= until)
        if state is not None:
            query = query.where(alerts.c.state == state)
        order = (alerts.c.occurred_at.desc(), alerts.c.id.desc()) if newest_first else (
            alerts.c.occurred_at, alerts.c.id)
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]
