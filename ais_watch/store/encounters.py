"""Encounters as stored: written when one qualifies and again when it ends (the same row, by pair and
start), in the transaction of the alerts raised with it; and read back for the CLI and the API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.store.schema import encounters, vessels

_UPDATED = ("end", "last_together", "duration_seconds", "min_distance_m", "median_distance_m",
            "median_speed_kn", "lat", "lon", "shore_distance_nm", "nearest_port", "port_distance_nm",
            "watched")


async def save(conn: AsyncConnection, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    stmt = postgresql.insert(encounters) if conn.dialect.name == "postgresql" else sqlite.insert(encounters)
    stmt = stmt.on_conflict_do_update(
        index_elements=[encounters.c.mmsi_a, encounters.c.mmsi_b, encounters.c.start],
        set_={c: stmt.excluded[c] for c in _UPDATED})
    await conn.execute(stmt, rows)


# What a listed encounter carries (the CLI's JSON lines and CSV, and /api/encounters): the pair with each
# side's name, IMO and flag as the store knows them now, then the encounter's own figures.
FIELDS = ("id", "mmsi_a", "name_a", "imo_a", "flag_a", "mmsi_b", "name_b", "imo_b", "flag_b",
          "start", "end", "last_together", "duration_seconds", "min_distance_m", "median_distance_m",
          "median_speed_kn", "lat", "lon", "shore_distance_nm", "nearest_port", "port_distance_nm", "watched")


async def query(conn: AsyncConnection, *, mmsis: Iterable[int] | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Encounters of these vessels (either side) overlapping [since, until] (one still going on overlaps
    any later window), oldest start first, each with FIELDS: both vessels' names, IMOs and flags joined."""
    side_a, side_b = vessels.alias("side_a"), vessels.alias("side_b")
    named = [side.c[column].label(f"{column}_{letter}")
             for side, letter in ((side_a, "a"), (side_b, "b")) for column in ("name", "imo", "flag")]
    stmt = (select(encounters, *named)
            .select_from(encounters.outerjoin(side_a, side_a.c.mmsi == encounters.c.mmsi_a)
                         .outerjoin(side_b, side_b.c.mmsi == encounters.c.mmsi_b))
            .order_by(encounters.c.start, encounters.c.id))
    if mmsis is not None:
        wanted = list(mmsis)
        stmt = stmt.where(or_(encounters.c.mmsi_a.in_(wanted), encounters.c.mmsi_b.in_(wanted)))
    if since is not None:
        stmt = stmt.where(or_(encounters.c.end.is_(None), encounters.c.end >= since))
    if until is not None:
        stmt = stmt.where(encounters.c.start <= until)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [{field: row[field] for field in FIELDS} for row in (await conn.execute(stmt)).mappings()]
