"""What a pipeline step is, and what it may ask of the pipeline.

A step (an ingest step, an enricher or a detector) sees each report once, in order, with a per-report
`Context`, and may also have time-driven rules (`tick`, on the pipeline clock) and restart state
(`start`). It reaches the rest of the service only through `Services`: raise an alert, record a port
call, keep its own state across restarts, ask how long a source was down, look a vessel up. Nothing
else of the pipeline is in reach, so a stage can be built and tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ais_watch.alerts.model import AlertAmendment, AlertDraft
from ais_watch.model import Report

if TYPE_CHECKING:  # only for the annotations: the pipeline imports no detector
    from ais_watch.watchlist.entries import WatchEntry
    from ais_watch.watchlist.index import Match
    from ais_watch.zones import Zone

VesselRow = dict[str, Any]  # a `vessels` row as it stands (latest state and identity)
NO_VESSEL: VesselRow = {}  # ctx.vessel until the vessel-state step has run; never written to


class Services(Protocol):
    """What a stage may ask of the pipeline while it runs."""

    def raise_alert(self, draft: AlertDraft) -> None:
        """An alert to store (with its deliveries) once the current report or tick is processed."""

    def amend_alert(self, amendment: AlertAmendment) -> None:
        """More details for an alert raised earlier (by its dedup key), stored in order with the drafts."""

    def record_encounter(self, row: dict[str, Any]) -> None:
        """An encounter (`encounters` row) to store, upserted by pair and start, with the alerts."""

    def record_association(self, entry: WatchEntry) -> None:
        """An association (the partner of a watched ship in an encounter) to store in the watchlist
        table with the alerts (watchlist.store.save_associations: never over an imported entry)."""

    def record_port_call(self, row: dict[str, Any]) -> None:
        """A port call to store (upserted by vessel, port and arrival) with the next batch."""

    def save_state(self, detector: str, key: str, state: dict[str, Any] | None) -> None:
        """A detector's state to keep across restarts (None deletes it), stored in the same transaction
        as the alerts raised with it, so a restart never sees an alert without its state or the reverse."""

    def outage_overlap(self, source: str | None, start: datetime, end: datetime, *,
                       station: str | None = None, lat: float | None = None, lon: float | None = None
                       ) -> timedelta:
        """How much of [start, end] a vessel last heard on `source` (through `station`, or at lat/lon)
        could not have been heard: its feed, its station or its area was down, or the service was."""

    def area_reception(self, source: str | None, lat: float | None, lon: float | None
                       ) -> tuple[str, timedelta | None]:
        """How vessels in this area are heard ("terrestrial", "satellite", "unknown") and the
        upper-quartile gap between one vessel's reports there."""

    def vessel(self, mmsi: int) -> VesselRow | None:
        """The vessel's latest state, if it was ever heard."""

    def vessels(self) -> Iterable[VesselRow]:
        """Every known vessel's latest state (restart: where each vessel was)."""

    def now(self) -> datetime:
        """The pipeline clock."""


class StartServices(Services, Protocol):
    """What a stage may also ask for once, at start: its saved state and what the store knows."""

    live: bool  # the clock is the wall clock (serve), not event time (replay)
    resume_from: datetime | None  # the newest event the store had before this run

    async def load_state(self, detector: str) -> dict[str, dict[str, Any]]:
        """The detector's saved state, by key."""

    async def open_port_calls(self) -> list[dict[str, Any]]:
        """Port calls with no departure yet (`port_calls` rows)."""


class Context:
    """One report's way through the steps: what earlier steps worked out for the later ones."""

    __slots__ = ("anomaly", "changes", "dropped", "late", "segment", "services", "vessel", "watch", "zones")

    def __init__(self, services: Services) -> None:
        self.services = services
        self.vessel: VesselRow = NO_VESSEL  # by the vessel-state step
        self.late = False  # older than what the vessel already reported: history, not where it is now
        self.watch: Match | None = None  # the vessel's watchlist match, by the watchlist enricher
        self.zones: tuple[Zone, ...] = ()  # zones the position is in, by the zone enricher
        self.dropped = False  # a step decided the report goes no further (a duplicate, a false fix)
        self.segment: int | None = None  # the position's segment, by the segments step
        self.anomaly: str | None = None  # why the position is not believed (None: it is), likewise
        self.changes: dict[str, tuple[Any, Any]] = {}  # identity fields the static report changed: old, new


class Stage(Protocol):
    """A step of the pipeline. `fleet_wide` ticks run on the leader only when several instances share a
    database (went dark is judged once); the others (this instance's own feeds) run on every instance."""

    name: str
    fleet_wide: bool

    async def start(self, services: StartServices) -> None: ...

    def handle(self, report: Report, ctx: Context) -> None: ...

    def tick(self, now: datetime, services: Services) -> None: ...


class StageBase:
    """Defaults for the parts of `Stage` a step does not need."""

    name: str = "stage"
    fleet_wide: bool = True

    async def start(self, services: StartServices) -> None:
        return None

    def handle(self, report: Report, ctx: Context) -> None:
        return None

    def tick(self, now: datetime, services: Services) -> None:
        return None
