"""Position integrity: `position_anomaly` for watched ships, `gnss_interference` for an area, and the
gate that keeps fixes off a vessel's believed track away from every later detector.

The segments step (`ais_watch/pipeline/segments.py`) decides which fixes are believed and marks the rest;
this step reports the episodes, once each, when they are decided:

- `track_conflict` as soon as fixes off the main track come between fixes on it (two transmitters);
- `impossible_speed` once the false fixes have stopped for `episode_gap` and the main track went on (a
  spoof or a GPS jump), or at once when the main track itself moved (a new segment confirmed);
- `on_land` once the vessel is back at sea, or the episode has lasted `episode_gap`;
- jumps of several vessels to one spot are one `gnss_interference` alert for the area, and no
  per-ship anomaly.

Deciding late (minutes) is what lets a GNSS interference episode, found at its third vessel, keep the
first two from raising anomalies of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ais_watch.alerts.model import AlertAmendment, AlertDraft, Severity, iso
from ais_watch.detectors.watchlist_match import WatchlistEnricher, alert_severity, watchlist_details
from ais_watch.geo import Places, distance_nm
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.segments import LandEpisode, Segment, Segmenter, Track
from ais_watch.pipeline.stage import Context, Services, StageBase, VesselRow


class IntegrityAlerts(StageBase):
    name = "integrity"

    def __init__(self, segmenter: Segmenter, enricher: WatchlistEnricher, places: Places | None = None, *,
                 episode_gap: timedelta = timedelta(minutes=10)) -> None:
        self.segmenter = segmenter
        self.enricher = enricher
        self.places = places or Places()
        self.episode_gap = episode_gap

    def handle(self, report: Report, ctx: Context) -> None:
        if not isinstance(report, PositionReport) or ctx.anomaly is None:
            return
        self._interference(ctx.services)
        if ctx.anomaly == "track_conflict" and ctx.watch is not None:
            track = self.segmenter.tracks[report.mmsi]
            segment = next((s for s in track.others if s.id == ctx.segment), None)
            if segment is not None and not segment.reported:
                segment.reported = True
                ctx.services.raise_alert(self._conflict(report, ctx.vessel, track, segment, ctx))
        ctx.dropped = True  # stored with its mark; no zone, port call, reappearance or live map from it

    def tick(self, now: datetime, services: Services) -> None:
        self._interference(services)
        pending = self.segmenter.pending
        for mmsi in list(pending):
            track = self.segmenter.tracks.get(mmsi)
            if track is None:
                pending.discard(mmsi)
                continue
            self._decide(mmsi, track, now, services)
            if not track.open_episodes():
                pending.discard(mmsi)

    # ------------------------------------------------------------------------------- decisions
    def _decide(self, mmsi: int, track: Track, now: datetime, services: Services) -> None:
        """Report the episodes of the track that are over (or long enough) now, for a watched vessel."""
        jumps: list[Segment] = []
        for segment in track.others:
            if segment.reported:
                continue
            if segment.gnss is not None or segment.conflict:
                segment.reported = True  # the area's alert, or the conflict's, already said it
            elif now - segment.last_time >= self.episode_gap:
                # Over: the real track went on, or the vessel fell silent after the false fixes.
                segment.reported = True
                jumps.append(segment)
        moved, track.switched_from = track.switched_from, None
        land = track.land
        land_over = land is not None and (land.ended or now - land.last_time >= self.episode_gap)
        report_land = land is not None and not land.reported and (
            land_over or now - land.first_time >= self.episode_gap)
        if land is not None and report_land:
            land.reported = True
            land.final = land_over
        vessel = services.vessel(mmsi)
        match = self.enricher.match(vessel) if vessel is not None else None
        if match is None or vessel is None:
            return
        watch, severity = watchlist_details(match), alert_severity(match, "position_anomaly")
        for segment in jumps:
            services.raise_alert(self._jump(mmsi, vessel, track, segment, watch, severity))
        if moved is not None:
            services.raise_alert(self._moved(mmsi, vessel, track, moved, watch, severity))
        if land is None or land.gnss is not None:
            return
        if report_land:
            draft = self._on_land(mmsi, vessel, track, land, watch, severity)
            land.alert_key = draft.dedup_key()
            services.raise_alert(draft)
        elif land.reported and not land.final and land_over and land.alert_key is not None:
            # Reported while it went on: its alert gets the whole episode once it is over.
            land.final = True
            services.amend_alert(AlertAmendment(land.alert_key, {
                "fixes": land.count, "last_false_fix": iso(land.last_time)}))

    # ----------------------------------------------------------------------------------- alerts
    def _draft(self, mmsi: int, vessel: VesselRow, reason: str, when: datetime, event: str, lat: float,
               lon: float, details: dict[str, Any], watch: dict[str, Any],
               severity: Severity | None) -> AlertDraft:
        return AlertDraft(
            kind="position_anomaly", occurred_at=when, event_key=f"{reason}|{event}", mmsi=mmsi,
            imo=vessel.get("imo"), vessel_name=vessel.get("name"),
            place=self.places.name(lat, lon, on_land=reason == "on_land"),
            lat=lat, lon=lon, severity=severity,
            details={"reason": reason, **details, "flag": vessel.get("flag"), **watch},
            tags=tuple(watch["watchlist"]["tags"]))

    def _jump(self, mmsi: int, vessel: VesselRow, track: Track, segment: Segment, watch: dict[str, Any],
              severity: Severity | None) -> AlertDraft:
        assert segment.origin is not None
        seen, real_lat, real_lon = segment.origin
        details = {
            "segment": segment.id, "main_segment": track.main.id, "fixes": segment.count,
            "first_false_fix": iso(segment.first_time), "last_false_fix": iso(segment.last_time),
            "real_position": {"lat": real_lat, "lon": real_lon, "time": iso(seen)},
            "distance_nm": round(distance_nm(real_lat, real_lon, segment.first_lat, segment.first_lon), 1),
            "implied_speed_kn": segment.jump_speed_kn,
            "max_speed_kn": self.segmenter.options.max_speed_kn,
        }
        return self._draft(mmsi, vessel, "impossible_speed", segment.first_time, str(segment.id),
                           segment.first_lat, segment.first_lon, details, watch, severity)

    def _moved(self, mmsi: int, vessel: VesselRow, track: Track, old: Segment, watch: dict[str, Any],
               severity: Severity | None) -> AlertDraft:
        new = track.main
        hours = max((new.first_time - old.last_time).total_seconds() / 3600, 1e-9)
        miles = distance_nm(old.last_lat, old.last_lon, new.first_lat, new.first_lon)
        details = {
            "segment": new.id, "main_segment": new.id, "previous_segment": old.id, "main_track_moved": True,
            "fixes": new.count, "first_false_fix": iso(new.first_time),
            "real_position": {"lat": old.last_lat, "lon": old.last_lon, "time": iso(old.last_time)},
            "distance_nm": round(miles, 1), "implied_speed_kn": round(miles / hours, 1),
            "max_speed_kn": self.segmenter.options.max_speed_kn,
        }
        return self._draft(mmsi, vessel, "impossible_speed", new.first_time, str(new.id), new.first_lat,
                           new.first_lon, details, watch, severity)

    def _conflict(self, report: PositionReport, vessel: VesselRow, track: Track, segment: Segment,
                  ctx: Context) -> AlertDraft:
        assert ctx.watch is not None
        main = track.main
        details = {
            "segment": segment.id, "main_segment": main.id, "fixes": segment.count,
            "first_false_fix": iso(segment.first_time),
            "real_position": {"lat": main.last_lat, "lon": main.last_lon, "time": iso(main.last_time)},
            "distance_nm": round(distance_nm(main.last_lat, main.last_lon, report.lat, report.lon), 1),
        }
        return self._draft(report.mmsi, vessel, "track_conflict", report.time, str(segment.id), report.lat,
                           report.lon, details, watchlist_details(ctx.watch),
                           alert_severity(ctx.watch, "position_anomaly"))

    def _on_land(self, mmsi: int, vessel: VesselRow, track: Track, land: LandEpisode, watch: dict[str, Any],
                 severity: Severity | None) -> AlertDraft:
        main = track.main
        real = {"lat": main.last_lat, "lon": main.last_lon, "time": iso(main.last_time)}
        details = {
            "segment": land.segment, "main_segment": main.id, "fixes": land.count,
            "first_false_fix": iso(land.first_time), "last_false_fix": iso(land.last_time),
            "real_position": real,
        }
        return self._draft(mmsi, vessel, "on_land", land.first_time, iso(land.first_time) or "", land.lat,
                           land.lon, details, watch, severity)

    def _interference(self, services: Services) -> None:
        """One alert per area; vessels that jump there later are added to it, not alerted again."""
        for new, area in self.segmenter.interference.take_news():
            draft = AlertDraft(
                kind="gnss_interference", occurred_at=area.first_time, event_key=iso(area.first_time) or "",
                place=self.places.name(area.lat, area.lon), lat=area.lat, lon=area.lon,
                details={"vessels": sorted(area.mmsis), "vessel_count": len(area.mmsis),
                         "first_jump": iso(area.first_time), "last_jump": iso(area.last_time),
                         "radius_km": self.segmenter.options.gnss_radius_km,
                         "window_seconds": self.segmenter.options.gnss_window.total_seconds()})
            if new:
                services.raise_alert(draft)
            else:
                keep = ("vessels", "vessel_count", "last_jump")
                services.amend_alert(AlertAmendment(draft.dedup_key(), {k: draft.details[k] for k in keep}))
