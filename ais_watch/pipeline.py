"""The pipeline: one ordered path every report takes, from any source, live or replayed.

    dedup -> clock -> vessel state (per-vessel order, identity) -> stages (enrichers, detectors) -> batch

Sources call `await pipeline.submit(report)`. Processing is synchronous and cheap; the only wait is
handing a full batch to the store writer, whose bounded queue is where backpressure comes from.
Every time-driven rule reads `pipeline.clock`, never `datetime.now()`: wall time live, the event-time
watermark in a replay, so a replay gives exactly the results that living through it would have.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.detectors.feed_health import FeedHealth
from ais_watch.mid import flag_of
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport
from ais_watch.store.schema import TRACKED_IDENTITY_FIELDS, vessels
from ais_watch.store.writer import Batch, StoreWriter, is_transient

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...

    def observe(self, event_time: datetime) -> None: ...


class WallClock:
    """Live mode: time is the wall clock."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._source()

    def observe(self, event_time: datetime) -> None:
        pass


class DemoClock:
    """The demo (`serve` with no live feed): the wall clock sped up, demo time = start + (wall - wall at
    start) x speed. Every demo message is timed on it and every rule reads it, so a 30-minute port dwell
    and a 6-hour dark threshold keep their real lengths in demo time and pass `speed` times faster."""

    def __init__(self, speed: float, start: datetime | None = None,
                 wall: Callable[[], datetime] | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"demo clock speed must be positive, got {speed!r}")
        self.speed = speed
        self._wall = wall or (lambda: datetime.now(UTC))
        self._wall_start = self._wall()
        self.start = start or self._wall_start

    def now(self) -> datetime:
        return self.start + (self._wall() - self._wall_start) * self.speed

    def observe(self, event_time: datetime) -> None:
        pass

    def advance_to(self, when: datetime) -> None:
        """Jump ahead to `when` if it is later (a store a previous demo left ahead of the wall clock)."""
        if when > self.now():
            self.start, self._wall_start = when, self._wall()

    def wall_seconds_until(self, when: datetime) -> float:
        """Wall-clock seconds until demo time reaches `when` (negative once it has)."""
        return (when - self.now()).total_seconds() / self.speed


