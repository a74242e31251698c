"""Alert drafts, kinds, severities and the alert JSON object (the contract in docs/architecture.md).
No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from ais_watch.model import iso as iso  # re-exported: alerts.model.iso is how most modules import it

# The kinds other tools rely on (docs/architecture.md): these names never change; more may be added.
KINDS = ("port_call", "port_departure", "zone_entry", "zone_exit", "went_dark", "reappeared",
         "possible_dark_port_call", "feed_outage", "feed_restored", "reception_loss", "reception_restored",
         "identity_change", "position_anomaly", "draught_change", "gnss_interference", "encounter",
         "loitering")
STATES = ("open", "acknowledged", "resolved")


class Severity(IntEnum):
    INFO = 10
    LOW = 20
    MEDIUM = 30
    HIGH = 40
    CRITICAL = 50

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError as err:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; one of {names}") from err

    def label(self) -> str:
        return self.name.lower()

    def one_lower(self) -> Severity:
        """critical -> high -> medium -> low; low (and info) stay as they are."""
        if self <= Severity.LOW:
            return self
        levels = list(Severity)
        return levels[levels.index(self) - 1]


# What a kind is worth for a watchlisted vessel with a strong (IMO or MMSI) match. A detector may lower
# it (a name-only match is a candidate, never an identity) or raise it (a watchlist entry's own level).
DEFAULT_SEVERITY: dict[str, Severity] = {
    "port_call": Severity.HIGH,
    "port_departure": Severity.MEDIUM,
    "zone_entry": Severity.MEDIUM,
    "zone_exit": Severity.LOW,
    "went_dark": Severity.HIGH,
    "reappeared": Severity.MEDIUM,
    "possible_dark_port_call": Severity.CRITICAL,
    "feed_outage": Severity.MEDIUM,
    "feed_restored": Severity.INFO,
    "reception_loss": Severity.MEDIUM,
    "reception_restored": Severity.INFO,
    "identity_change": Severity.HIGH,
    "position_anomaly": Severity.MEDIUM,
    "draught_change": Severity.MEDIUM,  # HIGH across a dark silence: loaded or unloaded while dark
    "gnss_interference": Severity.MEDIUM,
    "encounter": Severity.HIGH,
    "loitering": Severity.MEDIUM,
}


@dataclass(slots=True)
class AlertDraft:
    """What a detector hands over. `event_key` tells one real event from another of the same kind,
    vessel and place (e.g. the arrival time of a port call): with them it makes the alert's dedup key."""

    kind: str
    occurred_at: datetime  # event time
    event_key: str
    mmsi: int | None = None
    imo: int | None = None
    vessel_name: str | None = None
    place: str | None = None
    lat: float | None = None
    lon: float | None = None
    severity: Severity | None = None  # None: the kind's default
    details: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # watchlist tags, for notifier routing
    zones: tuple[str, ...] = ()  # zone ids the event concerns, for notifier routing

    def dedup_key(self) -> str:
        return f"{self.cooldown_key()}|{self.event_key[:120]}"

    def cooldown_key(self) -> str:
        # Place cut as the alerts column cuts it (128): a long place can never push the event out of
        # the dedup key, which stays within its 300-character column.
        subject = f"{self.mmsi}" if self.mmsi is not None else f"imo{self.imo}" if self.imo else "-"
        return f"{self.kind}|{subject}|{(self.place or '-')[:128]}"


@dataclass(slots=True)
class AlertAmendment:
    """More details for an alert already raised (a draught reported after the reappearance it belongs
    to): merged into its `details` by dedup key, in the transaction of the drafts raised with it."""

    dedup_key: str
    details: dict[str, Any]


def alert_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The alert object of docs/architecture.md, the same in the CLI, the API and webhook bodies."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "severity": Severity(row["severity"]).label(),
        "mmsi": row["mmsi"],
        "imo": row["imo"],
        "vessel_name": row["vessel_name"],
        "place": row["place"],
        "occurred_at": iso(row["occurred_at"]),
        "raised_at": iso(row["raised_at"]),
        "lat": row["lat"],
        "lon": row["lon"],
        "state": row["state"],
        "details": row["details"] or {},
        # Added with incidents (an addition to the contract: the fields above are unchanged). Null only
        # for an alert stored before incidents existed.
        "incident_id": row.get("incident_id"),
    }
