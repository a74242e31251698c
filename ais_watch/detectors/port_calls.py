"""The port-call stage: port calls of every vessel, recorded in `port_calls`; port_call and
port_departure alerts for watchlisted ones. The rules are port_call_rules.py's (pure)."""

from __future__ import annotations

from typing import Any

from ais_watch.alerts.model import AlertDraft, iso
from ais_watch.detectors.port_call_rules import PortCallRules, PortEvent, Visit, on_position
from ais_watch.detectors.watchlist_match import alert_severity, watchlist_details
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, StageBase, StartServices


class PortCallStage(StageBase):
    name = "port calls"

    def __init__(self, rules: PortCallRules | None = None) -> None:
        self.rules = rules or PortCallRules()
        self.visits: dict[int, dict[str, Visit]] = {}  # mmsi -> port id -> visit (only vessels in port)

    def handle(self, report: Report, ctx: Context) -> None:
        if not isinstance(report, PositionReport) or ctx.late:
            return  # a fix older than the vessel's latest says nothing about arriving or leaving now
        ports = [z for z in ctx.zones if z.is_port]
        mmsi = report.mmsi
        visits = self.visits.get(mmsi)
        if not ports and not visits:
            return
        if visits is None:
            visits = self.visits[mmsi] = {}
        for event in on_position(
            visits, report.time, report.lat, report.lon, report.sog, report.nav_status, ports, self.rules
        ):
            self._port_event(event, report, ctx)
        if not visits:
            del self.visits[mmsi]

    def _port_event(self, event: PortEvent, report: PositionReport, ctx: Context) -> None:
        visit, vessel = event.visit, ctx.vessel
        departure = event.at if event.kind == "departure" else None
        ctx.services.record_port_call(
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
        details: dict[str, Any] = {
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
        ctx.services.raise_alert(
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
                severity=alert_severity(match, kind),
                details=details,
                tags=tuple(match.entry.tags),
                zones=(visit.port_id,),
            )
        )

    async def start(self, services: StartServices) -> None:
        """Open port calls (no departure yet) carry on after a restart instead of starting anew."""
        for row in await services.open_port_calls():
            vessel = services.vessel(row["mmsi"])
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
