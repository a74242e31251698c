"""What people do with incidents: list and read them, acknowledge (every alert in it with it), close
(resolving its alerts), reopen, assign an owner, write notes. The grouping rule and the states are in
ais_watch/alerts/incident_rules.py; incidents are made by the alert store as alerts are stored.

Each alert an incident change touches is announced like any alert change (this process's listeners: the
live dashboard feed; other instances through NOTIFY); the changed incident goes to the alert store's
incident listeners (the live feed's "incident" messages, this process's clients)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.alerts.incident_rules import STATES
from ais_watch.alerts.model import Severity, iso
from ais_watch.alerts.store import AlertError, AlertStore
from ais_watch.audit import Actor, record
from ais_watch.store.schema import alerts, incident_notes, incident_subjects, incidents
from ais_watch.store.write_gate import write_gate

NOTE_MAX = 4000  # characters of one note
OWNER_MAX = 64
# The states an incident may be put in, and from which.
ALLOWED_FROM = {"acknowledged": ("open", "acknowledged"), "closed": ("open", "acknowledged"),
                "open": ("acknowledged", "closed")}


class IncidentError(AlertError):
    """An incident operation refused: unknown id, a state change that makes no sense, bad input."""


def incident_json(row: Mapping[str, Any], notes: Sequence[Mapping[str, Any]] = (),
                  subjects: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The incident object of the API and the CLI (README, Incidents)."""
    return {
        "id": row["id"],
        "state": row["state"],
        "title": row["title"],
        "mmsi": row["mmsi"],
        "imo": row["imo"],
        "vessel_name": row["vessel_name"],
        "kind": row["kind"],
        "last_kind": row["last_kind"],
        "severity": Severity(row["severity"]).label(),
        "alert_count": row["alert_count"],
        "owner": row["owner"],
        "opened_at": iso(row["opened_at"]),
        "last_alert_at": iso(row["last_alert_at"]),
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": iso(row["acknowledged_at"]),
        "closed_by": row["closed_by"],
        "closed_at": iso(row["closed_at"]),
        "partners": [int(s["subject"].split(":", 1)[1]) for s in subjects
                     if s["role"] == "partner" and s["subject"].startswith("mmsi:")],
        "notes": [{"id": n["id"], "author": n["author"], "at": iso(n["at"]), "text": n["text"]}
                  for n in notes],
    }


