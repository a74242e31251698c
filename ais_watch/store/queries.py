"""Read queries the CLI and API share. Every value reaches SQL as a bound parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.errors import AisWatchError
from ais_watch.model import parse_vessel_ref
from ais_watch.store.schema import deliveries, identity_history, port_calls, positions, vessels


async def resolve_vessel(engine: AsyncEngine, text: str) -> tuple[list[int], int | None]:
    """A VESSEL argument (MMSI or IMO:1234567) as the MMSIs it stands for and its IMO, if one was given."""
    try:
        kind, number = parse_vessel_ref(text)
    except ValueError as err:
        raise AisWatchError(str(err)) from err
    return await mmsis_for(engine, kind, number), number if kind == "imo" else None


async def mmsis_for(engine: AsyncEngine, kind: str, number: int) -> list[int]:
    """The MMSIs a vessel reference stands for: the MMSI itself, or every MMSI that ever sent the IMO."""
    if kind == "mmsi":
        return [number]
    async with engine.connect() as conn:
        current = select(vessels.c.mmsi).where(vessels.c.imo == number)
        past = select(identity_history.c.mmsi).where(
            identity_history.c.field == "imo", or_(identity_history.c.new_value == str(number),
                                                   identity_history.c.old_value == str(number)))
        rows = await conn.execute(current.union(past))
        return sorted(r[0] for r in rows)


async def track(engine: AsyncEngine, mmsis: list[int], since: datetime | None = None,
                until: datetime | None = None, limit: int | None = None,
                after: datetime | None = None, all_segments: bool = False) -> AsyncIterator[dict[str, Any]]:
    """Stored positions of these MMSIs, oldest first, streamed (a long track never sits in memory).
    `after` is exclusive (the next page after a cursor), `since` and `until` inclusive. By default the
    believed positions only (the main segment: `anomaly` NULL); `all_segments` adds the marked ones, each
    with its `segment` and `anomaly`."""
    if not mmsis:
        return
    query = select(positions).where(positions.c.mmsi.in_(mmsis)).order_by(positions.c.time, positions.c.mmsi)
    if not all_segments:
        query = query.where(positions.c.anomaly.is_(None))
    if since is not None:
        query = query.where(positions.c.time >= since)
    if until is not None:
        query = query.where(positions.c.time <= until)
    if after is not None:
        query = query.where(positions.c.time > after)
    if limit is not None:
        query = query.limit(limit)
    async with engine.connect() as conn:
        result = await conn.stream(query)
        async for row in result.mappings():
            yield dict(row)


async def vessel(engine: AsyncEngine, mmsi: int) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(vessels).where(vessels.c.mmsi == mmsi))).mappings().first()
        return dict(row) if row else None


async def identity_changes(engine: AsyncEngine, mmsi: int) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(identity_history).where(identity_history.c.mmsi == mmsi)
                                  .order_by(identity_history.c.time, identity_history.c.id))
        return [dict(r) for r in rows.mappings()]


async def identity_histories(engine: AsyncEngine, mmsis: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each MMSI's identity history, newest first (every MMSI given has a list, maybe empty)."""
    found: dict[int, list[dict[str, Any]]] = {mmsi: [] for mmsi in mmsis}
    if not mmsis:
        return found
    query = (select(identity_history.c.mmsi, identity_history.c.field, identity_history.c.old_value,
                    identity_history.c.new_value, identity_history.c.time, identity_history.c.source)
             .where(identity_history.c.mmsi.in_(mmsis))
             .order_by(identity_history.c.time.desc(), identity_history.c.id.desc()))
    async with engine.connect() as conn:
        for row in (await conn.execute(query)).mappings():
            found[row["mmsi"]].append(dict(row))
    return found


async def imos_of(engine: AsyncEngine, mmsi: int) -> list[int]:
    """Every IMO this MMSI has broadcast: its current one and those in its identity history."""
    async with engine.connect() as conn:
        current = await conn.scalar(select(vessels.c.imo).where(vessels.c.mmsi == mmsi))
        past = await conn.execute(
            select(identity_history.c.old_value, identity_history.c.new_value)
            .where(identity_history.c.mmsi == mmsi, identity_history.c.field == "imo"))
        values = {current, *(v for row in past for v in row)}
    # History values are text; an IMO is 7 digits (anything else in history is no IMO).
    return sorted({int(v) for v in map(str, values - {None}) if v.isascii() and v.isdigit() and len(v) == 7})


