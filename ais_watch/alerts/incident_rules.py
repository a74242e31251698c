"""Which incident an alert belongs to: the grouping rule, pure (no I/O), the store applies it
(ais_watch/alerts/incident_records.py) in the alert's own transaction.

An incident is about a subject: a vessel, known by its MMSI and its IMO ("mmsi:273111111",
"imo:9179842"), or, for an alert about no vessel (a feed, a station, an area), its place
("place:aisstream"). An encounter adds its partner to the incident as a partner subject.

The rule, for an alert of event time t:
- Candidates are the incidents, not closed, that have one of the alert's own subjects (its MMSI, its IMO,
  or its place when it names no vessel).
- A candidate takes the alert if t lies within `window` of it: from `window` before its first alert to
  `window` after its latest (both in event time, so a replay gives the same incidents as living through
  it). A silence does not break a voyage: an incident whose latest alert is `went_dark` takes the
  vessel's next alert however long the silence lasted (reappeared, possible_dark_port_call, the draught
  changed while dark), because the story is not over until the ship is heard again.
- Of several, the one that has the subject as its own vessel wins over one that has it only as an
  encounter partner (a watched partner's voyage stays its own); then the latest last alert, then the
  newest incident.
- No candidate takes it: the alert opens a new incident.
So a ship that enters a zone, calls at Rajin, leaves, goes dark, reappears and is a possible dark port
call, each within two days of the last, is one incident; the same ship a week later is another.

States: `open` (something in it needs a look), `acknowledged` (someone has seen every alert in it),
`closed` (done with: its alerts are resolved and no new alert joins it; the next starts a new incident).
An alert joining an acknowledged incident reopens it: the watch officer who acknowledged "went dark"
must see "possible dark port call" arrive, and the owner stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

STATES = ("open", "acknowledged", "closed")
OWN, PARTNER = "own", "partner"
SUBJECT_MAX = 160  # incident_subjects.subject
# The kind after which a vessel's next alert joins whatever the gap: its silence is part of the story.
SILENCE = "went_dark"


@dataclass(frozen=True, slots=True)
class Subjects:
    """Whom an alert is about: its own subjects (the first is the incident's, should it open one) and
    the partners it brings into its incident."""

    own: tuple[str, ...]
    partners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the rule needs to know of an incident that has one of an alert's subjects."""

    id: int
    state: str
    opened_at: datetime
    last_alert_at: datetime
    last_kind: str
    own: bool  # has the subject as its own vessel (or place), not only as an encounter partner


def subjects_of(mmsi: int | None, imo: int | None, place: str | None, kind: str,
                details: Mapping[str, Any] | None) -> Subjects:
    """The subjects of an alert. Vessel-less alerts are grouped by their place (a feed's outage and its
    restoration, a station's loss and its return), or by their kind when they name no place."""
    own: list[str] = []
    if mmsi is not None:
        own.append(f"mmsi:{mmsi}")
    if imo:
        own.append(f"imo:{imo}")
    if not own:
        own.append(f"place:{place}"[:SUBJECT_MAX] if place else f"kind:{kind}")
    partners: list[str] = []
    partner = (details or {}).get("partner") if kind == "encounter" else None
    if isinstance(partner, Mapping):
        partner_mmsi = partner.get("mmsi")
        if isinstance(partner_mmsi, int) and not isinstance(partner_mmsi, bool) and partner_mmsi != mmsi:
            partners.append(f"mmsi:{partner_mmsi}")
    return Subjects(tuple(own), tuple(partners))


def takes(incident: Candidate, at: datetime, window: timedelta) -> bool:
    """Whether the incident takes an alert of event time `at` (the rule in the module docstring)."""
    if incident.state == "closed":
        return False
    if incident.opened_at - window <= at <= incident.last_alert_at + window:
        return True
    return incident.last_kind == SILENCE and at >= incident.last_alert_at


def choose(candidates: Iterable[Candidate], at: datetime, window: timedelta) -> Candidate | None:
    """The incident an alert of event time `at` joins, or None when it opens a new one."""
    taking = [c for c in candidates if takes(c, at, window)]
    if not taking:
        return None
    return max(taking, key=lambda c: (c.own, c.last_alert_at, c.id))


def subject_label(mmsi: int | None, imo: int | None, vessel_name: str | None, place: str | None,
                  kind: str) -> str:
    """An incident's title: the vessel's name (else MMSI, else IMO), or the place of a vessel-less one."""
    name = (vessel_name or "").strip()
    if name:
        return name
    if mmsi is not None:
        return f"MMSI {mmsi}"
    if imo:
        return f"IMO {imo}"
    return (place or "").strip() or kind.replace("_", " ")


def merged_subjects(current: Sequence[str], new: Subjects, *, joined_as_partner: bool = False
                    ) -> list[tuple[str, str]]:
    """The (subject, role) pairs of `new` an incident with `current` subjects does not have yet. An alert
    that joined only as an encounter partner's brings its subjects in as partners too: a watched
    partner's IMO must not make someone else's incident its own."""
    have = set(current)
    own_role = PARTNER if joined_as_partner else OWN
    out: list[tuple[str, str]] = []
    for subject, role in [*((s, own_role) for s in new.own), *((s, PARTNER) for s in new.partners)]:
        if subject not in have:
            have.add(subject)
            out.append((subject, role))
    return out