class IncidentStore:
    def __init__(self, alert_store: AlertStore) -> None:
        self.alerts = alert_store
        self.engine = alert_store.engine

    def _now(self) -> datetime:
        return self.alerts.wall_time()

    # --------------------------------------------------------------------------------------- read
    async def query(self, *, state: str | None = None, mmsi: int | None = None, since: datetime | None = None,
                    until: datetime | None = None, ids: Sequence[int] | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        """Incident objects, newest first (by their latest alert). `since`: a latest alert at or after it;
        `until`: a first alert at or before it."""
        if state is not None and state not in STATES:
            raise IncidentError(f"unknown state {state!r}; one of {', '.join(STATES)}")
        query = select(incidents)
        if state is not None:
            query = query.where(incidents.c.state == state)
        if mmsi is not None:
            query = query.where(incidents.c.id.in_(select(incident_subjects.c.incident_id).where(
                incident_subjects.c.subject == f"mmsi:{mmsi}")))
        if since is not None:
            query = query.where(incidents.c.last_alert_at >= since)
        if until is not None:
            query = query.where(incidents.c.opened_at <= until)
        if ids is not None:
            query = query.where(incidents.c.id.in_(list(ids)))
        query = query.order_by(incidents.c.last_alert_at.desc(), incidents.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
            return await self._with_notes(conn, rows)

    async def _with_notes(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [r["id"] for r in rows]
        notes: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        subjects: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
            for n in (await conn.execute(select(incident_notes).where(incident_notes.c.incident_id.in_(chunk))
                                         .order_by(incident_notes.c.at, incident_notes.c.id))).mappings():
                notes[n["incident_id"]].append(dict(n))
            for s in (await conn.execute(select(incident_subjects).where(
                    incident_subjects.c.incident_id.in_(chunk)).order_by(incident_subjects.c.subject))).mappings():
                subjects[s["incident_id"]].append(dict(s))
        return [incident_json(r, notes[r["id"]], subjects[r["id"]]) for r in rows]

    async def get(self, incident_id: int) -> dict[str, Any]:
        """One incident object (with its notes)."""
        found = await self.query(ids=[incident_id])
        if not found:
            raise IncidentError(f"no incident with id {incident_id}")
        return found[0]

    async def alert_rows(self, incident_id: int) -> list[dict[str, Any]]:
        """Its alerts' rows, oldest first (event time)."""
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(
                select(alerts).where(alerts.c.incident_id == incident_id)
                .order_by(alerts.c.occurred_at, alerts.c.id))).mappings()]

    # ---------------------------------------------------------------------------------- change
    async def acknowledge(self, incident_id: int, by: str, note: str | None = None, *,
                          actor: Actor | None = None) -> dict[str, Any]:
        """The incident and every open alert in it acknowledged (by, when, the note on each); the note is
        also the incident's."""
        return await self.update(incident_id, by, state="acknowledged", note=note, actor=actor)

    async def add_note(self, incident_id: int, author: str, text: str, *,
                       actor: Actor | None = None) -> dict[str, Any]:
        return await self.update(incident_id, author, note=text, actor=actor)

    async def update(self, incident_id: int, by: str, *, state: str | None = None,
                     owner: str | None = None, set_owner: bool = False, note: str | None = None,
                     actor: Actor | None = None) -> dict[str, Any]:
        """One change, in one transaction: a new state (acknowledged, closed or open again), the owner
        (`set_owner`; None clears it), a note. Returns the incident object."""
        if state is not None and state not in STATES:
            raise IncidentError(f"unknown state {state!r}; one of {', '.join(STATES)}")
        if owner is not None and (not owner.strip() or len(owner.strip()) > OWNER_MAX):
            raise IncidentError(f"owner: 1 to {OWNER_MAX} characters (null to clear)")
        if note is not None and len(note) > NOTE_MAX:
            raise IncidentError(f"note: at most {NOTE_MAX} characters")
        note = note.strip() if note is not None and note.strip() else None
        by = (by or "unknown")[:64]
        now = self._now()
        changed: list[int] = []
        async with write_gate(self.engine).turn(urgent=True), self.engine.begin() as conn:
            found = (await conn.execute(select(incidents.c.state, incidents.c.owner)
                                        .where(incidents.c.id == incident_id))).first()
            if found is None:
                raise IncidentError(f"no incident with id {incident_id}")
            current, owner_before = found
            values: dict[str, Any] = {"updated_at": now}
            if state is not None:
                if current not in ALLOWED_FROM[state]:
                    raise IncidentError(f"incident {incident_id} is {current}; it cannot become {state}")
                values.update(self._state_values(state, by, now))
                changed = await self._carry_to_alerts(conn, incident_id, state, by, now, note)
            if set_owner:
                values["owner"] = owner.strip() if owner is not None else None
            await conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
            if note is not None:
                await conn.execute(insert(incident_notes).values(incident_id=incident_id, author=by, at=now,
                                                                 text=note))
            if actor is not None:
                change: dict[str, Any] = {"state": [current, state]} if state is not None else {}
                if set_owner:
                    change["owner"] = [owner_before, values["owner"]]
                await record(conn, actor, "incident.update", f"incident {incident_id}",
                             {**change, "note": note, "alerts": changed}, datetime.now(UTC))
            for alert_id in changed:
                await self.alerts.announce(conn, alert_id)
        for alert_id in changed:
            self.alerts.notify_listeners(await self.alerts.get(alert_id))
        result = await self.get(incident_id)
        self.alerts.notify_incident_listeners(result)
        return result

    @staticmethod
    def _state_values(state: str, by: str, now: datetime) -> dict[str, Any]:
        if state == "acknowledged":
            return {"state": state, "acknowledged_by": by, "acknowledged_at": now}
        if state == "closed":
            return {"state": state, "closed_by": by, "closed_at": now}
        return {"state": state, "closed_by": None, "closed_at": None}  # open again

    @staticmethod
    async def _carry_to_alerts(conn: AsyncConnection, incident_id: int, state: str, by: str, now: datetime,
                               note: str | None) -> list[int]:
        """Acknowledging an incident acknowledges its open alerts; closing it resolves those not resolved
        yet. Opening it again leaves its alerts as they are. Returns the alerts changed."""
        from_states: tuple[str, ...]
        if state == "acknowledged":
            from_states, values = ("open",), {"state": "acknowledged", "acknowledged_by": by,
                                              "acknowledged_at": now, "ack_note": note}
        elif state == "closed":
            from_states, values = ("open", "acknowledged"), {"state": "resolved", "resolved_by": by,
                                                             "resolved_at": now, "resolve_note": note}
        else:
            return []
        ids = list((await conn.execute(select(alerts.c.id).where(
            alerts.c.incident_id == incident_id, alerts.c.state.in_(from_states))
            .order_by(alerts.c.id))).scalars())
        if ids:
            await conn.execute(update(alerts).where(alerts.c.id.in_(ids)).values(**values))
        return ids
