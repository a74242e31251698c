"""Every step a report takes, in order: the one place to read what the pipeline does.

    dedup -> clock -> feed health -> [reception] -> [event-time ticks] -> segments -> vessel state
          -> watchlist -> identity -> integrity -> zones -> dark -> port calls -> zone alerts
          -> [encounters] -> [live]

- dedup: the same transmission heard twice (two receivers, two feeds) passes once.
- clock: the report's event time moves the pipeline clock (a replay's watermark); counted as processed.
- feed health: the report is heard on its source; a silent or collapsed source is a feed outage, and time
  a source was down is nobody's silence (the dark rules ask it). Ticks judge this instance's own feeds.
- reception: the report is heard through its station, or in its area when the feed names no station; a
  station or area that stops being heard while its feed goes on is a reception loss, and its downtime is
  nobody's silence either. It also learns how each area is heard (terrestrial or satellite passes).
- event-time ticks (replay only): the time-driven rules run every `ticks.interval` of event time, before
  the report that crossed it moves its vessel. Live, a scheduler job ticks on wall time instead.
- segments: the fix joins the vessel's track it could physically follow, or starts another; a fix off
  the main (believed) track, or on land, is marked with why (impossible_speed, track_conflict, on_land,
  gnss_interference).
- vessel state: per-vessel order (a late fix is history, not where the ship is) and identity; the
  position (with its segment and mark), changed rows and identity changes are batched for the store. A
  marked fix is stored but never moves the vessel.
- watchlist (enricher): whether the vessel is watched, and how strongly it matched; associated vessels
  from their meeting until their expiry on the pipeline clock.
- identity: identity_change (name, call sign, IMO, ship type, MMSI and flag) and draught_change of
  watched ships; a draught changed across a dark silence is loading while dark.
- integrity: position_anomaly episodes of watched ships and gnss_interference areas; a marked fix goes
  no further (no zone, port call, reappearance or live map from it).
- zones (enricher): the zones the position is in, with entry/exit hysteresis.
- dark: went_dark (a tick), reappeared and possible_dark_port_call (a position) for watched ships.
- port calls: every vessel's port calls, recorded; port_call / port_departure alerts for watched ones.
- zone alerts: zone_entry / zone_exit of watched ships in zones that are not ports.
- encounters: every vessel's believed position in the pair search; on ticks, encounters of any two
  vessels (recorded; an alert when one is watched; the unwatched partner of a listed ship associated)
  and loitering of watched ones.
- live (serve only): watched positions, and positions in a client's viewport, to the dashboard.

docs/architecture.md lists the same steps; a test fails when the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.alerts.store import AlertStore
from ais_watch.clock import Clock
from ais_watch.config import Settings
from ais_watch.detectors.dark import DarkStage
from ais_watch.detectors.dark_rules import DarkRules
from ais_watch.detectors.encounter_rules import EncounterRules, LoiteringRules
from ais_watch.detectors.encounters import EncounterStage
from ais_watch.detectors.identity import IdentityAlerts
from ais_watch.detectors.integrity import IntegrityAlerts
from ais_watch.detectors.port_call_rules import PortCallRules
from ais_watch.detectors.port_calls import PortCallStage
from ais_watch.detectors.watchlist_match import WatchlistEnricher
from ais_watch.detectors.zones import ZoneAlerts, ZoneEnricher
from ais_watch.geo import NamedPoint, Places
from ais_watch.land import LandMask
from ais_watch.model import IngestStats
from ais_watch.pipeline.dedup import Deduplicate
from ais_watch.pipeline.feed_health import FeedHealthStep
from ais_watch.pipeline.ingest import EventClock, EventTimeTicks
from ais_watch.pipeline.reception import Reception
from ais_watch.pipeline.runner import Pipeline, PipelineOptions
from ais_watch.pipeline.segments import Segmenter, SegmentOptions
from ais_watch.pipeline.stage import Stage
from ais_watch.pipeline.vessel_state import VesselState
from ais_watch.sea_routes import SeaRoutes
from ais_watch.store.writer import StoreWriter
from ais_watch.watchlist.store import load_index, seed_default
from ais_watch.world_ports import world_ports
from ais_watch.zones import ZoneRegistry


def build_pipeline(engine: AsyncEngine, writer: StoreWriter, stats: IngestStats, clock: Clock,
                   options: PipelineOptions, *, alerts: AlertStore | None = None,
                   detectors: Sequence[Stage] = (), extra: Sequence[Stage] = (),
                   ports: Sequence[NamedPoint] = (), segments: Stage | None = None) -> Pipeline:
    """The pipeline with every step in order. `detectors` are the enrichers and detectors
    (`Detectors.stages()`, or a test's own); `extra` runs last (serve's live hub). `ports` name the
    places reception alerts describe. `segments` (`Detectors.segments`) runs before the vessel state, so
    a fix it does not believe never moves the vessel."""
    event_clock = EventClock(clock, stats)
    feed_health = FeedHealthStep(timedelta(seconds=options.feed_outage_after),
                                 event_time=options.event_time_ticks)
    reception = (Reception(options.reception, feed_health.health, event_time=options.event_time_ticks,
                           ports=ports) if options.reception is not None else None)
    ticks = EventTimeTicks(options.tick_interval) if options.event_time_ticks else None
    vessel_state = VesselState(stats, options.vessel_flush_interval)
    steps: list[Stage] = [
        Deduplicate(options.dedup_window, stats),
        event_clock,
        feed_health,
        *([reception] if reception is not None else []),
        *([ticks] if ticks is not None else []),
        *([segments] if segments is not None else []),
        vessel_state,
        *detectors,
        *extra,
    ]
    pipeline = Pipeline(steps, engine=engine, writer=writer, stats=stats, clock=clock, options=options,
                        vessel_state=vessel_state, event_clock=event_clock, outages=feed_health,
                        reception=reception, alerts=alerts)
    if ticks is not None:
        ticks.run = pipeline.tick
    return pipeline


@dataclass(slots=True)
class Detectors:
    """The enrichers and detectors built from the settings. The runtime keeps them: the scheduler reloads
    the watchlist and the zones into them, the API reads the running watchlist."""

    zones: ZoneRegistry
    segments: Segmenter | None  # runs before the vessel state (`build_pipeline(segments=...)`)
    zone_enricher: ZoneEnricher
    watchlist: WatchlistEnricher
    identity: IdentityAlerts
    integrity: IntegrityAlerts | None  # with the segments
    dark: DarkStage
    port_calls: PortCallStage
    zone_alerts: ZoneAlerts
    encounters: EncounterStage | None

    def stages(self) -> list[Stage]:
        """In pipeline order, after the vessel state: the watchlist, identity, the integrity gate (a fix
        not believed stops there), then the zones and the detectors that read them."""
        return [self.watchlist, self.identity, *([self.integrity] if self.integrity is not None else []),
                self.zone_enricher, self.dark, self.port_calls, self.zone_alerts,
                *([self.encounters] if self.encounters is not None else [])]


async def build_detectors(engine: AsyncEngine, settings: Settings) -> Detectors:
    await seed_default(engine)
    zones = ZoneRegistry([Path(d) for d in settings["zones.dirs"]])
    watchlist = WatchlistEnricher(await load_index(engine), associate_days=settings["associate.days"])
    ports = zones.index.ports()
    places = Places(ports, port_at=lambda lat, lon: next(
        (z.name for z in zones.index.zones_at(lat, lon) if z.is_port), None))
    # Natural Earth land, shared with the sea routes; loaded when a fix first needs it.
    land = (LandMask(tolerance_km=settings["integrity.land_tolerance_km"]) if settings["integrity.on_land"]
            else None)
    segments = Segmenter(segment_options(settings), land=land, in_port=lambda lat, lon: any(
        z.is_port for z in zones.index.zones_at(lat, lon))) if settings["integrity.enabled"] else None
    # Sea routes to the ports: built on first use (a few seconds), then shared.
    dark = DarkStage(watchlist, ports, threshold=timedelta(hours=settings["dark.threshold"]),
                     max_speed_kn=settings["dark.max_speed_kn"],
                     min_dwell=timedelta(hours=settings["dark.min_dwell"]),
                     defaults=dark_rules(settings), sea=SeaRoutes(ports))
    return Detectors(
        zones=zones,
        segments=segments,
        zone_enricher=ZoneEnricher(zones, exit_margin_km=settings["zones.exit_margin_km"]),
        watchlist=watchlist,
        identity=IdentityAlerts(watchlist, dark, min_draught_change=settings["draught.min_change"],
                                conflict_window=timedelta(seconds=settings["identity.conflict_window"]),
                                max_speed_kn=settings["integrity.max_speed_kn"], places=places),
        integrity=IntegrityAlerts(segments, watchlist, places,
                                  episode_gap=timedelta(seconds=settings["integrity.episode_gap"]))
        if segments is not None else None,
        dark=dark,
        port_calls=PortCallStage(PortCallRules(min_dwell=timedelta(minutes=settings["port_calls.min_dwell"]),
                                               stop_speed=settings["port_calls.stop_speed"])),
        zone_alerts=ZoneAlerts(places),
        encounters=EncounterStage(
            watchlist, encounter_rules(settings), loitering_rules(settings),
            recent_seconds=settings["encounter.recent"], places=places,
            land=land or LandMask(tolerance_km=settings["integrity.land_tolerance_km"]),
            near_port=lambda lat, lon, km: any(z.is_port for z in zones.index.within_km(lat, lon, km)),
            world_ports=world_ports())
        if settings["encounter.enabled"] else None,
    )


def segment_options(settings: Settings) -> SegmentOptions:
    return SegmentOptions(max_speed_kn=settings["integrity.max_speed_kn"],
                          jump_tolerance_nm=settings["integrity.jump_tolerance_nm"],
                          confirm_after=timedelta(seconds=settings["integrity.confirm_after"]),
                          gnss_min_vessels=settings["gnss.min_vessels"],
                          gnss_radius_km=settings["gnss.radius_km"],
                          gnss_window=timedelta(seconds=settings["gnss.window"]))


def encounter_rules(settings: Settings) -> EncounterRules:
    return EncounterRules(max_distance_m=settings["encounter.max_distance_m"],
                          min_duration=timedelta(seconds=settings["encounter.min_duration"]),
                          max_speed_kn=settings["encounter.max_speed_kn"],
                          min_port_distance_km=settings["encounter.min_port_distance_km"],
                          min_shore_distance_nm=settings["encounter.min_shore_distance_nm"],
                          merge_gap=timedelta(seconds=settings["encounter.merge_gap"]))


def loitering_rules(settings: Settings) -> LoiteringRules:
    return LoiteringRules(min_duration=timedelta(seconds=settings["loitering.min_duration"]),
                          max_speed_kn=settings["encounter.max_speed_kn"],
                          min_shore_distance_nm=settings["loitering.min_shore_distance_nm"],
                          neighbour_km=settings["loitering.neighbour_km"])


def dark_rules(settings: Settings) -> DarkRules:
    """The dark rules' reception settings (each watchlist entry's rules start from these)."""
    return DarkRules(cadence_factor=settings["dark.cadence_factor"],
                     satellite_threshold=timedelta(hours=settings["dark.satellite_threshold"]),
                     max_threshold=timedelta(hours=settings["dark.max_threshold"]))
