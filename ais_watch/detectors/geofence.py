"""Geofence stages: the zone enricher (which zones a position is in, with entry/exit hysteresis) and
the geofence detector (port calls of every vessel; port_call / port_departure / zone_entry / zone_exit
alerts for watchlisted ones).

Hysteresis, as Global Fishing Watch does for port visits (in at 3 km, out at 4 km): a vessel is in a
zone from its first fix inside the polygon until it is more than `exit_margin_km` outside it, so a ship
drifting on the boundary does not flap in and out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ais_watch.alerts.model import AlertDraft, Severity, iso
from ais_watch.detectors.port_calls import PortCallRules, PortEvent, Visit, on_position
from ais_watch.detectors.watch import watchlist_details
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline import Context, Pipeline
from ais_watch.store.schema import alerts, port_calls

log = logging.getLogger(__name__)
_CELL = 4  # grid cells of 1/4 degree: a position in a cell no zone reaches needs no geometry test


class ZoneEnricher:
    """ctx.zones = the zones the position is in (entry at the polygon, exit past the margin)."""

    name = "zones"

    def __init__(self, registry: Any, exit_margin_km: float = 1.0) -> None:
        self.registry = registry
        self.exit_margin_km = exit_margin_km
        self.inside: dict[int, tuple[Any, ...]] = {}  # only vessels in some zone have an entry
        self._index: Any = None
        self._cells: frozenset[tuple[int, int]] = frozenset()

    def _refresh(self) -> Any:
        index = self.registry.index
        if index is not self._index:
            self._index = index
            self._cells = _cells_near(index, self.exit_margin_km)
        return index

    def zones_for(self, mmsi: int, lat: float, lon: float) -> tuple[Any, ...]:
        index = self._refresh()
        previous = self.inside.get(mmsi, ())
        if not previous and (math.floor(lat * _CELL), math.floor(lon * _CELL)) not in self._cells:
            return ()
        now_in = index.zones_at(lat, lon)
        kept = tuple(
            z for z in previous if z not in now_in and index.distance_km(z, lat, lon) <= self.exit_margin_km
        )
        current = now_in + kept
        if current:
            self.inside[mmsi] = current
        else:
            self.inside.pop(mmsi, None)
        return current

    def handle(self, report: Report, vessel: dict[str, Any], ctx: Context) -> None:
        if isinstance(report, PositionReport) and not ctx.late:
            ctx.zones = self.zones_for(report.mmsi, report.lat, report.lon)
        else:
            ctx.zones = self.inside.get(report.mmsi, ())

    async def start(self, pipeline: Pipeline) -> None:
        """Where each vessel was when the service stopped: a restart is no entry into its zones."""
        for vessel in pipeline.vessels.values():
            if vessel["last_lat"] is not None:
                self.zones_for(vessel["mmsi"], vessel["last_lat"], vessel["last_lon"])


def _cells_near(index: Any, margin_km: float) -> frozenset[tuple[int, int]]:
    cells = set()
    pad = margin_km / 111.0 + 1.0 / _CELL
    for zone in index:
        min_lon, min_lat, max_lon, max_lat = zone.geometry.bounds
        for i in range(math.floor((min_lat - pad) * _CELL), math.floor((max_lat + pad) * _CELL) + 1):
            for j in range(math.floor((min_lon - pad) * _CELL), math.floor((max_lon + pad) * _CELL) + 1):
                cells.add((i, j))
    return frozenset(cells)


class GeofenceStage:
    """Port calls of every vessel (recorded); alerts for watchlisted vessels only."""

    name = "geofence"

    def __init__(self, rules: PortCallRules | None = None) -> None:
        self.rules = rules or PortCallRules()
        self.visits: dict[int, dict[str, Visit]] = {}  # mmsi -> port id -> visit (only vessels in port)
        self.in_zone: dict[int, dict[str, int]] = {}  # mmsi -> zone id -> consecutive fixes inside
        self.entered: dict[int, dict[str, Any]] = {}  # mmsi -> zone id -> entry time (alerted)

    def handle(self, report: Report, vessel: dict[str, Any], ctx: Context) -> None:
        if not isinstance(report, PositionReport) or ctx.late:
            return  # a fix older than the vessel's latest says nothing about arriving or leaving now
        ports = [z for z in ctx.zones if z.is_port]
        mmsi = report.mmsi
        visits = self.visits.get(mmsi)
        if ports or visits:
            if visits is None:
                visits = self.visits[mmsi] = {}
            for event in on_position(
                visits, report.time, report.lat, report.lon, report.sog, report.nav_status, ports, self.rules
            ):
                self._port_event(event, report, vessel, ctx)
            if not visits:
                del self.visits[mmsi]
        if ctx.watch is not None:
            self._zones(report, vessel, [z for z in ctx.zones if not z.is_port], ctx)

    # ---------------------------------------------------------------------------------- port calls
    def _port_event(
        self, event: PortEvent, report: PositionReport, vessel: dict[str, Any], ctx: Context
    ) -> None:
        visit = event.visit
        departure = event.at if event.kind == "departure" else None
        ctx.pipeline.record_port_call(
            {
                "mmsi": report.mmsi,
                "imo": vessel["imo"],
                "vessel_name": vessel["name"],
                "port_id": visit.port_id,
                "port_name": visit.port_name,
                "country": visit.country,
                "kind": visit.kind,
                "arrival": visit.arrival,
                "established_at": visit.established_at,
                "departure": departure,
                "duration_seconds": (departure - visit.arrival).total_seconds() if departure else None,
                "evidence": visit.evidence,
                "lat": visit.lat,
                "lon": visit.lon,
            }
        )
        match = ctx.watch
        if match is None:
            return
        details = {
            **watchlist_details(match),
            "port_id": visit.port_id,
            "country": visit.country,
            "port_kind": visit.kind,
            "arrival": iso(visit.arrival),
            "evidence": visit.evidence,
            "flag": vessel["flag"],
            "destination": vessel["destination"],
        }
        if event.kind == "call":
            kind, occurred = "port_call", visit.arrival
        else:
            kind, occurred = "port_departure", event.at
            details.update(
                departure=iso(event.at), duration_seconds=(event.at - visit.arrival).total_seconds()
            )
        ctx.pipeline.raise_alert(
            AlertDraft(
                kind=kind,
                occurred_at=occurred,
                event_key=iso(visit.arrival) or "",
                mmsi=report.mmsi,
                imo=vessel["imo"],
                vessel_name=vessel["name"],
                place=visit.port_name,
                lat=visit.lat if kind == "port_call" else report.lat,
                lon=visit.lon if kind == "port_call" else report.lon,
                severity=None if match.strong else Severity.LOW,
                details=details,
                tags=tuple(match.entry.tags),
                zones=(visit.port_id,),
            )
        )

    # ------------------------------------------------------------------------------ wider zones
    def _zones(
        self, report: PositionReport, vessel: dict[str, Any], zones: Sequence[Any], ctx: Context
    ) -> None:
        mmsi = report.mmsi
        counts = self.in_zone.setdefault(mmsi, {})
        entered = self.entered.setdefault(mmsi, {})
        here = {z.id: z for z in zones}
        match = ctx.watch
        for zone_id in list(counts):
            if zone_id not in here:
                del counts[zone_id]
                since = entered.pop(zone_id, None)
                if since is not None:
                    self._zone_alert("zone_exit", report, vessel, zone_id, since, match, ctx)
        for zone_id, zone in here.items():
            counts[zone_id] = counts.get(zone_id, 0) + 1
            # Two fixes inside make an entry: a single stray fix (a GPS jump) does not.
            if counts[zone_id] >= 2 and zone_id not in entered:
                entered[zone_id] = (report.time, zone.name)
                self._zone_alert("zone_entry", report, vessel, zone_id, entered[zone_id], match, ctx)
        if not counts:
            self.in_zone.pop(mmsi, None)
            self.entered.pop(mmsi, None)

    def _zone_alert(
        self,
        kind: str,
        report: PositionReport,
        vessel: dict[str, Any],
        zone_id: str,
        entry: tuple[Any, str],
        match: Any,
        ctx: Context,
    ) -> None:
        since, name = entry
        details = {
            **watchlist_details(match),
            "zone_id": zone_id,
            "entered_at": iso(since),
            "flag": vessel["flag"],
        }
        if kind == "zone_exit":
            details["duration_seconds"] = (report.time - since).total_seconds()
        ctx.pipeline.raise_alert(
            AlertDraft(
                kind=kind,
                occurred_at=report.time,
                event_key=iso(since) or "",
                mmsi=report.mmsi,
                imo=vessel["imo"],
                vessel_name=vessel["name"],
                place=name,
                lat=report.lat,
                lon=report.lon,
                severity=None if match.strong else Severity.LOW,
                details=details,
                tags=tuple(match.entry.tags),
                zones=(zone_id,),
            )
        )

    # ----------------------------------------------------------------------------------- restart
    async def start(self, pipeline: Pipeline) -> None:
        """Open port calls (no departure yet) and zone entries (no exit yet) carry on after a restart
        instead of starting anew."""
        async with pipeline.engine.connect() as conn:
            entries = await conn.execute(
                select(alerts.c.mmsi, alerts.c.kind, alerts.c.place, alerts.c.details)
                .where(alerts.c.kind.in_(("zone_entry", "zone_exit")))
                .order_by(alerts.c.occurred_at, alerts.c.id))
            for mmsi, kind, place, details in entries:
                zone_id, since = (details or {}).get("zone_id"), (details or {}).get("entered_at")
                if not zone_id or not since:
                    continue
                if kind == "zone_entry":
                    self.entered.setdefault(mmsi, {})[zone_id] = (datetime.fromisoformat(since), place)
                    self.in_zone.setdefault(mmsi, {})[zone_id] = 2
                else:
                    self.entered.get(mmsi, {}).pop(zone_id, None)
                    self.in_zone.get(mmsi, {}).pop(zone_id, None)
            rows = await conn.execute(select(port_calls).where(port_calls.c.departure.is_(None)))
            for row in rows.mappings():
                vessel = pipeline.vessels.get(row["mmsi"])
                last = vessel["last_seen"] if vessel is not None else None
                self.visits.setdefault(row["mmsi"], {})[row["port_id"]] = Visit(
                    row["port_id"],
                    row["port_name"],
                    row["country"],
                    row["kind"],
                    arrival=row["arrival"],
                    last_inside=last or row["established_at"],
                    stopped_since=row["arrival"],
                    stopped_at_last_fix=True,
                    established_at=row["established_at"],
                    evidence=row["evidence"],
                    lat=row["lat"],
                    lon=row["lon"],
                )