class ReplayClock:
    """Replay: time is the latest event time seen (the watermark); it never runs backwards."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start

    def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("replay clock read before any event")
        return self._now

    def observe(self, event_time: datetime) -> None:
        if self._now is None or event_time > self._now:
            self._now = event_time


class Deduplicator:
    """The same transmission heard by several receivers (or sources) passes once.

    NMEA: same MMSI and identical payload within `window`. JSON sources have no payload: same MMSI,
    message type, time and position. Memory is bounded by what arrives within one window.
    """

    def __init__(self, window: float, max_entries: int = 2_000_000) -> None:
        self.window = timedelta(seconds=window)
        self.max_entries = max_entries
        self._seen: dict[Hashable, datetime] = {}
        self._order: deque[tuple[datetime, Hashable]] = deque()
        self._watermark: datetime | None = None

    @staticmethod
    def key(report: Report) -> Hashable:
        if report.payload is not None:
            return (report.mmsi, report.payload)
        if isinstance(report, PositionReport):
            return (report.mmsi, report.msg_type, report.time, report.lat, report.lon)
        return (report.mmsi, report.msg_type, report.part, report.time)

    def is_duplicate(self, report: Report) -> bool:
        if not self.window:
            return False
        when = report.time
        if self._watermark is None or when > self._watermark:
            self._watermark = when
            horizon = when - self.window
            order, seen = self._order, self._seen
            while order and (order[0][0] < horizon or len(order) > self.max_entries):
                old_time, old_key = order.popleft()
                if seen.get(old_key) == old_time:
                    del seen[old_key]
        key = self.key(report)
        previous = self._seen.get(key)
        if previous is not None and abs(when - previous) <= self.window:
            return True
        self._seen[key] = when
        self._order.append((when, key))
        return False

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(slots=True)
class Context:
    """What the enrichers work out once per report and every later stage reads."""

    pipeline: Pipeline
    late: bool = False  # older than what the vessel already reported: history, not where it is now
    watch: Any = None  # the vessel's watchlist match (ais_watch.watchlist.Match), by the watchlist enricher
    zones: tuple[Any, ...] = ()  # zones the position is in, by the zone enricher


class Stage(Protocol):
    """A step after vessel state: an enricher or a detector, in order. Raises alerts with
    `ctx.pipeline.raise_alert(draft)`. May also have `tick(now, pipeline)` for time-driven rules,
    called on the pipeline clock (event time in a replay, a scheduler job live)."""

    name: str

    def handle(self, report: Report, vessel: dict[str, Any], ctx: Context) -> None: ...


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
    # Vessel rows (latest state) are rewritten at most this often: they are derivable from positions,
    # and upserting every busy vessel with every batch costs as much as the positions themselves.
    vessel_flush_interval: float = 5.0


class Pipeline:
    def __init__(self, engine: AsyncEngine, writer: StoreWriter, stats: IngestStats, clock: Clock,
                 options: PipelineOptions | None = None, stages: list[Stage] | None = None,
                 alerts: AlertStore | None = None) -> None:
        self.engine = engine
        self.alerts = alerts
        self._drafts: list[AlertDraft] = []  # raised by stages, stored after the report is processed
        self.writer = writer
        self.stats = stats
        self.clock = clock
        self.options = options or PipelineOptions()
        self.stages: list[Stage] = stages or []
        self.dedup = Deduplicator(self.options.dedup_window)
        self.feed_health = FeedHealth(timedelta(seconds=self.options.feed_outage_after))
        self._next_tick: datetime | None = None
        self.latest_event: datetime | None = None  # newest event time processed (pipeline lag)
        self._resume_from: datetime | None = None  # the last event the store knew before this run
        self.vessels: dict[int, dict[str, Any]] = {}  # mmsi -> the vessels row as it stands
        self.stage_errors: dict[str, int] = {}
        self._batch = Batch()
        self._batch_started = time.monotonic()
        self._dirty: dict[int, dict[str, Any]] = {}  # vessels changed since their rows were written
        self._vessels_flushed = time.monotonic()
        self._flusher: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    # ------------------------------------------------------------ life cycle
    async def start(self, *, periodic_flush: bool = True) -> None:
        """Load every vessel's state (restart-safe ordering and identity), start writing."""
        async with self.engine.connect() as conn:
            result = await conn.execute(select(vessels))
            for row in result.mappings():
                self.vessels[row["mmsi"]] = dict(row)
        log.info("pipeline started with %d known vessels", len(self.vessels))
        self._resume_from = max((v["last_seen"] for v in self.vessels.values() if v["last_seen"]),
                                default=None)
        if self._resume_from is not None and isinstance(self.clock, WallClock):
            # Live: from the last event stored before the stop until now, nothing was watching.
            self.feed_health.service_was_down(self._resume_from, self.clock.now())
        for stage in self.stages:
            start = getattr(stage, "start", None)
            if start is not None:
                await start(self)
        self.writer.start()
        if periodic_flush:
            self._flusher = asyncio.create_task(self._flush_periodically(), name="pipeline-flush")

    async def close(self) -> None:
        """Flush what is batched and wait until the store has it."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        if self._drafts:
            await self.store_alerts()
        await self.flush(force=True)
        await self.writer.close()

    async def _flush_periodically(self) -> None:
        interval = self.options.flush_interval
        while True:
            await asyncio.sleep(interval / 2)
            if (self._batch or self._dirty) and time.monotonic() - self._batch_started >= interval:
                await self.flush()

    async def flush(self, *, force: bool = False) -> None:
        async with self._flush_lock:
            batch, self._batch = self._batch, Batch()
            now = time.monotonic()
            self._batch_started = now
            if self._dirty and (force or batch.identity
                                or now - self._vessels_flushed >= self.options.vessel_flush_interval):
                # Snapshot the rows: the live dicts keep changing while the batch waits in the queue.
                batch.vessels = {mmsi: dict(row) for mmsi, row in self._dirty.items()}
                self._dirty = {}
                self._vessels_flushed = now
            if batch:
                await self.writer.submit(batch)

    # -------------------------------------------------------------- the path
    async def submit(self, report: Report) -> None:
        self.process(report)
        if self._drafts:
            await self.store_alerts()
        if len(self._batch.positions) >= self.options.batch_size:
            await self.flush()

    def record_port_call(self, row: dict[str, Any]) -> None:
        """For stages: a port call to store (upserted by vessel, port and arrival) with the next batch."""
        self._batch.port_calls[(row["mmsi"], row["port_id"], row["arrival"])] = row

    def raise_alert(self, draft: AlertDraft) -> None:
        """For stages: an alert to store (with its deliveries) once the current report is processed."""
        self._drafts.append(draft)

    async def store_alerts(self) -> None:
        """Store the drafts raised so far. If the database is down they stay queued for the next try."""
        if self.alerts is None:
            self._drafts.clear()
            return
        drafts, self._drafts = self._drafts, []
        try:
            await self.alerts.raise_alerts(drafts)
        except Exception as err:
            if is_transient(err):
                log.error("could not store %d alerts (%s); will retry", len(drafts), str(err).splitlines()[0])
                self._drafts[:0] = drafts
                return
            # One draft the database refuses must not block the others: store them one by one.
            for draft in drafts:
                try:
                    await self.alerts.raise_alerts([draft])
                except Exception as one:
                    if is_transient(one):
                        self._drafts.append(draft)
                    else:
                        self.stage_errors["alert_store"] = self.stage_errors.get("alert_store", 0) + 1
                        log.error("alert %s for %s refused by the database: %s", draft.kind, draft.mmsi,
                                  str(one).splitlines()[0])

    def process(self, report: Report) -> None:
        stats = self.stats
        if self.dedup.is_duplicate(report):
            stats.duplicates += 1
            return
        self.clock.observe(report.time)
        stats.processed += 1
        if self.latest_event is None or report.time > self.latest_event:
            self.latest_event = report.time
        if self.options.event_time_ticks:
            # Feed health first: a gap in this source must be known before the dark rules look at it.
            for draft in self.feed_health.observe(report.source, report.time):
                self.raise_alert(draft)
            if self._next_tick is None:
                if self._resume_from is not None:
                    # A replay resuming a store: the time between its last event and this replay's first
                    # was not watched, so it is nobody's silence.
                    self.feed_health.service_was_down(self._resume_from, report.time)
                self._next_tick = report.time + timedelta(seconds=self.options.tick_interval)
            elif report.time >= self._next_tick:
                self.tick(report.time)
                self._next_tick = report.time + timedelta(seconds=self.options.tick_interval)
        else:
            for draft in self.feed_health.observe(report.source, report.received_at):
                self.raise_alert(draft)
        vessel = self.vessels.get(report.mmsi)
        if vessel is None:
            vessel = self._new_vessel(report)
        late = self._position(report, vessel) if isinstance(report, PositionReport) else self._static(
            report, vessel)
        if not self.stages:
            return
        ctx = Context(self, late=late)
        for stage in self.stages:
            try:
                stage.handle(report, vessel, ctx)
            except Exception:  # one failing stage must not stop ingest
                self.stage_errors[stage.name] = self.stage_errors.get(stage.name, 0) + 1
                log.exception("stage %s failed on a report from %s", stage.name, report.mmsi)

    def tick(self, now: datetime, fleet: bool = True) -> None:
        """Run the time-driven rules at `now` (pipeline clock); their drafts are stored with the rest.

        This instance's own feeds are always judged here. The fleet-wide rules (the stages' ticks: went
        dark) only with `fleet`: of several instances, only the leader runs them."""
        for draft in self.feed_health.tick(now):
            self.raise_alert(draft)
        if not fleet:
            return
        for stage in self.stages:
            tick = getattr(stage, "tick", None)
            if tick is None:
                continue
            try:
                tick(now, self)
            except Exception:
                self.stage_errors[stage.name] = self.stage_errors.get(stage.name, 0) + 1
                log.exception("stage %s failed on a tick", stage.name)

    async def run_ticks(self, now: datetime | None = None, fleet: bool = True) -> None:
        """Live mode (a scheduler job): tick on the pipeline clock and store what it raised."""
        self.tick(now or self.clock.now(), fleet)
        await self.store_alerts()

    def _new_vessel(self, report: Report) -> dict[str, Any]:
        vessel: dict[str, Any] = {c.name: None for c in vessels.columns}
        vessel["mmsi"] = report.mmsi
        vessel["mmsi_valid"] = report.mmsi_valid
        vessel["flag"] = flag_of(report.mmsi)
        vessel["first_seen"] = report.time
        self.vessels[report.mmsi] = vessel
        self.stats.vessels.add(report.mmsi)
        return vessel

    def _position(self, report: PositionReport, vessel: dict[str, Any]) -> bool:
        """Store the fix and move the vessel's latest state; True when the fix is late (out of order)."""
        batch = self._batch
        nav_status = report.nav_status if report.nav_status is None or 0 <= report.nav_status <= 15 else None
        batch.positions.append((  # POSITION_COLUMNS order; text cut to what the columns hold
            report.mmsi, report.time, report.lat, report.lon, report.sog, report.cog, report.heading,
            nav_status, report.msg_type, report.source[:64], report.station and report.station[:64]))
        first = vessel["first_seen"]
        if first is None or report.time < first:
            vessel["first_seen"] = report.time
            self._dirty[report.mmsi] = vessel
        last = vessel["last_seen"]
        if last is not None and report.time <= last:
            # Stored as history, but the vessel's state does not move backwards.
            self.stats.out_of_order += 1
            return True
        vessel["last_seen"] = report.time
        vessel["last_lat"] = report.lat
        vessel["last_lon"] = report.lon
        vessel["last_sog"] = report.sog
        vessel["last_cog"] = report.cog
        vessel["last_heading"] = report.heading
        vessel["last_nav_status"] = nav_status
        vessel["last_source"] = report.source[:64]
        self._dirty[report.mmsi] = vessel
        return False

    def _static(self, report: StaticReport, vessel: dict[str, Any]) -> bool:
        """Fold the static data into the vessel's identity; True when the report is late."""
        updated = vessel["static_updated"]
        late = updated is not None and report.time < updated
        if late:
            # An older static message never undoes a newer identity; it may only fill what is still
            # unknown (a type 24 part B heard after its part A through another receiver).
            self.stats.out_of_order += 1
        batch = self._batch
        changed = False
        for name, value in report.identity_fields().items():
            value = _fit_identity(name, value)
            if value is None or vessel[name] == value or (late and vessel[name] is not None):
                continue
            if name in TRACKED_IDENTITY_FIELDS:
                batch.identity.append({
                    "mmsi": report.mmsi, "field": name,
                    "old_value": None if vessel[name] is None else str(vessel[name]),
                    "new_value": str(value), "time": report.time, "source": report.source[:64],
                })
            vessel[name] = value
            changed = True
        if not late:
            vessel["static_updated"] = report.time
        if changed or not late:
            self._dirty[report.mmsi] = vessel
        batch.statics += 1
        return late


# What each identity column holds (ITU-R M.1371 ranges; text as long as the column): a CSV or JSON
# source can carry anything, and one value a column refuses must not cost a whole batch.
_TEXT_LIMITS = {"name": 64, "call_sign": 16, "destination": 64}
_INT_RANGES = {"ship_type": (0, 255), "to_bow": (0, 511), "to_stern": (0, 511), "to_port": (0, 63),
               "to_starboard": (0, 63), "imo": (1_000_000, 9_999_999)}


def _fit_identity(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _TEXT_LIMITS:
        return str(value)[:_TEXT_LIMITS[name]] or None
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]
        return value if low <= value <= high else None
    if name == "draught":
        return value if 0 < value < 100 else None
    return value
