"""Watchlist entries: what one listed ship is, its key, its names, and its JSON form.

An entry is keyed by what identifies its ship best: "imo:9179842" (an IMO number with a valid check
digit; it stays with the hull through renames, re-flagging and new MMSIs), else "mmsi:273382620", else
"name:MARIA" (a name alone is only a weak candidate: there are two sanctioned MARIAs).

Two entries of the same ship merge: the fields the newer gives replace the older's, aliases and tags
are added to (never removed), and a changed name keeps the old one as an alias.

An association (the partner of a watched ship in an encounter, made by the pipeline, never imported)
is an entry with `association` (what it met, where and when) and `expires_at`: it is watched from the
meeting's start until then (`watched_between`), and never matched by name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ais_watch.alerts.model import iso
from ais_watch.errors import AisWatchError
from ais_watch.model import imo_is_valid, mmsi_is_valid

_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_KEY_MAX = 80  # the width of watchlist.key
# The fields of one entry as `watchlist list --format jsonl` and the API's /watchlist write it.
# `association` and `expires_at` came later (issue 14): added at the end, so a reader of the first ten is
# unchanged; both null for an imported entry.
LIST_FIELDS = ("key", "name", "imo", "mmsi", "flag", "reason", "source", "aliases", "tags",
               "dark_threshold_hours", "association", "expires_at")
ASSOCIATION_SOURCE = "association"  # every association's source
ASSOCIATION_TAG = "associated"  # and its tag, for notifiers to route on


class WatchlistError(AisWatchError):
    """A watchlist file or key could not be used; the message says which and why."""


def normalise_name(text: str | None) -> str:
    """Names as AIS and the lists write them compare equal: "MAIA-1", "Maia 1" and "maia  1" -> "MAIA 1".

    Accents are dropped, upper case, every run of punctuation or spaces becomes one space.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", plain.upper()).strip()


def entry_key(imo: int | None, mmsi: int | None, name: str | None) -> str | None:
    """The key an entry with these identifiers has, or None when it has none of them."""
    if imo is not None and imo_is_valid(imo):
        return f"imo:{imo}"
    if mmsi is not None and mmsi_is_valid(mmsi):
        return f"mmsi:{mmsi:09d}"
    normal = normalise_name(name)
    return f"name:{normal}"[:_KEY_MAX] if normal else None


def canonical_key(text: str) -> str:
    """A key as a user types it ("IMO:9179842", "9179842", "mmsi:273382620", "name:Maia-1") -> stored form."""
    value = text.strip()
    kind, sep, rest = value.partition(":")
    if not sep:
        kind, rest = ("imo" if len(value) == 7 else "mmsi"), value
    kind, rest = kind.strip().lower(), rest.strip()
    if kind == "imo" and rest.isdigit() and len(rest) == 7:
        return f"imo:{rest}"
    if kind == "mmsi" and rest.isdigit() and len(rest) == 9:
        return f"mmsi:{rest}"
    if kind == "name" and normalise_name(rest):
        return f"name:{normalise_name(rest)}"[:_KEY_MAX]
    raise WatchlistError(f"{text!r} is not a watchlist key: expected imo:1234567, mmsi:123456789 "
                         "or name:NAME")


@dataclass(frozen=True, slots=True)
class WatchEntry:
    name: str | None
    imo: int | None
    mmsi: int | None
    flag: str | None
    reason: str | None
    source: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    dark_threshold: float | None = None  # seconds; None: the dark.threshold setting
    # An association's record (JSON: met, encounter, alert), None for a listed ship; left out of
    # comparisons (a dict is not hashable) and of every import.
    association: dict[str, Any] | None = field(default=None, compare=False)
    expires_at: datetime | None = None  # an association's end

    @property
    def key(self) -> str:
        key = entry_key(self.imo, self.mmsi, self.name)
        if key is None:
            raise WatchlistError(f"watchlist entry from {self.source}: no IMO, MMSI or name")
        return key

    @property
    def is_association(self) -> bool:
        return self.association is not None

    def watched_between(self) -> tuple[datetime, datetime] | None:
        """An association's time: from the meeting's start until it expires (None: always watched)."""
        if self.association is None or self.expires_at is None:
            return None
        start = datetime.fromisoformat(str(self.association["encounter"]["start"]).replace("Z", "+00:00"))
        return start, self.expires_at

    def watched_at(self, now: datetime) -> bool:
        """Whether it is watched at `now` (the pipeline clock, which a replay runs in the past): a listed
        ship always, an association from its meeting until it expires."""
        window = self.watched_between()
        return window is None or window[0] <= now < window[1]

    def names(self) -> tuple[str, ...]:
        """The primary name, then the aliases, normalised, without repeats."""
        seen: dict[str, None] = {}
        for text in (self.name, *self.aliases):
            normal = normalise_name(text)
            if normal:
                seen.setdefault(normal, None)
        return tuple(seen)


def _union(first: Iterable[str], second: Iterable[str], *, drop: str = "") -> tuple[str, ...]:
    """Both lists in order, without repeats (compared normalised), without `drop`."""
    out: dict[str, str] = {}
    for text in (*first, *second):
        normal = normalise_name(text) or text
        if text and normal != drop:
            out.setdefault(normal, text)
    return tuple(out.values())


def merge_entries(old: WatchEntry, new: WatchEntry) -> WatchEntry:
    """`old` updated with `new`: what `new` gives replaces; aliases and tags accumulate; a changed name
    keeps the old one as an alias (a renamed ship is still found by the name it had)."""
    name = new.name or old.name
    aliases = _union((*new.aliases, *old.aliases), [old.name or ""], drop=normalise_name(name))
    tags: dict[str, None] = dict.fromkeys((*old.tags, *new.tags))
    return WatchEntry(
        name=name,
        imo=new.imo if new.imo is not None and imo_is_valid(new.imo) else old.imo,
        mmsi=new.mmsi if new.mmsi is not None else old.mmsi,
        flag=new.flag or old.flag,
        reason=new.reason or old.reason,
        source=new.source or old.source,
        aliases=aliases,
        tags=tuple(tags),
        dark_threshold=new.dark_threshold if new.dark_threshold is not None else old.dark_threshold,
    )


def entry_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored entry (a row of store.list_entries) as the CLI's jsonl and the API write it: LIST_FIELDS,
    the dark threshold in hours, `expires_at` in ISO 8601 UTC."""
    item = {name: row.get(name) for name in LIST_FIELDS}
    threshold = row.get("dark_threshold")
    item["dark_threshold_hours"] = None if threshold is None else round(threshold / 3600.0, 6)
    item["expires_at"] = iso(row.get("expires_at"))
    return item
