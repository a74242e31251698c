"""Encounters as stored: written when one qualifies and again when it ends (the same row, by pair and
start), in the transaction of the alerts raised with it; and read back for the CLI and the API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.store.schema import encounters

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


async def query(conn: AsyncConnection, *, mmsis: Iterable[int] | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Encounters, oldest first: of these vessels (either side), starting in [since, until]."""
    stmt = select(encounters).order_by(encounters.c.start, encounters.c.id)
    if mmsis is not None:
        wanted = list(mmsis)
        stmt = stmt.where(or_(encounters.c.mmsi_a.in_(wanted), encounters.c.mmsi_b.in_(wanted)))
    if since is not None:
        stmt = stmt.where(encounters.c.start >= since)
    if until is not None:
        stmt = stmt.where(encounters.c.start <= until)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]
