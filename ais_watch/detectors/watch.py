"""Pipeline stages for watchlisted vessels: the watchlist enricher and the dark-ship detector.

The enricher decides once per report whether the vessel is watched (by IMO from its static data, by
MMSI, or weakly by name) and hands the match to every later stage in the context. The dark stage keeps
a `Silence` per watched ship and runs the pure rules of `dark.py` on positions and on clock ticks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ais_watch.alerts.model import Severity, iso
from ais_watch.detectors.dark import DarkRules, PortLike, Silence, on_position, on_tick
from ais_watch.model import PositionReport, Report, StaticReport
from ais_watch.pipeline import Context, Pipeline
from ais_watch.store.schema import alerts

log = logging.getLogger(__name__)
_UNKNOWN = object()


class WatchlistEnricher:
    """ctx.watch = the vessel's watchlist match, recomputed only when its static data changes."""

    name = "watchlist"

    def __init__(self, index: Any) -> None:
        self.index = index
        self._matches: dict[int, Any] = {}

    def replace_index(self, index: Any) -> None:
        """A new watchlist (re-imported while running): every vessel is matched afresh."""
        self.index = index
        self._matches.clear()

    def match(self, vessel: dict[str, Any]) -> Any:
        mmsi = vessel["mmsi"]
        found = self._matches.get(mmsi, _UNKNOWN)
        if found is _UNKNOWN:
            found = self.index.match(mmsi, bool(vessel["mmsi_valid"]), vessel["imo"], vessel["name"])
            self._matches[mmsi] = found
        return found

    def handle(self, report: Report, vessel: dict[str, Any], ctx: Context) -> None:
        if isinstance(report, StaticReport):
            self._matches.pop(report.mmsi, None)
        ctx.watch = self.match(vessel)


def watchlist_details(match: Any) -> dict[str, Any]:
    """What every watchlist alert carries in `details` about the entry it matched, and how."""
    entry = match.entry
    return {"watchlist": {"key": entry.key, "name": entry.name, "imo": entry.imo, "mmsi": entry.mmsi,
                          "reason": entry.reason, "source": entry.source, "match": match.by,
                          "tags": list(entry.tags)}}


def _port_name(zones: Sequence[Any]) -> str | None:
    for zone in zones:
        if getattr(zone, "kind", None) in ("port", "anchorage"):
            return str(zone.name)
    return None


class DarkStage:
    """went_dark / reappeared / possible_dark_port_call for watched ships (rules in dark.py)."""

    name = "dark"

    def __init__(self, enricher: WatchlistEnricher, ports: Sequence[PortLike], *,
                 threshold: timedelta = timedelta(hours=6), max_speed_kn: float = 16.0,
                 min_dwell: timedelta = timedelta(hours=2)) -> None:
        self.enricher = enricher
        self.ports = list(ports)
        self.threshold = threshold
        self.max_speed_kn = max_speed_kn
        self.min_dwell = min_dwell
        self.silences: dict[str, Silence] = {}
        self._rules: dict[str, DarkRules] = {}
        self._key_of_mmsi: dict[int, str] = {}  # the silence each MMSI last fed
        self._index = enricher.index  # the watchlist the silences were built against

    # ------------------------------------------------------------------------------- identity
    @staticmethod
    def key_of(match: Any, mmsi: int) -> str:
        """A strong match is the entry (one ship, whatever MMSI it uses); a name-only one the MMSI."""
        return str(match.entry.key) if match.strong else f"mmsi:{mmsi}"

    def rules_for(self, match: Any) -> DarkRules:
        entry = match.entry
        threshold = (timedelta(seconds=entry.dark_threshold) if entry.dark_threshold else self.threshold)
        return DarkRules(
            threshold=threshold, max_speed_kn=self.max_speed_kn, min_dwell=self.min_dwell,
            severity=None if match.strong else Severity.LOW, extra=watchlist_details(match))

    def _silence(self, match: Any, vessel: dict[str, Any]) -> Silence:
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
    def _follow_watchlist(self, pipeline: Pipeline) -> None:
        """After a watchlist reload: forget ships no longer watched, re-read thresholds of the rest."""
        if self.enricher.index is self._index:
            return
        self._index = self.enricher.index
        for key, state in list(self.silences.items()):
            vessel = pipeline.vessels.get(state.mmsi)
            match = self.enricher.match(vessel) if vessel is not None else None
            if match is None or self.key_of(match, state.mmsi) != key:
                del self.silences[key]
                self._rules.pop(key, None)
            else:
                self._rules[key] = self.rules_for(match)
        self._key_of_mmsi = {mmsi: k for mmsi, k in self._key_of_mmsi.items() if k in self.silences}

    def handle(self, report: Report, vessel: dict[str, Any], ctx: Context) -> None:
        self._follow_watchlist(ctx.pipeline)
        match = ctx.watch
        if match is None:
            return
        state = self._silence(match, vessel)
        if not isinstance(report, PositionReport):
            return
        drafts = on_position(state, report.mmsi, report.time, report.lat, report.lon, report.sog, report.cog,
                             report.source, _port_name(ctx.zones), self._rules[state.key], self.ports)
        for draft in drafts:
            ctx.pipeline.raise_alert(draft)

    def tick(self, now: Any, pipeline: Pipeline) -> None:
        self._follow_watchlist(pipeline)
        overlap = pipeline.feed_health.outage_overlap
        for key, state in self.silences.items():
            for draft in on_tick(state, now, self._rules[key], overlap, self.ports):
                pipeline.raise_alert(draft)

    # -------------------------------------------------------------------------------- restart
    async def start(self, pipeline: Pipeline) -> None:
        """Rebuild the silences of watched ships from the store, and which of them already raised
        went_dark, so a restart neither repeats a went_dark nor misses the reappearance after it."""
        for vessel in pipeline.vessels.values():
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
        by_mmsi = {s.mmsi: s for s in self.silences.values()}
        async with pipeline.engine.connect() as conn:
            rows = await conn.execute(select(alerts.c.mmsi, alerts.c.details).where(
                alerts.c.kind == "went_dark", alerts.c.mmsi.in_(list(by_mmsi))))
            for mmsi, details in rows:
                state = by_mmsi.get(mmsi)
                if state is not None and state.last_time is not None and (
                        (details or {}).get("last_seen") == iso(state.last_time)):
                    state.alerted_for = state.last_time
        log.info("dark detector: %d watched ships known, %d dark", len(self.silences),
                 sum(1 for s in self.silences.values() if s.alerted_for is not None))
