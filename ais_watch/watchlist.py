"""The watchlist: entries, the store operations and matching. Importers are in `watchlist_import.py`.

An entry is keyed by what identifies its ship best: "imo:9179842" (an IMO number with a valid check
digit; it stays with the hull through renames, re-flagging and new MMSIs), else "mmsi:273382620", else
"name:MARIA" (a name alone is only a weak candidate: there are two sanctioned MARIAs).

Re-importing updates an entry, never duplicates it. An update merges: the fields the new data gives
replace the old ones, aliases and tags are added to (never removed), and a changed name keeps the old
one as an alias. An entry first known by a weaker key (MMSI or name) is upgraded in place, keeping its
row and created_at, when an import brings the same ship under a stronger key: by the same MMSI, or by
the same primary name when that name belongs to exactly one entry of the import (never by an alias).
The other way round, an entry with only an MMSI updates the one entry stored under an IMO with that
MMSI. A name alone never updates an entry known by IMO or MMSI: it may be another ship of that name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.errors import AisWatchError
from ais_watch.model import imo_is_valid, mmsi_is_valid
from ais_watch.store.schema import watchlist

DEFAULT_WATCHLIST = Path(__file__).resolve().parent / "data" / "watchlist_default.csv"
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_KEY_MAX = 80  # the width of watchlist.key
_COLUMNS = ("key", "name", "imo", "mmsi", "flag", "reason", "source", "aliases", "tags", "dark_threshold")


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

    @property
    def key(self) -> str:
        key = entry_key(self.imo, self.mmsi, self.name)
        if key is None:
            raise WatchlistError(f"watchlist entry from {self.source}: no IMO, MMSI or name")
        return key

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


@dataclass(slots=True)
class ImportReport:
    """What an import read and did. `read` = imported + updated + sum(skipped.values()) once stored."""

    read: int = 0  # data rows or entities read (blank lines and headers not counted)
    imported: int = 0  # new entries
    updated: int = 0  # entries that were already there (the same ship, now updated)
    skipped: dict[str, int] = field(default_factory=dict)  # by reason
    problems: list[str] = field(default_factory=list)  # "line 7: IMO 1234568 fails its check digit"

    def skip(self, reason: str, problem: str | None = None) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if problem:
            self.problems.append(problem)


def dedupe(entries: Sequence[tuple[int, WatchEntry]], report: ImportReport) -> list[WatchEntry]:
    """(line, entry) pairs -> entries, one per key: a ship listed twice is merged into its first row."""
    first_line: dict[str, int] = {}
    merged: dict[str, WatchEntry] = {}
    for line, entry in entries:
        key = entry.key
        if key in merged:
            merged[key] = merge_entries(merged[key], entry)
            report.skip("same ship as an earlier row (merged)",
                        f"line {line}: same ship as line {first_line[key]} ({key}): merged into it")
        else:
            merged[key], first_line[key] = entry, line
    return list(merged.values())


# ------------------------------------------------------------------------------------------ store
def _values(entry: WatchEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "name": entry.name[:128] if entry.name else None,
        "imo": entry.imo if entry.imo is not None and imo_is_valid(entry.imo) else None,
        "mmsi": entry.mmsi,
        "flag": entry.flag[:64] if entry.flag else None,
        "reason": entry.reason,
        "source": (entry.source or "unknown")[:200],
        "aliases": list(entry.aliases),
        "tags": list(entry.tags),
        "dark_threshold": entry.dark_threshold,
    }


def _entry(row: Any) -> WatchEntry:
    return WatchEntry(name=row["name"], imo=row["imo"], mmsi=row["mmsi"], flag=row["flag"],
                      reason=row["reason"], source=row["source"], aliases=tuple(row["aliases"] or ()),
                      tags=tuple(row["tags"] or ()), dark_threshold=row["dark_threshold"])


async def _upsert(conn: AsyncConnection, entries: Iterable[WatchEntry]) -> tuple[int, int]:
    batch: dict[str, WatchEntry] = {}
    for entry in entries:
        key = entry.key
        batch[key] = merge_entries(batch[key], entry) if key in batch else entry
    rows = (await conn.execute(select(watchlist))).mappings().all()
    by_key: dict[str, Any] = {row["key"]: row for row in rows}
    name_count: dict[str, int] = {}
    for entry in batch.values():
        name_count[normalise_name(entry.name)] = name_count.get(normalise_name(entry.name), 0) + 1

    imo_rows_by_mmsi: dict[int, list[Any]] = {}
    for row in rows:
        if row["mmsi"] is not None and row["key"].startswith("imo:") and row["key"] not in batch:
            imo_rows_by_mmsi.setdefault(row["mmsi"], []).append(row)

    def same_ship_row(entry: WatchEntry, key: str) -> Any:
        """The row of the same ship under another key, that no entry of this batch claims itself: a
        weaker key (its MMSI, its unambiguous name) to upgrade, or the one IMO entry with its MMSI."""
        if key.startswith("mmsi:") and len(imo_rows_by_mmsi.get(entry.mmsi or 0, ())) == 1:
            return imo_rows_by_mmsi[entry.mmsi or 0][0]
        weaker = []
        if key.startswith("imo:") and entry.mmsi is not None and mmsi_is_valid(entry.mmsi):
            weaker.append(f"mmsi:{entry.mmsi:09d}")
        normal = normalise_name(entry.name)
        if not key.startswith("name:") and normal and name_count.get(normal) == 1:
            weaker.append(f"name:{normal}"[:_KEY_MAX])
        for candidate in weaker:
            if candidate in by_key and candidate not in batch:
                return by_key[candidate]
        return None

    now = datetime.now(UTC)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    touched: set[int] = set()
    inserted = updated = 0
    for key, entry in batch.items():
        row = by_key.get(key) or same_ship_row(entry, key)
        if row is None or row["id"] in touched:
            inserts.append({**_values(entry), "created_at": now, "updated_at": now})
            inserted += 1
            continue
        updated += 1
        touched.add(row["id"])
        del by_key[row["key"]]
        values = _values(merge_entries(_entry(row), entry))
        by_key[values["key"]] = {**row, **values}
        if any(values[name] != row[name] for name in values):
            bound = {f"b_{name}": value for name, value in values.items()}
            updates.append({**bound, "b_id": row["id"], "b_updated_at": now})
    if updates:
        # Bind names differ from the column names: SQLAlchemy reserves those for its own parameters.
        columns = {name: bindparam(f"b_{name}") for name in (*_COLUMNS, "updated_at")}
        await conn.execute(update(watchlist).where(watchlist.c.id == bindparam("b_id")).values(columns),
                           updates)
    if inserts:
        await conn.execute(insert(watchlist), inserts)
    return inserted, updated


async def upsert(engine: AsyncEngine, entries: Iterable[WatchEntry]) -> tuple[int, int]:
    """Store entries by key, in one transaction: (inserted, updated). Re-importing never duplicates."""
    async with engine.begin() as conn:
        return await _upsert(conn, entries)


async def list_entries(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every entry as a dict (the table's columns but id; dark_threshold in seconds), in import order."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(watchlist).order_by(watchlist.c.id))).mappings().all()
    return [{name: (list(value or ()) if name in ("aliases", "tags") else value)
             for name, value in row.items() if name != "id"} for row in rows]


async def load_entries(engine: AsyncEngine) -> list[WatchEntry]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(watchlist).order_by(watchlist.c.id))).mappings().all()
    return [_entry(row) for row in rows]


async def load_index(engine: AsyncEngine) -> WatchlistIndex:
    """The index of every stored entry, for the watchlist enricher."""
    return WatchlistIndex(await load_entries(engine))


async def remove(engine: AsyncEngine, key: str) -> bool:
    """Delete the entry with this key (any form canonical_key accepts); False if there was none."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(watchlist).where(watchlist.c.key == canonical_key(key)))
    return bool(result.rowcount)


