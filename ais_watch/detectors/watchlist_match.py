"""The watchlist enricher: decides once per report whether the vessel is watched (by IMO from its static
data, by MMSI, or weakly by name) and hands the match to every later stage in the context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ais_watch.model import Report, StaticReport
from ais_watch.pipeline.stage import Context, StageBase, VesselRow
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import Match, WatchlistIndex


class WatchlistEnricher(StageBase):
    """ctx.watch = the vessel's watchlist match, recomputed only when its static data changes."""

    name = "watchlist"

    def __init__(self, index: WatchlistIndex) -> None:
        self.index = index
        self._matches: dict[int, Match | None] = {}
        self._also: tuple[WatchEntry, ...] = ()

    def replace_index(self, index: WatchlistIndex) -> None:
        """A new watchlist (re-imported while running): every vessel is matched afresh."""
        if self._also:
            keys = {e.key for e in self._also}
            index = WatchlistIndex([*(e for e in index.entries if e.key not in keys), *self._also])
        self.index = index
        self._matches.clear()

    def also_watch(self, entries: Sequence[WatchEntry]) -> None:
        """Watch these entries too, in this running service only, through every reload of the list from
        the table: the demo's simulated ship, which must never be written to the table."""
        self._also = tuple(entries)
        self.replace_index(self.index)

    def match(self, vessel: VesselRow) -> Match | None:
        mmsi = vessel["mmsi"]
        if mmsi in self._matches:
            return self._matches[mmsi]
        found = self._matches[mmsi] = self.index.match(mmsi, bool(vessel["mmsi_valid"]), vessel["imo"],
                                                       vessel["name"])
        return found

    def handle(self, report: Report, ctx: Context) -> None:
        if isinstance(report, StaticReport):
            self._matches.pop(report.mmsi, None)
        ctx.watch = self.match(ctx.vessel)


def watchlist_details(match: Match) -> dict[str, Any]:
    """What every watchlist alert carries in `details` about the entry it matched, and how."""
    entry = match.entry
    return {"watchlist": {"key": entry.key, "name": entry.name, "imo": entry.imo, "mmsi": entry.mmsi,
                          "reason": entry.reason, "source": entry.source, "match": match.by,
                          "tags": list(entry.tags)}}
