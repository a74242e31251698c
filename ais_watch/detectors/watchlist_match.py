"""The watchlist enricher: decides once per report whether the vessel is watched (by IMO from its static
data, by MMSI, or weakly by name) and hands the match to every later stage in the context; and the
severity every watchlist alert is raised with (`alert_severity`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ais_watch.alerts.model import DEFAULT_SEVERITY, Severity
from ais_watch.model import Report, StaticReport
from ais_watch.pipeline.stage import Context, Services, StageBase, VesselRow
from ais_watch.watchlist.entries import WatchEntry
from ais_watch.watchlist.index import Match, WatchlistIndex

_FIRST_READING = datetime.min.replace(tzinfo=UTC)  # `_next_change` before the clock was ever read


class WatchlistEnricher(StageBase):
    """ctx.watch = the vessel's watchlist match, recomputed only when its static data or the watchlist
    changes.

    What matches (`index`) is the list as stored, with what this service watches in memory (the demo's
    ship; the associations it has made since the table was last read), less the associations not
    watched on the pipeline clock: before their meeting or after they expire. The clock is read at the
    first report and on every tick, so an association stops matching at the first tick after it expires,
    on the replay's dates in a replay. Every instance ticks it (`fleet_wide` False): each watches.
    """

    name = "watchlist"
    fleet_wide = False

    def __init__(self, index: WatchlistIndex, *, associate_days: float = 0.0) -> None:
        # The associate.days setting, read by the encounters stage (detectors/associations.py); 0: the
        # partners of watched ships are not watched.
        self.associate_days = associate_days
        self.index = index
        self._stored = index  # as loaded (from the table, or a test's own)
        self._listed = index  # with the in-memory entries: every entry, watched now or not
        self._matches: dict[int, Match | None] = {}
        self._also: tuple[WatchEntry, ...] = ()
        self._made: dict[str, WatchEntry] = {}  # associations made here since the last reload, by key
        self._now: datetime | None = None  # the pipeline clock, as last read
        self._next_change: datetime | None = None  # when `index` must be chosen again
        self._select()

    def replace_index(self, index: WatchlistIndex) -> None:
        """A new watchlist (re-imported while running, or reloaded from the table): every vessel is
        matched afresh. The table is the truth from now on: the associations made here are in it (their
        store transaction follows them at once) unless someone removed them. Only a reload landing
        between an association and its commit misses it, until the next reload (a minute later: the
        commit changed the table) brings it back; keeping it instead would keep a removed one for good."""
        self._made = {}
        self._stored = index
        self._rebuild()

    def also_watch(self, entries: Sequence[WatchEntry]) -> None:
        """Watch these entries too, in this running service only, through every reload of the list from
        the table: the demo's simulated ship, which must never be written to the table."""
        self._also = tuple(entries)
        self._rebuild()

    def watch_association(self, entry: WatchEntry) -> None:
        """An association the encounters stage has just made (or extended): matched from the next report
        on, not from the next reload of the table (which its store transaction has yet to reach)."""
        self._made[entry.key] = entry
        self._rebuild()

    def _rebuild(self) -> None:
        extra = {e.key: e for e in (*self._made.values(), *self._also)}
        self._listed = (WatchlistIndex([*(e for e in self._stored.entries if e.key not in extra),
                                        *extra.values()]) if extra else self._stored)
        self._select()

    def _select(self) -> None:
        """`index`: the entries watched at the clock's last reading (all of them before the first)."""
        listed, now = self._listed, self._now
        if now is None:
            self.index = listed
            self._next_change = (_FIRST_READING if any(e.is_association for e in listed.entries)
                                 else None)
        else:
            self.index = listed.at(now)
            self._next_change = listed.next_change(now)
        self._matches.clear()

    def _clock(self, now: datetime) -> None:
        self._now = now
        if self._next_change is not None and now >= self._next_change:
            self._select()

    def match(self, vessel: VesselRow) -> Match | None:
        mmsi = vessel["mmsi"]
        if mmsi in self._matches:
            return self._matches[mmsi]
        found = self._matches[mmsi] = self.index.match(mmsi, bool(vessel["mmsi_valid"]), vessel["imo"],
                                                       vessel["name"])
        return found

    def handle(self, report: Report, ctx: Context) -> None:
        if self._now is None and self._next_change is not None:
            self._clock(ctx.services.now())  # the first report: associations are chosen on its clock
        if isinstance(report, StaticReport):
            self._matches.pop(report.mmsi, None)
        ctx.watch = self.match(ctx.vessel)

    def tick(self, now: datetime, services: Services) -> None:
        self._clock(now)


def watchlist_details(match: Match) -> dict[str, Any]:
    """What every watchlist alert carries in `details` about the entry it matched, and how."""
    entry = match.entry
    return {"watchlist": {"key": entry.key, "name": entry.name, "imo": entry.imo, "mmsi": entry.mmsi,
                          "reason": entry.reason, "source": entry.source, "match": match.by,
                          "tags": list(entry.tags)}}


def alert_severity(match: Match, kind: str, base: Severity | None = None, *,
                   weak: Severity = Severity.LOW) -> Severity | None:
    """The severity of a watchlist alert of `kind` (None: the kind's default, DEFAULT_SEVERITY).

    A listed ship matched by IMO or MMSI: `base` (a rule's own level, else the kind's default). An
    association: one level lower than that (critical -> high -> medium -> low), since it is a ship seen
    with a listed one, not a listed one. A name-only candidate: `weak`, low unless the rule says."""
    if not match.strong:
        return weak
    if not match.entry.is_association:
        return base
    return (base if base is not None else DEFAULT_SEVERITY[kind]).one_lower()