async def seed_default(engine: AsyncEngine, path: Path = DEFAULT_WATCHLIST) -> int:
    """Store the bundled watchlist if the table is empty (a user's own list is never added to): the
    number of entries seeded. Note: emptying the table by hand makes the next start seed it again."""
    from ais_watch.watchlist_import import read_csv

    entries, _ = read_csv(path)
    try:
        async with engine.begin() as conn:
            if (await conn.execute(select(func.count()).select_from(watchlist))).scalar_one():
                return 0
            inserted, _ = await _upsert(conn, entries)
    except IntegrityError:  # another process seeded it at the same moment
        return 0
    return inserted


# --------------------------------------------------------------------------------------- matching
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
        for entry in self.entries:
            if entry.imo is not None and imo_is_valid(entry.imo):
                self._by_imo.setdefault(entry.imo, entry)
            if entry.mmsi is not None and mmsi_is_valid(entry.mmsi):
                known = self._by_mmsi.get(entry.mmsi)
                if known is None or (known.imo is None and entry.imo is not None):
                    self._by_mmsi[entry.mmsi] = entry
        # Primary names before aliases: "MARIA" finds the ship named MARIA before MARIA E a.k.a. MARIA.
        for position in (0, 1):
            for entry in self.entries:
                names = entry.names()
                for normal in names[:1] if position == 0 else names[1:]:
                    listed = self._by_name.setdefault(normal, [])
                    if entry not in listed:
                        listed.append(entry)

    def __len__(self) -> int:
        return len(self.entries)

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


__all__ = [
    "DEFAULT_WATCHLIST", "ImportReport", "Match", "WatchEntry", "WatchlistError", "WatchlistIndex",
    "canonical_key", "dedupe", "entry_key", "list_entries", "load_entries", "load_index", "merge_entries",
    "normalise_name", "remove", "seed_default", "upsert",
]
