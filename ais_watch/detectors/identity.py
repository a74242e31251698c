"""Identity and draught: `identity_change` and `draught_change` for watched ships.

- A watched ship (or one whose new identity matches a watchlist entry) reports a new name, call sign,
  IMO or ship type: one `identity_change` with each field's old and new value. Destination and ETA are
  voyage data, never identity.
- Its IMO broadcast by another MMSI: a new MMSI (and, when the MMSI's MID differs, a new flag), with
  what else differs between the two identities. When the other MMSI is still heard, further away than a
  ship could have sailed in the time between, one of the two is a false identity: the same kind with
  `details.conflict`.
- Its draught changes by at least `draught.min_change`: `draught_change`; across a silence that raised
  went_dark it is evidence of loading or unloading while dark (severity high), and the alerts that ended
  that silence are given the draught after it too.

The identity history (`identity_history`) is written by the vessel-state step; this step only reports.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ais_watch.alerts.model import AlertAmendment, AlertDraft, Severity, iso
from ais_watch.detectors.dark import DarkStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher, alert_severity, watchlist_details
from ais_watch.geo import Places, distance_nm
from ais_watch.mid import flag_of
from ais_watch.model import PositionReport, Report, StaticReport
from ais_watch.pipeline.stage import Context, Services, StageBase, StartServices, VesselRow
from ais_watch.watchlist.index import Match

IDENTITY_FIELDS = ("name", "call_sign", "imo", "ship_type")


class IdentityAlerts(StageBase):
    name = "identity"

    def __init__(self, enricher: WatchlistEnricher, dark: DarkStage | None = None, *,
                 min_draught_change: float = 0.5, conflict_window: timedelta = timedelta(hours=1),
                 max_speed_kn: float = 50.0, places: Places | None = None) -> None:
        self.enricher = enricher
        self.places = places or Places()
        self.dark = dark
        self.min_draught_change = min_draught_change
        self.conflict_window = conflict_window
        self.max_speed_kn = max_speed_kn
        self.by_imo: dict[int, set[int]] = {}  # IMO -> the MMSIs heard broadcasting it
        self._pairs: set[tuple[int, int, int]] = set()  # (imo, old mmsi, new mmsi) already reported
        # A new MMSI for a watched IMO heard before any position of it: reported with its first position
        # (then a clone far away is a conflict), or without one once the conflict window has passed.
        self._awaiting: dict[int, tuple[StaticReport, int, int]] = {}

    def tick(self, now: datetime, services: Services) -> None:
        for mmsi, (report, imo, other) in list(self._awaiting.items()):
            if now - report.time > self.conflict_window:
                del self._awaiting[mmsi]
                self._raise_new_mmsi(report, imo, other, services)

    async def start(self, services: StartServices) -> None:
        for vessel in services.vessels():
            if vessel["imo"] is not None:
                self.by_imo.setdefault(vessel["imo"], set()).add(vessel["mmsi"])

    def handle(self, report: Report, ctx: Context) -> None:
        if isinstance(report, PositionReport):
            waiting = self._awaiting.pop(report.mmsi, None) if self._awaiting else None
            if waiting is not None:  # the new MMSI's first position: now the two can be compared
                self._raise_new_mmsi(*waiting, ctx.services)
            return
        if ctx.late:
            return
        vessel = ctx.vessel
        imo = vessel["imo"]
        if imo is not None:
            known = self.by_imo.setdefault(imo, set())
            if report.mmsi not in known:
                others = sorted(known)
                known.add(report.mmsi)
                for other in others:
                    self._new_mmsi(report, ctx, imo, other)
        changed = {f: ctx.changes[f] for f in IDENTITY_FIELDS if f in ctx.changes}
        if changed and ctx.watch is not None:
            ctx.services.raise_alert(self._identity_draft(report, vessel, ctx.watch, changed))
        if "draught" in ctx.changes and ctx.watch is not None:
            old, new = ctx.changes["draught"]
            if abs(new - old) >= self.min_draught_change:
                self._draught(report, ctx, old, new)

    # --------------------------------------------------------------------------------- identity
    def _new_mmsi(self, report: StaticReport, ctx: Context, imo: int, other: int) -> None:
        """The IMO, known under `other`, now broadcast by this MMSI too."""
        if (imo, other, report.mmsi) in self._pairs:
            return
        previous = ctx.services.vessel(other)
        if previous is None or (ctx.watch or self.enricher.match(previous)) is None:
            return
        self._pairs.add((imo, other, report.mmsi))
        if ctx.vessel["last_lat"] is None:
            self._awaiting[report.mmsi] = (report, imo, other)
            return
        self._raise_new_mmsi(report, imo, other, ctx.services)

    def _raise_new_mmsi(self, report: StaticReport, imo: int, other: int, services: Services) -> None:
        previous, vessel = services.vessel(other), services.vessel(report.mmsi)
        if previous is None or vessel is None:
            return
        watch = self.enricher.match(vessel) or self.enricher.match(previous)
        if watch is None:
            return
        changed: dict[str, tuple[Any, Any]] = {"mmsi": (other, report.mmsi)}
        old_flag, new_flag = flag_of(other), flag_of(report.mmsi)
        if old_flag != new_flag:
            changed["flag"] = (old_flag, new_flag)
        for name in ("name", "call_sign", "ship_type"):
            if previous[name] is not None and vessel[name] is not None and previous[name] != vessel[name]:
                changed[name] = (previous[name], vessel[name])
        draft = self._identity_draft(report, vessel, watch, changed)
        conflict = self._conflict(previous, vessel)
        if conflict is not None:
            draft.details["conflict"] = conflict
            draft.event_key += "|conflict"
            draft.severity = alert_severity(watch, "identity_change", Severity.CRITICAL)
        draft.details["previous_identity"] = {
            "mmsi": other, "name": previous["name"], "call_sign": previous["call_sign"],
            "flag": previous["flag"], "last_seen": iso(previous["last_seen"]),
            "last_lat": previous["last_lat"], "last_lon": previous["last_lon"]}
        services.raise_alert(draft)

    def _conflict(self, previous: VesselRow, vessel: VesselRow) -> dict[str, Any] | None:
        """Both MMSIs heard within the conflict window, further apart than a ship could sail between."""
        seen_a, seen_b = previous["last_seen"], vessel["last_seen"]
        if seen_a is None or seen_b is None or previous["last_lat"] is None or vessel["last_lat"] is None:
            return None
        apart = abs((seen_b - seen_a).total_seconds())
        if apart > self.conflict_window.total_seconds():
            return None
        miles = distance_nm(previous["last_lat"], previous["last_lon"], vessel["last_lat"],
                            vessel["last_lon"])
        reach = self.max_speed_kn * apart / 3600 + 1.0
        if miles <= reach:
            return None
        return {"mmsis": [previous["mmsi"], vessel["mmsi"]], "distance_nm": round(miles, 1),
                "seconds_apart": apart,
                "positions": [{"mmsi": v["mmsi"], "lat": v["last_lat"], "lon": v["last_lon"],
                               "time": iso(v["last_seen"])} for v in (previous, vessel)]}

    def _identity_draft(self, report: StaticReport, vessel: VesselRow, watch: Match,
                        changed: dict[str, tuple[Any, Any]]) -> AlertDraft:
        fields = {name: {"old": old, "new": new} for name, (old, new) in changed.items()}
        event = ";".join(f"{name}={new}" for name, (_old, new) in sorted(changed.items()))
        return AlertDraft(
            kind="identity_change", occurred_at=report.time, event_key=event[:120], mmsi=report.mmsi,
            imo=vessel["imo"], vessel_name=vessel["name"], lat=vessel["last_lat"], lon=vessel["last_lon"],
            place=self.places.name(vessel["last_lat"], vessel["last_lon"]),
            severity=alert_severity(watch, "identity_change"),
            details={"fields": fields, "changed_at": iso(report.time), "flag": vessel["flag"],
                     "evidence": [_evidence(report)], **watchlist_details(watch)},
            tags=tuple(watch.entry.tags))

    # ---------------------------------------------------------------------------------- draught
    def _draught(self, report: StaticReport, ctx: Context, old: float, new: float) -> None:
        assert ctx.watch is not None
        vessel = ctx.vessel
        episode = self.dark.dark_episode(report.mmsi, report.time) if self.dark is not None else None
        change = round(new - old, 2)
        details: dict[str, Any] = {"old": old, "new": new, "change": change, "evidence": [_evidence(report)],
                                   "flag": vessel["flag"], **watchlist_details(ctx.watch)}
        severity = alert_severity(ctx.watch, "draught_change")
        if episode is not None:
            details["silence"] = {"dark_from": iso(episode.dark_from), "dark_until": iso(episode.dark_until),
                                  "hours": _hours(episode.dark_from, episode.dark_until or report.time)}
            details["while_dark"] = True
            severity = alert_severity(ctx.watch, "draught_change", Severity.HIGH, weak=Severity.MEDIUM)
            before = episode.draught_before if episode.draught_before is not None else old
            for key in episode.alert_keys:
                amended = {"draught_before": before, "draught_after": new}
                ctx.services.amend_alert(AlertAmendment(key, amended))
        ctx.services.raise_alert(AlertDraft(
            kind="draught_change", occurred_at=report.time, event_key=f"{iso(report.time)}|{new}",
            mmsi=report.mmsi, imo=vessel["imo"], vessel_name=vessel["name"], lat=vessel["last_lat"],
            lon=vessel["last_lon"], place=self.places.name(vessel["last_lat"], vessel["last_lon"]),
            severity=severity, details=details, tags=tuple(ctx.watch.entry.tags)))


def _evidence(report: StaticReport) -> dict[str, Any]:
    """Which message said it."""
    return {"time": iso(report.time), "msg_type": report.msg_type, "source": report.source,
            "station": report.station}


def _hours(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 3600, 1)