async def vessels_by_mmsi(engine: AsyncEngine, mmsis: list[int]) -> list[dict[str, Any]]:
    """The vessel rows of these MMSIs, latest heard first."""
    if not mmsis:
        return []
    query = (select(vessels).where(vessels.c.mmsi.in_(mmsis))
             .order_by(vessels.c.last_seen.desc().nulls_last(), vessels.c.mmsi))
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def port_call_rows(engine: AsyncEngine, *, mmsis: list[int] | None = None,
                         port_ids: list[str] | None = None, since: datetime | None = None,
                         until: datetime | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Port calls, oldest arrival first; `since`/`until` select calls overlapping that window."""
    query = select(port_calls).order_by(port_calls.c.arrival, port_calls.c.id)
    if mmsis is not None:
        query = query.where(port_calls.c.mmsi.in_(mmsis))
    if port_ids is not None:
        query = query.where(port_calls.c.port_id.in_(port_ids))
    if since is not None:
        query = query.where(or_(port_calls.c.departure.is_(None), port_calls.c.departure >= since))
    if until is not None:
        query = query.where(port_calls.c.arrival <= until)
    if limit is not None:
        query = query.limit(limit)
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def gaps(engine: AsyncEngine, mmsi: int, since: datetime, longer_than: timedelta,
               limit: int = 50) -> list[dict[str, Any]]:
    """Silences in a vessel's stored track since `since`: the intervals between two consecutive fixes
    longer than `longer_than`, newest first."""
    # Believed fixes only: a spoofed fix in the middle of a silence does not end it.
    query = select(positions.c.time).where(positions.c.mmsi == mmsi, positions.c.time >= since,
                                           positions.c.anomaly.is_(None)).order_by(positions.c.time)
    found: list[dict[str, Any]] = []
    previous: datetime | None = None
    async with engine.connect() as conn:
        result = await conn.stream(query)
        async for (when,) in result:
            if previous is not None and when - previous > longer_than:
                found.append({"from": previous, "to": when, "seconds": (when - previous).total_seconds()})
            previous = when
    return found[::-1][:limit]


async def find_vessels(engine: AsyncEngine, name_part: str, mmsi: int | None, imo: int | None,
                       limit: int) -> list[dict[str, Any]]:
    """Vessels whose name holds `name_part` or with this MMSI or IMO, latest heard first; every vessel
    when `name_part` is empty."""
    query = select(vessels).order_by(vessels.c.last_seen.desc().nulls_last()).limit(limit)
    if name_part:
        clauses: list[ColumnElement[bool]] = [vessels.c.name.ilike(f"%{name_part}%")]
        if mmsi is not None:
            clauses.append(vessels.c.mmsi == mmsi)
        if imo is not None:
            clauses.append(vessels.c.imo == imo)
        query = query.where(or_(*clauses))
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def vessel_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(vessels))).scalar_one()


async def heard_since(engine: AsyncEngine, since: datetime, limit: int) -> list[dict[str, Any]]:
    """The latest position of every vessel heard since `since`, latest first."""
    query = (
        select(
            vessels.c.mmsi,
            vessels.c.name,
            vessels.c.imo,
            vessels.c.mmsi_valid,
            vessels.c.last_seen,
            vessels.c.last_lat,
            vessels.c.last_lon,
            vessels.c.last_sog,
            vessels.c.last_cog,
            vessels.c.last_heading,
        )
        .where(vessels.c.last_seen >= since)
        .order_by(vessels.c.last_seen.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def positions_in_box(engine: AsyncEngine, since: datetime, until: datetime,
                           bounds: tuple[float, float, float, float], limit: int
                           ) -> Sequence[Row[Any, Any, Any, Any]]:
    """(mmsi, time, lat, lon) of every believed position (main segment) inside `bounds` (west, south,
    east, north, as shapely gives them) during [since, until], oldest first: spoofed fixes in a zone do not
    put a ship there."""
    west, south, east, north = bounds
    query = (select(positions.c.mmsi, positions.c.time, positions.c.lat, positions.c.lon)
             .where(positions.c.time >= since, positions.c.time <= until, positions.c.anomaly.is_(None),
                    positions.c.lat.between(south, north), positions.c.lon.between(west, east))
             .order_by(positions.c.time))
    async with engine.connect() as conn:
        return (await conn.execute(query.limit(limit))).all()


async def oldest_pending_delivery(engine: AsyncEngine) -> datetime | None:
    """When the oldest delivery still pending was created (None: nothing pending). Raises what the database
    raises when it does not answer: the readiness probe reports that."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        oldest: datetime | None = await conn.scalar(select(func.min(deliveries.c.created_at))
                                                    .where(deliveries.c.state == "pending"))
        return oldest
