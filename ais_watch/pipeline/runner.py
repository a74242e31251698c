"""The pipeline runner: every report through the steps in order, alerts stored, batches handed to the store.

Which steps, in which order, is decided in one place, `ais_watch/steps.py`. Sources call
`await pipeline.submit(report)`. Processing is synchronous and cheap; the only wait is handing a full
batch to the store writer, whose bounded queue is where backpressure comes from. Every time-driven rule
reads the pipeline clock, never `datetime.now()`: wall time live, the event-time watermark in a replay,
so a replay gives exactly the results that living through it would have.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.alerts.model import AlertAmendment, AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.clock import Clock, WallClock
from ais_watch.model import IngestStats, Report
from ais_watch.pipeline.feed_health import FeedHealthStep
from ais_watch.pipeline.ingest import EventClock
from ais_watch.pipeline.reception import Reception, ReceptionOptions, not_heard
from ais_watch.pipeline.stage import Context, Stage, VesselRow
from ais_watch.pipeline.vessel_state import VesselState
from ais_watch.store import detector_state
from ais_watch.store import encounters as encounter_store
from ais_watch.store.detector_state import StateChanges, open_port_calls
from ais_watch.store.writer import StoreWriter, is_transient
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.store import save_associations

log = logging.getLogger(__name__)

# submit_many lets the event loop run this often (reports). The store writer goes through several
# round trips to the database thread per batch (begin, insert, upsert, commit), each resumed only when
# the loop runs: yielding once a chunk (thousands of reports) left the writer a round trip behind per
# chunk, its queue full and ingest waiting on it for a quarter of a replay (issue 17's profile).
_YIELD_EVERY = 200


@dataclass(slots=True)
class PipelineOptions:
    batch_size: int = 2000
    flush_interval: float = 1.0
    dedup_window: float = 60.0
    # Replay: time-driven rules run every tick_interval of event time, inside the pipeline. Live: a
    # scheduler job calls run_ticks on wall time, and event_time_ticks is off.
    event_time_ticks: bool = False
    tick_interval: float = 60.0
    feed_outage_after: float = 600.0
    # Vessel rows (latest state) are rewritten at most this often (see VesselState).
    vessel_flush_interval: float = 5.0
    reception: ReceptionOptions | None = None  # None: stations and areas are not judged


class Pipeline:
    """Runs `steps` in order; `vessel_state`, `event_clock` and `outages` are the steps among them that
    the pipeline itself reads (batches, lag, the stages' outage overlap)."""

    def __init__(self, steps: Sequence[Stage], *, engine: AsyncEngine, writer: StoreWriter,
                 stats: IngestStats, clock: Clock, options: PipelineOptions, vessel_state: VesselState,
                 event_clock: EventClock, outages: FeedHealthStep, reception: Reception | None = None,
                 alerts: AlertStore | None = None) -> None:
        self.steps = list(steps)
        # Each step's bound handle(), looked up once: process() runs them for every report.
        self._handlers = tuple((step.name, step.handle) for step in self.steps)
        self.engine = engine
        self.writer = writer
        self.stats = stats
        self.clock = clock
        self.options = options
        self.alerts = alerts
        self.vessel_state = vessel_state
        self.event_clock = event_clock
        self.outages = outages
        self.reception = reception
        self.services = _Services(self)
        self.stage_errors: dict[str, int] = {}
        # Raised (or amended) by stages, stored after the report is processed.
        self._drafts: list[AlertDraft | AlertAmendment] = []
        self._state: StateChanges = {}  # detector state, saved with the alerts raised with it
        self._encounters: dict[tuple[Any, ...], dict[str, Any]] = {}  # likewise
        self._associations: dict[str, WatchEntry] = {}  # likewise, by watchlist key
        self._port_calls: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._batch_started = time.monotonic()
        self._flusher: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    @property
    def vessels(self) -> dict[int, VesselRow]:
        return self.vessel_state.vessels

    @property
    def _pending(self) -> bool:
        """Whether stages raised anything that store_alerts has yet to store."""
        return bool(self._drafts or self._state or self._encounters or self._associations)

    @property
    def latest_event(self) -> datetime | None:
        return self.event_clock.latest_event

    # ------------------------------------------------------------ life cycle
    async def start(self, *, periodic_flush: bool = True) -> None:
        """Load every vessel's state, let each step pick up where it stopped, start writing."""
        await self.vessel_state.load(self.engine)
        resume_from = max((v["last_seen"] for v in self.vessels.values() if v["last_seen"]), default=None)
        starting = _StartServices(self, resume_from)
        for step in self.steps:
            await step.start(starting)
        self.writer.start()
        if periodic_flush:
            self._flusher = asyncio.create_task(self._flush_periodically(), name="pipeline-flush")

    async def close(self) -> None:
        """Flush what is batched and wait until the store has it."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        if self._pending:
            await self.store_alerts()
        await self.flush(force=True)
        await self.writer.close()

    async def _flush_periodically(self) -> None:
        interval = self.options.flush_interval
        while True:
            await asyncio.sleep(interval / 2)
            if ((self.vessel_state.has_pending or self._port_calls)
                    and time.monotonic() - self._batch_started >= interval):
                await self.flush()

    async def flush(self, *, force: bool = False) -> None:
        async with self._flush_lock:
            batch = self.vessel_state.take_batch(force=force)
            batch.port_calls, self._port_calls = self._port_calls, {}
            self._batch_started = time.monotonic()
            if batch:
                await self.writer.submit(batch)

    # -------------------------------------------------------------- the path
    async def submit(self, report: Report) -> None:
        self.process(report)
        if self._pending:
            await self.store_alerts()
        if len(self.vessel_state.batch.positions) >= self.options.batch_size:
            await self.flush()

    async def submit_many(self, reports: list[Report]) -> None:
        """`submit` of each report in order, in one loop: a replay's chunk of thousands costs one
        coroutine, not one each. Alerts are stored and full batches flushed after the same report as
        `submit` would, so the stored rows and alerts are the same."""
        process = self.process
        batch_size = self.options.batch_size
        vessel_state = self.vessel_state
        for i, report in enumerate(reports, 1):
            process(report)
            if self._drafts or self._state or self._encounters or self._associations:
                await self.store_alerts()
            if len(vessel_state.batch.positions) >= batch_size:
                await self.flush()
            if not i % _YIELD_EVERY:
                await asyncio.sleep(0)

    def process(self, report: Report) -> None:
        ctx = Context(self.services)
        for name, handle in self._handlers:
            try:
                handle(report, ctx)
            except Exception:  # one failing step must not stop ingest
                self.stage_errors[name] = self.stage_errors.get(name, 0) + 1
                log.exception("stage %s failed on a report from %s", name, report.mmsi)
            if ctx.dropped:
                return

    def tick(self, now: datetime, fleet: bool = True) -> None:
        """Run the time-driven rules at `now` (pipeline clock); their drafts are stored with the rest.

        This instance's own feeds are always judged here. The fleet-wide rules (went dark) only with
        `fleet`: of several instances, only the leader runs them."""
        for step in self.steps:
            if not fleet and step.fleet_wide:
                continue
            try:
                step.tick(now, self.services)
            except Exception:
                self.stage_errors[step.name] = self.stage_errors.get(step.name, 0) + 1
                log.exception("stage %s failed on a tick", step.name)

    async def run_ticks(self, now: datetime | None = None, fleet: bool = True) -> None:
        """Live mode (a scheduler job): tick on the pipeline clock and store what it raised."""
        self.tick(now or self.clock.now(), fleet)
        await self.store_alerts()

    # ---------------------------------------------------------- alerts and detector state
    async def store_alerts(self) -> None:
        """Store the drafts raised so far, with the detector state saved alongside them, in one
        transaction. If the database is down they stay queued for the next try."""
        if self.alerts is None:
            self._drafts.clear()
            self._state.clear()
            self._encounters.clear()
            self._associations.clear()
            return
        drafts, self._drafts = self._drafts, []
        state, self._state = self._state, {}
        met, self._encounters = self._encounters, {}
        associated, self._associations = self._associations, {}

        async def save_state(conn: AsyncConnection) -> None:
            await detector_state.save(conn, state)
            await encounter_store.save(conn, met.values())
            await save_associations(conn, associated.values())

        with_state = save_state if state or met or associated else None
        try:
            # Shielded: a stop (serve's, or a task's cancel) while the alerts are being written lets their
            # transaction finish, rather than leave it open on a connection that still holds SQLite's write
            # lock (the store writer's last batch then waited out close_timeout and was lost).
            await asyncio.shield(self.alerts.raise_alerts(drafts, with_state=with_state))
        except Exception as err:
            if is_transient(err):
                log.error("could not store %d alerts (%s); will retry", len(drafts), str(err).splitlines()[0])
                self._drafts[:0] = drafts
                self._state = {**state, **self._state}
                self._encounters = {**met, **self._encounters}
                self._associations = {**associated, **self._associations}
                return
            # One draft the database refuses must not block the others: store them one by one.
            await self._store_one_by_one(drafts, state, met, associated)

    async def _store_one_by_one(self, drafts: list[AlertDraft | AlertAmendment],
                                state: StateChanges, met: dict[tuple[Any, ...], dict[str, Any]],
                                associated: dict[str, WatchEntry]) -> None:
        assert self.alerts is not None
        for draft in drafts:
            try:
                await self.alerts.raise_alerts([draft])
            except Exception as one:
                if is_transient(one):
                    self._drafts.append(draft)
                else:
                    what = (f"alert {draft.kind} for {draft.mmsi}" if isinstance(draft, AlertDraft)
                            else f"amendment of {draft.dedup_key}")
                    self._count_refused(what, one)
        if not state and not met and not associated:
            return
        try:
            async with self.engine.begin() as conn:
                await detector_state.save(conn, state)
                await encounter_store.save(conn, met.values())
                await save_associations(conn, associated.values())
        except Exception as err:
            if is_transient(err):
                self._state = {**state, **self._state}
                self._encounters = {**met, **self._encounters}
                self._associations = {**associated, **self._associations}
            else:
                self._count_refused("detector state, encounters and associations", err)

    def _count_refused(self, what: str, err: Exception) -> None:
        self.stage_errors["alert_store"] = self.stage_errors.get("alert_store", 0) + 1
        log.error("%s refused by the database: %s", what, str(err).splitlines()[0])


class _Services:
    """`Services` for the stages: the few things of the pipeline they may use."""

    __slots__ = ("_pipeline",)

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def raise_alert(self, draft: AlertDraft) -> None:
        self._pipeline._drafts.append(draft)

    def amend_alert(self, amendment: AlertAmendment) -> None:
        self._pipeline._drafts.append(amendment)

    def record_encounter(self, row: dict[str, Any]) -> None:
        self._pipeline._encounters[(row["mmsi_a"], row["mmsi_b"], row["start"])] = row

    def record_association(self, entry: WatchEntry) -> None:
        self._pipeline._associations[entry.key] = entry

    def record_port_call(self, row: dict[str, Any]) -> None:
        self._pipeline._port_calls[(row["mmsi"], row["port_id"], row["arrival"])] = row

    def save_state(self, detector: str, key: str, state: dict[str, Any] | None) -> None:
        self._pipeline._state[(detector, key)] = state

    def outage_overlap(self, source: str | None, start: datetime, end: datetime, *,
                       station: str | None = None, lat: float | None = None, lon: float | None = None
                       ) -> timedelta:
        pipeline = self._pipeline
        return not_heard(pipeline.outages.health, pipeline.reception, source, start, end, station=station,
                         lat=lat, lon=lon)

    def area_reception(self, source: str | None, lat: float | None, lon: float | None
                       ) -> tuple[str, timedelta | None]:
        reception = self._pipeline.reception
        return reception.area_reception(source, lat, lon) if reception is not None else ("unknown", None)

    def vessel(self, mmsi: int) -> VesselRow | None:
        return self._pipeline.vessels.get(mmsi)

    def vessels(self) -> Iterable[VesselRow]:
        return self._pipeline.vessels.values()

    def now(self) -> datetime:
        return self._pipeline.clock.now()


class _StartServices(_Services):
    """`StartServices`: also the saved state and what the store knows, once, at start."""

    __slots__ = ("live", "resume_from")

    def __init__(self, pipeline: Pipeline, resume_from: datetime | None) -> None:
        super().__init__(pipeline)
        self.live = isinstance(pipeline.clock, WallClock)
        self.resume_from = resume_from

    async def load_state(self, detector: str) -> dict[str, dict[str, Any]]:
        async with self._pipeline.engine.connect() as conn:
            return await detector_state.load(conn, detector)

    async def open_port_calls(self) -> list[dict[str, Any]]:
        async with self._pipeline.engine.connect() as conn:
            return await open_port_calls(conn)
