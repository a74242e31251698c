"""The dark-ship stage: went_dark / reappeared / possible_dark_port_call for watched ships.

It keeps a `Silence` per watched ship and runs the pure rules of `dark_rules.py` on positions and on
clock ticks. Which silences already raised went_dark is kept in `detector_state` (detector "dark", key
the MMSI), so a restart neither repeats a went_dark nor misses the reappearance after it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ais_watch.alerts.model import AlertDraft, iso
from ais_watch.detectors.dark_rules import (
    DARK_KINDS,
    AreaReception,
    DarkRules,
    PortLike,
    SeaDistances,
    Silence,
    on_position,
    on_tick,
)
from ais_watch.detectors.watchlist_match import WatchlistEnricher, alert_severity, watchlist_details
from ais_watch.model import PositionReport, Report
from ais_watch.pipeline.stage import Context, Services, StageBase, StartServices, VesselRow
from ais_watch.sea_routes import SeaRoutes

if TYPE_CHECKING:
    from ais_watch.watchlist.index import Match, WatchlistIndex
    from ais_watch.zones import Zone

log = logging.getLogger(__name__)
DETECTOR = "dark"
DRAUGHT_AFTER = timedelta(hours=24)  # a draught reported this long after a reappearance is still "after"


@dataclass(slots=True)
class DarkEpisode:
    """A silence that raised went_dark, for the draught rule: the draught the ship reported before it, and
    the alerts of its end (reappeared, possible_dark_port_call) that the draught after it belongs in."""

    dark_from: datetime  # last heard before it
    dark_until: datetime | None  # heard again (None: still dark)
    draught_before: float | None
    alert_keys: list[str] = field(default_factory=list)


def _port_name(zones: Sequence[Zone]) -> str | None:
    for zone in zones:
        if zone.kind in ("port", "anchorage"):
            return str(zone.name)
    return None


class DarkStage(StageBase):
    name = "dark"

    def __init__(self, enricher: WatchlistEnricher, ports: Sequence[PortLike], *,
                 threshold: timedelta = timedelta(hours=6), max_speed_kn: float = 16.0,
                 min_dwell: timedelta = timedelta(hours=2), defaults: DarkRules | None = None,
                 sea: SeaDistances | None = None) -> None:
        self.enricher = enricher
        self.ports = list(ports)
        # Distances to the ports by sea; set again with the ports when the zones reload.
        self.sea: SeaDistances = sea if sea is not None else SeaRoutes(self.ports)
        self.threshold = threshold
        self.max_speed_kn = max_speed_kn
        self.min_dwell = min_dwell
        # The rest of the rules (cadence factor, satellite threshold, maximum): each entry's start from it.
        self.defaults = defaults or DarkRules()
        self.silences: dict[str, Silence] = {}
        self._rules: dict[str, DarkRules] = {}
        self._key_of_mmsi: dict[int, str] = {}  # the silence each MMSI last fed
        self._index: WatchlistIndex = enricher.index  # the watchlist the silences were built against
        self._draught_at_dark: dict[str, float | None] = {}  # silence key -> draught when it went dark
        self._ended: dict[int, DarkEpisode] = {}  # mmsi -> the last dark silence it ended

    def prepare_routes(self) -> None:
        """Build the sea routes now (a few seconds, off the event loop in `serve`) rather than in the
        first tick that needs them."""
        if isinstance(self.sea, SeaRoutes):
            self.sea.prepare()

    # ------------------------------------------------------------------------------- identity
    @staticmethod
    def key_of(match: Match, mmsi: int) -> str:
        """A strong match is the entry (one ship, whatever MMSI it uses); a name-only one the MMSI."""
        return str(match.entry.key) if match.strong else f"mmsi:{mmsi}"

    def rules_for(self, match: Match) -> DarkRules:
        entry = match.entry
        threshold = (timedelta(seconds=entry.dark_threshold) if entry.dark_threshold else self.threshold)
        return dataclasses.replace(
            self.defaults, threshold=threshold, max_speed_kn=self.max_speed_kn, min_dwell=self.min_dwell,
            severity={kind: severity for kind in DARK_KINDS
                      if (severity := alert_severity(match, kind)) is not None},
            extra=watchlist_details(match))

    def _silence(self, match: Match, vessel: VesselRow) -> Silence:
        mmsi = vessel["mmsi"]
        key = self.key_of(match, mmsi)
        previous = self._key_of_mmsi.get(mmsi)
        if previous != key:
            self._key_of_mmsi[mmsi] = key
            if previous is not None and previous.startswith("mmsi:"):
                # A name-only candidate now known by its IMO (or matched afresh): one ship, one silence.
                self.silences.pop(previous, None)
                self._rules.pop(previous, None)
        state = self.silences.get(key)
        if state is None:
            state = self.silences[key] = Silence(key=key, mmsi=vessel["mmsi"])
            self._rules[key] = self.rules_for(match)
        state.name = vessel["name"] or state.name
        state.imo = vessel["imo"] or state.imo
        state.destination = vessel["destination"]
        return state

    # --------------------------------------------------------------------------------- events
    def _follow_watchlist(self, services: Services) -> None:
        """After a watchlist reload: forget ships no longer watched, re-read thresholds of the rest."""
        if self.enricher.index is self._index:
            return
        self._index = self.enricher.index
        for key, state in list(self.silences.items()):
            vessel = services.vessel(state.mmsi)
            match = self.enricher.match(vessel) if vessel is not None else None
            if match is None or self.key_of(match, state.mmsi) != key:
                del self.silences[key]
                self._rules.pop(key, None)
            else:
                self._rules[key] = self.rules_for(match)
        self._key_of_mmsi = {mmsi: k for mmsi, k in self._key_of_mmsi.items() if k in self.silences}

    def _raise(self, drafts: list[AlertDraft], mmsi: int, alerted_for: datetime | None,
               services: Services) -> None:
        """Raise the drafts and keep, with them, whether the silence of the ship last heard as `mmsi` was
        reported as went_dark (alerted_for: the time it was last heard) or is over (reappeared)."""
        for draft in drafts:
            services.raise_alert(draft)
            if draft.kind == "went_dark":
                services.save_state(DETECTOR, str(mmsi), {"alerted_for": iso(alerted_for)})
                vessel = services.vessel(mmsi)
                self._draught_at_dark[self._key_of_mmsi.get(mmsi, f"mmsi:{mmsi}")] = (
                    vessel["draught"] if vessel is not None else None)
            elif draft.kind == "reappeared":
                services.save_state(DETECTOR, str(mmsi), None)

    def dark_episode(self, mmsi: int, when: datetime) -> DarkEpisode | None:
        """The dark silence a draught reported by `mmsi` at `when` comes after: one it is still in (heard,
        but no position yet), or one it ended within the last day."""
        key = self._key_of_mmsi.get(mmsi)
        state = self.silences.get(key) if key is not None else None
        if state is not None and state.alerted_for is not None and state.alerted_for == state.last_time:
            return DarkEpisode(state.alerted_for, None, self._draught_at_dark.get(state.key))
        ended = self._ended.get(mmsi)
        if ended is not None and ended.dark_until is not None and \
                timedelta(0) <= when - ended.dark_until <= DRAUGHT_AFTER:
            return ended
        return None

    def handle(self, report: Report, ctx: Context) -> None:
        self._follow_watchlist(ctx.services)
        match = ctx.watch
        if match is None:
            return
        state = self._silence(match, ctx.vessel)
        if not isinstance(report, PositionReport):
            return
        silent_mmsi = state.mmsi  # the reappearance clears what was saved under it (a new MMSI may speak)
        dark_from = state.last_time
        drafts = on_position(state, report.mmsi, report.time, report.lat, report.lon, report.sog, report.cog,
                             report.source, _port_name(ctx.zones), self._rules[state.key], self.ports,
                             station=report.station, sea=self.sea)
        if drafts:
            self._ended_silence(drafts, report, ctx.vessel, dark_from, state.key)
            self._raise(drafts, silent_mmsi, None, ctx.services)

    def _ended_silence(self, drafts: list[AlertDraft], report: PositionReport, vessel: VesselRow,
                       dark_from: datetime | None, key: str) -> None:
        """The reappearance's alerts carry the draught before the silence (and after it, if the ship has
        already said); the draught rule adds the after to them when it comes."""
        before = self._draught_at_dark.pop(key, vessel["draught"])
        after = vessel["draught"] if vessel["draught"] != before else None
        ending = [d for d in drafts if d.kind in ("reappeared", "possible_dark_port_call")]
        for draft in ending:
            draft.details["draught_before"] = before
            draft.details["draught_after"] = after
        if ending and dark_from is not None:
            self._ended[report.mmsi] = DarkEpisode(dark_from, report.time, before,
                                                   [d.dedup_key() for d in ending])

    def tick(self, now: datetime, services: Services) -> None:
        self._follow_watchlist(services)
        def area(state: Silence) -> AreaReception:
            return services.area_reception(state.last_source, state.last_lat, state.last_lon)

        for key, state in self.silences.items():
            def overlap(source: str | None, start: datetime, end: datetime,
                        state: Silence = state) -> timedelta:
                # Its feed, and the station it was last heard through or the area it was last in.
                return services.outage_overlap(source, start, end, station=state.last_station,
                                               lat=state.last_lat, lon=state.last_lon)

            drafts = on_tick(state, now, self._rules[key], overlap, self.ports, area, sea=self.sea)
            if drafts:
                self._raise(drafts, state.mmsi, state.alerted_for, services)

    # -------------------------------------------------------------------------------- restart
    async def start(self, services: StartServices) -> None:
        """Rebuild the silences of watched ships from where each vessel was last heard, and which of them
        already raised went_dark from the saved state."""
        for vessel in services.vessels():
            match = self.enricher.match(vessel)
            if match is None or vessel["last_seen"] is None:
                continue
            state = self._silence(match, vessel)
            if state.last_time is None or vessel["last_seen"] > state.last_time:
                state.mmsi = vessel["mmsi"]
                state.last_time, state.last_lat, state.last_lon = (vessel["last_seen"], vessel["last_lat"],
                                                                   vessel["last_lon"])
                state.last_sog, state.last_cog = vessel["last_sog"], vessel["last_cog"]
                state.last_source = vessel["last_source"]
        if not self.silences:
            return
        saved = await services.load_state(DETECTOR)
        for state in self.silences.values():
            alerted = saved.get(str(state.mmsi), {}).get("alerted_for")
            if state.last_time is not None and alerted == iso(state.last_time):
                state.alerted_for = state.last_time
        log.info("dark detector: %d watched ships known, %d dark", len(self.silences),
                 sum(1 for s in self.silences.values() if s.alerted_for is not None))
