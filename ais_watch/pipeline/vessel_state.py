"""The vessel-state step: per-vessel order and identity, and the batch of rows to write.

A position older than the vessel's latest is stored as history but never moves its latest state
backwards; an older static message never undoes a newer identity. Changed vessel rows and identity
changes travel to the store with the positions, in batches.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.mid import flag_of
from ais_watch.model import IngestStats, PositionReport, Report, StaticReport
from ais_watch.pipeline.stage import Context, StageBase, VesselRow
from ais_watch.store.schema import TRACKED_IDENTITY_FIELDS, vessels
from ais_watch.store.writer import Batch

log = logging.getLogger(__name__)
_NO_VESSEL_ROW: VesselRow = {c.name: None for c in vessels.columns}  # a new vessel's row, copied


class VesselState(StageBase):
    name = "vessel state"

    def __init__(self, stats: IngestStats, vessel_flush_interval: float = 5.0) -> None:
        self.stats = stats
        self.vessels: dict[int, VesselRow] = {}  # mmsi -> the vessels row as it stands
        self.batch = Batch()
        # Vessel rows (latest state) are rewritten at most this often: they are derivable from positions,
        # and upserting every busy vessel with every batch costs as much as the positions themselves.
        self.vessel_flush_interval = vessel_flush_interval
        self._dirty: dict[int, VesselRow] = {}  # vessels changed since their rows were written
        self._vessels_flushed = time.monotonic()

    async def load(self, engine: AsyncEngine) -> None:
        """Every vessel's state from the store: restart-safe ordering and identity."""
        async with engine.connect() as conn:
            result = await conn.execute(select(vessels))
            for row in result.mappings():
                self.vessels[row["mmsi"]] = dict(row)
        log.info("pipeline started with %d known vessels", len(self.vessels))

    def take_batch(self, *, force: bool = False) -> Batch:
        """The batch so far (a new one starts), with the changed vessel rows when they are due."""
        batch, self.batch = self.batch, Batch()
        now = time.monotonic()
        due = now - self._vessels_flushed >= self.vessel_flush_interval
        if self._dirty and (force or batch.identity or due):
            # Snapshot the rows: the live dicts keep changing while the batch waits in the queue.
            batch.vessels = {mmsi: dict(row) for mmsi, row in self._dirty.items()}
            self._dirty = {}
            self._vessels_flushed = now
        return batch

    @property
    def has_pending(self) -> bool:
        return bool(self.batch or self._dirty)

    def handle(self, report: Report, ctx: Context) -> None:
        vessel = self.vessels.get(report.mmsi)
        if vessel is None:
            vessel = self._new_vessel(report)
        ctx.vessel = vessel
        ctx.late = (self._position(report, vessel, ctx) if isinstance(report, PositionReport)
                    else self._static(report, vessel, ctx))

    def _new_vessel(self, report: Report) -> VesselRow:
        vessel: VesselRow = dict(_NO_VESSEL_ROW)
        vessel["mmsi"] = report.mmsi
        vessel["mmsi_valid"] = report.mmsi_valid
        vessel["flag"] = flag_of(report.mmsi)
        vessel["first_seen"] = report.time
        self.vessels[report.mmsi] = vessel
        self.stats.vessels.add(report.mmsi)
        return vessel

    def _position(self, report: PositionReport, vessel: VesselRow, ctx: Context) -> bool:
        """Store the fix and move the vessel's latest state; True when the fix is late (out of order) or
        not believed (off the vessel's main segment: stored with its mark, but not where the ship is)."""
        nav_status = report.nav_status if report.nav_status is None or 0 <= report.nav_status <= 15 else None
        self.batch.positions.append((  # POSITION_COLUMNS order; text cut to what the columns hold
            report.mmsi, report.time, report.lat, report.lon, report.sog, report.cog, report.heading,
            nav_status, report.msg_type, report.source[:64], report.station and report.station[:64],
            ctx.segment, ctx.anomaly))
        first = vessel["first_seen"]
        if first is None or report.time < first:
            vessel["first_seen"] = report.time
            self._dirty[report.mmsi] = vessel
        if ctx.anomaly is not None:
            return True
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
        vessel["segment"] = ctx.segment
        self._dirty[report.mmsi] = vessel
        return False

    def _static(self, report: StaticReport, vessel: VesselRow, ctx: Context) -> bool:
        """Fold the static data into the vessel's identity; True when the report is late."""
        updated = vessel["static_updated"]
        late = updated is not None and report.time < updated
        if late:
            # An older static message never undoes a newer identity; it may only fill what is still
            # unknown (a type 24 part B heard after its part A through another receiver).
            self.stats.out_of_order += 1
        batch = self.batch
        changed = False
        for name, value in report.identity_fields().items():
            value = _fit_identity(name, value)
            if value is None or vessel[name] == value or (late and vessel[name] is not None):
                continue
            if not late and vessel[name] is not None:
                ctx.changes[name] = (vessel[name], value)
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
