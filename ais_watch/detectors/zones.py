"""Zone stages: the zone enricher (which zones a position is in, with entry/exit hysteresis) and the
zone alerts of watchlisted vessels (zone_entry / zone_exit for zones that are not ports; ports are
port_calls.py's).

Hysteresis, as Global Fishing Watch does for port visits (in at 3 km, out at 4 km): a vessel is in a
zone from its first fix inside the polygon until it is more than `exit_margin_km` outside it, so a ship
drifting on the boundary does not flap in and out.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ais_watch.alerts.model import AlertDraft, iso
from ais_watch.detectors.watchlist_match import alert_severity, watchlist_details
from ais_watch.geo import Places
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, StageBase, StartServices, VesselRow
from ais_watch.zones import Zone, ZoneIndex, ZoneRegistry

if TYPE_CHECKING:
    from ais_watch.watchlist.index import Match

log = logging.getLogger(__name__)
DETECTOR = "zones"
_CELL = 4  # grid cells of 1/4 degree: a position in a cell no zone reaches needs no geometry test


class ZoneEnricher(StageBase):
    """ctx.zones = the zones the position is in (entry at the polygon, exit past the margin)."""

    name = "zones"

    def __init__(self, registry: ZoneRegistry, exit_margin_km: float = 1.0) -> None:
        self.registry = registry
        self.exit_margin_km = exit_margin_km
        self.inside: dict[int, tuple[Zone, ...]] = {}  # only vessels in some zone have an entry
        self._index: ZoneIndex | None = None
        self._cells: frozenset[tuple[int, int]] = frozenset()

    def _refresh(self) -> ZoneIndex:
        index = self.registry.index
        if index is not self._index:
            self._index = index
            self._cells = _cells_near(index, self.exit_margin_km)
        return index

    def zones_for(self, mmsi: int, lat: float, lon: float) -> tuple[Zone, ...]:
        # Most positions are far from every zone and not in one: answered by two lookups, with no call
        # (this runs for every position of a replay).
        index = self.registry.index
        if index is not self._index:
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

    def handle(self, report: Report, ctx: Context) -> None:
        if isinstance(report, PositionReport) and not ctx.late:
            ctx.zones = self.zones_for(report.mmsi, report.lat, report.lon)
        else:
            ctx.zones = self.inside.get(report.mmsi, ())

    async def start(self, services: StartServices) -> None:
        """Where each vessel was when the service stopped: a restart is no entry into its zones."""
        for vessel in services.vessels():
            if vessel["last_lat"] is not None:
                self.zones_for(vessel["mmsi"], vessel["last_lat"], vessel["last_lon"])


def _cells_near(index: ZoneIndex, margin_km: float) -> frozenset[tuple[int, int]]:
    cells = set()
    pad = margin_km / 111.0 + 1.0 / _CELL
    for zone in index:
        min_lon, min_lat, max_lon, max_lat = zone.geometry.bounds
        for i in range(math.floor((min_lat - pad) * _CELL), math.floor((max_lat + pad) * _CELL) + 1):
            for j in range(math.floor((min_lon - pad) * _CELL), math.floor((max_lon + pad) * _CELL) + 1):
                cells.add((i, j))
    return frozenset(cells)




class ZoneAlerts(StageBase):
    """zone_entry / zone_exit of watchlisted vessels, for zones that are not ports. Open entries are kept
    in `detector_state` (detector "zones", key "<mmsi>:<zone id>"), so a restart carries them on."""

    name = "zone alerts"

    def __init__(self, places: Places | None = None) -> None:
        # A zone is the alert's place (the same zone entered twice is one cooldown); where in it the vessel
        # is, "at sea, 9 nm SE of Chongjin", goes in details.where: a territorial sea is 300 nm long.
        self.places = places or Places()
        self.in_zone: dict[int, dict[str, int]] = {}  # mmsi -> zone id -> consecutive fixes inside
        self.entered: dict[int, dict[str, tuple[datetime, str]]] = {}  # mmsi -> zone id -> (entry, name)

    def handle(self, report: Report, ctx: Context) -> None:
        if not isinstance(report, PositionReport) or ctx.late or ctx.watch is None:
            return  # a fix older than the vessel's latest says nothing about entering or leaving now
        mmsi = report.mmsi
        counts = self.in_zone.setdefault(mmsi, {})
        entered = self.entered.setdefault(mmsi, {})
        here = {z.id: z for z in ctx.zones if not z.is_port}
        for zone_id in list(counts):
            if zone_id not in here:
                del counts[zone_id]
                since = entered.pop(zone_id, None)
                if since is not None:
                    self._alert("zone_exit", report, ctx, zone_id, since)
        for zone_id, zone in here.items():
            counts[zone_id] = counts.get(zone_id, 0) + 1
            # Two fixes inside make an entry: a single stray fix (a GPS jump) does not.
            if counts[zone_id] >= 2 and zone_id not in entered:
                entered[zone_id] = (report.time, zone.name)
                self._alert("zone_entry", report, ctx, zone_id, entered[zone_id])
        if not counts:
            self.in_zone.pop(mmsi, None)
            self.entered.pop(mmsi, None)

    def _alert(self, kind: str, report: PositionReport, ctx: Context, zone_id: str,
               entry: tuple[datetime, str]) -> None:
        since, name = entry
        match: Match | None = ctx.watch
        assert match is not None
        vessel: VesselRow = ctx.vessel
        details: dict[str, Any] = {
            **watchlist_details(match),
            "zone_id": zone_id,
            "entered_at": iso(since),
            "flag": vessel["flag"],
            "where": self.places.name(report.lat, report.lon),
        }
        if kind == "zone_exit":
            details["duration_seconds"] = (report.time - since).total_seconds()
        ctx.services.raise_alert(
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
                severity=alert_severity(match, kind),
                details=details,
                tags=tuple(match.entry.tags),
                zones=(zone_id,),
            )
        )
        key = f"{report.mmsi}:{zone_id}"
        ctx.services.save_state(DETECTOR, key, {"entered_at": iso(since), "zone_name": name}
                                if kind == "zone_entry" else None)

    async def start(self, services: StartServices) -> None:
        """Zone entries with no exit yet carry on after a restart instead of starting anew."""
        for key, state in (await services.load_state(DETECTOR)).items():
            mmsi, _, zone_id = key.partition(":")
            self.entered.setdefault(int(mmsi), {})[zone_id] = (datetime.fromisoformat(state["entered_at"]),
                                                               state["zone_name"])
            self.in_zone.setdefault(int(mmsi), {})[zone_id] = 2
