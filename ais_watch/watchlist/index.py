"""Matching vessels against the watchlist: an immutable in-memory index of the entries, by IMO, MMSI
and name. The watchlist enricher holds one; a re-import swaps in a new one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ais_watch.model import imo_is_valid, mmsi_is_valid
from ais_watch.watchlist.entries import WatchEntry, normalise_name


@dataclass(frozen=True, slots=True)
class Match:
    entry: WatchEntry
    by: str  # "imo", "mmsi" or "name"
    strong: bool  # IMO or MMSI: this ship. Name: a candidate, never an identity.


class WatchlistIndex:
    """Entries by IMO, MMSI and normalised name/alias. Immutable: re-importing builds a new one."""

    def __init__(self, entries: Iterable[WatchEntry] = ()) -> None:
        self.entries = tuple(entries)
        self._by_imo: dict[int, WatchEntry] = {}
        self._by_mmsi: dict[int, WatchEntry] = {}
        self._by_name: dict[str, list[WatchEntry]] = {}
        # A listed ship before an association of the same hull (a list imported after the meeting).
        for entry in sorted(self.entries, key=lambda e: e.is_association):
            if entry.imo is not None and imo_is_valid(entry.imo):
                self._by_imo.setdefault(entry.imo, entry)
            if entry.mmsi is not None and mmsi_is_valid(entry.mmsi):
                known = self._by_mmsi.get(entry.mmsi)
                better = known is not None and known.imo is None and entry.imo is not None
                if known is None or (better and not entry.is_association):
                    self._by_mmsi[entry.mmsi] = entry
        # Primary names before aliases: "MARIA" finds the ship named MARIA before MARIA E a.k.a. MARIA.
        # An association is one hull (its IMO or MMSI), not a name: another ship called the same is
        # nobody's partner.
        named = [entry for entry in self.entries if not entry.is_association]
        for position in (0, 1):
            for entry in named:
                names = entry.names()
                for normal in names[:1] if position == 0 else names[1:]:
                    listed = self._by_name.setdefault(normal, [])
                    if entry not in listed:
                        listed.append(entry)

    def __len__(self) -> int:
        return len(self.entries)

    def at(self, now: datetime) -> WatchlistIndex:
        """The entries watched at `now`: this index less the associations not yet made or expired then
        (itself when it has none)."""
        kept = [entry for entry in self.entries if entry.watched_at(now)]
        return self if len(kept) == len(self.entries) else WatchlistIndex(kept)

    def next_change(self, now: datetime) -> datetime | None:
        """When what `at` watches next changes after `now`: an association's start or expiry."""
        later = [when for entry in self.entries if (window := entry.watched_between()) is not None
                 for when in window if when > now]
        return min(later, default=None)

    def match(self, mmsi: int, mmsi_valid: bool, imo: int | None, name: str | None) -> Match | None:
        """The best match for a vessel: its IMO (valid check digit only) first, which holds through a
        new MMSI and a new name; then its MMSI (valid only); then its name or an alias, weakly.

        An MMSI match is weak when the vessel sends a valid IMO other than the entry's: the MMSI may
        have passed to another hull."""
        imo_ok = imo is not None and imo_is_valid(imo)
        if imo is not None and imo_ok:
            entry = self._by_imo.get(imo)
            if entry is not None:
                return Match(entry, "imo", True)
        if mmsi_valid and mmsi_is_valid(mmsi):
            entry = self._by_mmsi.get(mmsi)
            if entry is not None:
                contradicted = (imo_ok and entry.imo is not None and imo_is_valid(entry.imo)
                                and entry.imo != imo)
                return Match(entry, "mmsi", not contradicted)
        found = self.candidates(name)
        return Match(found[0], "name", False) if found else None

    def candidates(self, name: str | None) -> list[WatchEntry]:
        """Every entry with this name or alias (normalised): primary names first, then aliases."""
        return list(self._by_name.get(normalise_name(name), ()))
