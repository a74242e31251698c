"""Incidents as rows, on a connection inside someone else's transaction: an alert's incident assigned in
the alert's own transaction (the rule is ais_watch/alerts/incident_rules.py), and an incident's state
following its alerts'. The alert store calls these; ais_watch/alerts/incidents.py is what people do with
incidents (acknowledge, notes, owner)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.alerts.incident_rules import (
    OWN,
    SILENCE,
    Candidate,
    choose,
    merged_subjects,
    subject_label,
    subjects_of,
)
from ais_watch.store.schema import alerts, incident_subjects, incidents


def lock_key(subject: str) -> int:
    """A PostgreSQL advisory lock key for a subject (a signed 64-bit number)."""
    return int.from_bytes(hashlib.blake2b(f"incident|{subject}".encode(), digest_size=8).digest(),
                          "big", signed=True)


async def assign(conn: AsyncConnection, row: dict[str, Any], window: timedelta, now: datetime) -> int:
    """Put a just-stored alert (its row) into its incident, opening one when none takes it; returns the
    incident id, also written to the alert row. On PostgreSQL the alert's subjects are locked for the
    transaction first, so two instances storing alerts of one ship at once cannot open two incidents."""
    subjects = subjects_of(row["mmsi"], row["imo"], row["place"], row["kind"], row["details"])
    if conn.dialect.name == "postgresql":
        for subject in sorted(subjects.own):  # one order everywhere: no deadlock between two instances
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(subject)})
    at: datetime = row["occurred_at"]
    # Only those the rule could choose (a ship's years of incidents are not read for each alert); the
    # rule itself decides among them.
    found = (await conn.execute(
        select(incidents.c.id, incidents.c.state, incidents.c.opened_at, incidents.c.last_alert_at,
               incidents.c.last_kind, incident_subjects.c.subject, incident_subjects.c.role)
        .join(incident_subjects, incident_subjects.c.incident_id == incidents.c.id)
        .where(incident_subjects.c.subject.in_(subjects.own), incidents.c.state != "closed",
               incidents.c.opened_at <= at + window,
               or_(incidents.c.last_alert_at >= at - window, incidents.c.last_kind == SILENCE)))).all()
    by_id: dict[int, Candidate] = {}
    has: dict[int, set[str]] = {}  # which of the alert's own subjects each candidate has
    for r in found:
        seen = by_id.get(r.id)
        by_id[r.id] = Candidate(r.id, r.state, r.opened_at, r.last_alert_at, r.last_kind,
                                r.role == OWN or (seen is not None and seen.own))
        has.setdefault(r.id, set()).add(r.subject)
    chosen = choose(by_id.values(), at, window)
    if chosen is None:
        incident_id = await _open(conn, row, now)
        new_subjects = merged_subjects([], subjects)
    else:
        incident_id = chosen.id
        await _join(conn, chosen, row, now)
        new_subjects = merged_subjects(sorted(has[incident_id]), subjects, joined_as_partner=not chosen.own)
    if new_subjects:  # a partner it may have already: the first role it was given stays
        insert_new = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        await conn.execute(insert_new(incident_subjects).on_conflict_do_nothing(), [
            {"incident_id": incident_id, "subject": subject, "role": role} for subject, role in new_subjects])
    await conn.execute(update(alerts).where(alerts.c.id == row["id"]).values(incident_id=incident_id))
    return incident_id


async def _open(conn: AsyncConnection, row: dict[str, Any], now: datetime) -> int:
    subject = subjects_of(row["mmsi"], row["imo"], row["place"], row["kind"], row["details"]).own[0]
    title = subject_label(row["mmsi"], row["imo"], row["vessel_name"], row["place"], row["kind"])
    result = await conn.execute(insert(incidents).values(
        subject=subject, mmsi=row["mmsi"], imo=row["imo"], vessel_name=row["vessel_name"], title=title[:200],
        kind=row["kind"], last_kind=row["kind"], severity=row["severity"], alert_count=1, state="open",
        opened_at=row["occurred_at"], last_alert_at=row["occurred_at"], created_at=now, updated_at=now,
    ).returning(incidents.c.id))
    return int(result.scalar_one())


async def _join(conn: AsyncConnection, incident: Candidate, row: dict[str, Any], now: datetime) -> None:
    at: datetime = row["occurred_at"]
    values: dict[str, Any] = {
        "alert_count": incidents.c.alert_count + 1,
        "severity": func.greatest(incidents.c.severity, row["severity"]) if conn.dialect.name == "postgresql"
        else func.max(incidents.c.severity, row["severity"]),
        "updated_at": now,
        # A vessel first known by one identifier: the others fill in as they are heard.
        "mmsi": func.coalesce(incidents.c.mmsi, row["mmsi"]),
        "imo": func.coalesce(incidents.c.imo, row["imo"]),
        "vessel_name": func.coalesce(incidents.c.vessel_name, row["vessel_name"]),
    }
    if at >= incident.last_alert_at:
        values.update(last_alert_at=at, last_kind=row["kind"])
    if at < incident.opened_at:
        values["opened_at"] = at
    if incident.state == "acknowledged":  # something new to look at: open again, the owner stays
        values.update(state="open", acknowledged_by=None, acknowledged_at=None)
    await conn.execute(update(incidents).where(incidents.c.id == incident.id).values(**values))


async def settle(conn: AsyncConnection, incident_id: int, by: str, now: datetime) -> bool:
    """After one of its alerts was acknowledged or resolved on its own: an open incident none of whose
    alerts is open any more is acknowledged (by whoever saw the last). True when it changed."""
    still_open = await conn.scalar(select(alerts.c.id).where(
        alerts.c.incident_id == incident_id, alerts.c.state == "open").limit(1))
    if still_open is not None:
        return False
    result = await conn.execute(update(incidents).where(and_(
        incidents.c.id == incident_id, incidents.c.state == "open")).values(
        state="acknowledged", acknowledged_by=by[:64], acknowledged_at=now, updated_at=now))
    return bool(result.rowcount)
