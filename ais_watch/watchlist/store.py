"""The watchlist table: store, list, remove and load entries, and seed the bundled list.

Re-importing updates an entry, never duplicates it: an update merges (entries.merge_entries). An entry
first known by a weaker key (MMSI or name) is upgraded in place, keeping its row and created_at, when
an import brings the same ship under a stronger key: by the same MMSI, or by the same primary name when
that name belongs to exactly one entry of the import (never by an alias). The other way round, an entry
with only an MMSI updates the one entry stored under an IMO with that MMSI. A name alone never updates
an entry known by IMO or MMSI: it may be another ship of that name.

Associations (the partners of watched ships, made by the encounters stage) are written only by
`save_associations`, in the pipeline's store-alerts transaction, and never into a ship's imported row.
An import never writes one: an association row the import brings the same ship for becomes that
imported entry (its IMO, MMSI and names kept; the reason, source and tags the import's; `association`
and `expires_at` cleared), so a ship listed after it was seen with a listed one is watched as listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ais_watch.audit import Actor, capped, record
from ais_watch.model import imo_is_valid
from ais_watch.store.schema import watchlist
from ais_watch.watchlist.entries import WatchEntry, canonical_key, entry_key, merge_entries, normalise_name
from ais_watch.watchlist.importers import read_csv
from ais_watch.watchlist.index import WatchlistIndex

DEFAULT_WATCHLIST = Path(__file__).resolve().parent.parent / "data" / "watchlist_default.csv"
_COLUMNS = ("key", "name", "imo", "mmsi", "flag", "reason", "source", "aliases", "tags", "dark_threshold",
            "association", "expires_at")


def _values(entry: WatchEntry) -> dict[str, Any]:
    """An imported entry's columns: never an association's, whatever the entry carries."""
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
        "association": None,
        "expires_at": None,
    }


def _entry(row: Any) -> WatchEntry:
    return WatchEntry(name=row["name"], imo=row["imo"], mmsi=row["mmsi"], flag=row["flag"],
                      reason=row["reason"], source=row["source"], aliases=tuple(row["aliases"] or ()),
                      tags=tuple(row["tags"] or ()), dark_threshold=row["dark_threshold"],
                      association=row["association"], expires_at=row["expires_at"])


def _as_listed(row: Any) -> WatchEntry:
    """A stored association as the start of an imported entry: who the ship is (IMO, MMSI, names, flag),
    not why it was watched (its reason, source and tags go)."""
    return WatchEntry(name=row["name"], imo=row["imo"], mmsi=row["mmsi"], flag=row["flag"], reason=None,
                      source="", aliases=tuple(row["aliases"] or ()), dark_threshold=row["dark_threshold"])


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
        if key.startswith("imo:") and (by_mmsi := entry_key(None, entry.mmsi, None)) is not None:
            weaker.append(by_mmsi)
        unambiguous = name_count.get(normalise_name(entry.name)) == 1
        if not key.startswith("name:") and unambiguous and (by_name := entry_key(None, None, entry.name)):
            weaker.append(by_name)
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
        old = _as_listed(row) if row["association"] is not None else _entry(row)
        values = _values(merge_entries(old, entry))
        by_key[values["key"]] = {**row, **values}
        if any(values[name] != row[name] for name in values):
            bound = {f"b_{name}": value for name, value in values.items()}
            updates.append({**bound, "b_id": row["id"], "b_updated_at": now})
    if updates:
        # Bind names differ from the column names: SQLAlchemy reserves those for its own parameters.
        columns: dict[str, BindParameter[Any]] = {name: bindparam(f"b_{name}")
                                                  for name in (*_COLUMNS, "updated_at")}
        await conn.execute(update(watchlist).where(watchlist.c.id == bindparam("b_id")).values(columns),
                           updates)
    if inserts:
        await conn.execute(insert(watchlist), inserts)
    return inserted, updated


async def upsert(engine: AsyncEngine, entries: Iterable[WatchEntry], *, actor: Actor | None = None,
                 about: dict[str, Any] | None = None) -> tuple[int, int]:
    """Store entries by key, in one transaction: (inserted, updated). Re-importing never duplicates.
    With an `actor`, the import is recorded in the audit log in that transaction, with `about` (the file,
    its format) and the keys it brought."""
    entries = list(entries)
    async with engine.begin() as conn:
        inserted, updated = await _upsert(conn, entries)
        if actor is not None:
            keys = sorted({entry.key for entry in entries})
            await record(conn, actor, "watchlist.import", (about or {}).get("file") or "watchlist",
                         {**(about or {}), "imported": inserted, "updated": updated, "keys": capped(keys)},
                         datetime.now(UTC))
    return inserted, updated


async def list_entries(engine: AsyncEngine, *, now: datetime | None = None,
                       associations: bool = False) -> list[dict[str, Any]]:
    """Entries as dicts (the table's columns but id; dark_threshold in seconds), in import order: every
    one, or with `now` those not expired by then; with `associations` the associations only."""
    stmt = select(watchlist).order_by(watchlist.c.id)
    if now is not None:
        stmt = stmt.where(or_(watchlist.c.expires_at.is_(None), watchlist.c.expires_at > now))
    if associations:  # every association expires; no imported entry does (its JSON null is no SQL NULL)
        stmt = stmt.where(watchlist.c.expires_at.is_not(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [{name: (list(value or ()) if name in ("aliases", "tags") else value)
             for name, value in row.items() if name != "id"} for row in rows]


async def save_associations(conn: AsyncConnection, entries: Iterable[WatchEntry]) -> None:
    """Store the associations the pipeline made (in its store-alerts transaction, `conn`): a new one
    inserted; one stored already (the ship met a listed one again, or after it expired) updated when it
    expires later, never brought forward; a ship with a row of its own that is no association (an
    imported entry, by key, IMO or MMSI) left as it is."""
    batch = {entry.key: entry for entry in entries if entry.association is not None}
    if not batch:
        return
    c = watchlist.c
    imos = {e.imo for e in batch.values() if e.imo is not None}
    mmsis = {e.mmsi for e in batch.values() if e.mmsi is not None}
    rows = (await conn.execute(select(c.id, c.key, c.imo, c.mmsi, c.association, c.expires_at).where(
        or_(c.key.in_(list(batch)), c.imo.in_(list(imos)), c.mmsi.in_(list(mmsis)))))).mappings().all()
    now = datetime.now(UTC)
    for key, entry in batch.items():
        same = [r for r in rows if r["key"] == key or (entry.imo is not None and r["imo"] == entry.imo)
                or (entry.mmsi is not None and r["mmsi"] == entry.mmsi)]
        if any(r["association"] is None for r in same):
            continue
        values = {**_values(entry), "association": entry.association, "expires_at": entry.expires_at}
        own = next((r for r in same if r["key"] == key), same[0] if same else None)
        if own is None:
            stmt = (postgresql.insert(watchlist) if conn.dialect.name == "postgresql"
                    else sqlite.insert(watchlist))
            # Nothing if a row of that key came meanwhile (an import racing this transaction): it wins.
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=[c.key]),
                               {**values, "created_at": now, "updated_at": now})
            continue
        stored_until = own["expires_at"]
        if stored_until is not None and entry.expires_at is not None and entry.expires_at <= stored_until:
            continue  # an earlier meeting, written late: the stored one says more
        if own["key"] != key:  # associated under another key (by MMSI before it sent an IMO): kept as it is
            values = {"expires_at": entry.expires_at}
        await conn.execute(update(watchlist).where(c.id == own["id"]).values(**values, updated_at=now))


async def load_entries(engine: AsyncEngine) -> list[WatchEntry]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(watchlist).order_by(watchlist.c.id))).mappings().all()
    return [_entry(row) for row in rows]


async def load_index(engine: AsyncEngine) -> WatchlistIndex:
    """The index of every stored entry, for the watchlist enricher."""
    return WatchlistIndex(await load_entries(engine))


async def remove(engine: AsyncEngine, key: str, *, actor: Actor | None = None) -> bool:
    """Delete the entry with this key (any form canonical_key accepts); False if there was none. With an
    `actor`, the removal and what the entry was are recorded in the audit log in the same transaction."""
    key = canonical_key(key)
    async with engine.begin() as conn:
        row = (await conn.execute(select(watchlist).where(watchlist.c.key == key))).mappings().first()
        if row is None:
            return False
        await conn.execute(delete(watchlist).where(watchlist.c.key == key))
        if actor is not None:
            await record(conn, actor, "watchlist.remove", key, {
                "name": row["name"], "imo": row["imo"], "mmsi": row["mmsi"], "flag": row["flag"],
                "reason": row["reason"], "source": row["source"],
                "association": row["association"] is not None}, datetime.now(UTC))
    return True


async def seed_default(engine: AsyncEngine, path: Path = DEFAULT_WATCHLIST) -> int:
    """Store the bundled watchlist if the table is empty (a user's own list is never added to): the
    number of entries seeded. Note: emptying the table by hand makes the next start seed it again."""
    entries, _ = read_csv(path)
    try:
        async with engine.begin() as conn:
            if (await conn.execute(select(func.count()).select_from(watchlist))).scalar_one():
                return 0
            inserted, _ = await _upsert(conn, entries)
    except IntegrityError:  # another process seeded it at the same moment
        return 0
    return inserted
