"""What the fleet board reads (ais_watch/fleet.py puts it together): the watchlist entries still watched,
the vessels that may be theirs, their port calls, their open alerts and which of them the dark detector
holds dark. A handful of queries for the whole fleet, never one per vessel; long lists of MMSIs go to SQL
in chunks, under both databases' limits on bound parameters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.store.schema import alerts, detector_state, port_calls, vessels, watchlist

CHUNK = 5000  # values in one IN list (SQLite and asyncpg both stop at 32,767 bound parameters)
VESSEL_COLUMNS = (vessels.c.mmsi, vessels.c.mmsi_valid, vessels.c.name, vessels.c.imo, vessels.c.flag,
                  vessels.c.last_seen, vessels.c.last_lat, vessels.c.last_lon, vessels.c.last_sog,
                  vessels.c.last_cog, vessels.c.last_heading)
CALL_COLUMNS = (port_calls.c.mmsi, port_calls.c.port_id, port_calls.c.port_name, port_calls.c.country,
                port_calls.c.kind, port_calls.c.arrival, port_calls.c.departure)
ALERT_COLUMNS = (alerts.c.id, alerts.c.kind, alerts.c.severity, alerts.c.mmsi, alerts.c.imo,
                 alerts.c.occurred_at, alerts.c.details)


@dataclass
class FleetData:
    """The rows the board is built from, each list in no particular order."""

    vessels: list[dict[str, Any]] = field(default_factory=list)
    open_calls: list[dict[str, Any]] = field(default_factory=list)  # no departure yet
    latest_calls: list[dict[str, Any]] = field(default_factory=list)  # each MMSI's latest arrival
    open_alerts: list[dict[str, Any]] = field(default_factory=list)  # state open: nobody has looked
    dark: dict[int, datetime] = field(default_factory=dict)  # MMSI -> last heard before its went_dark


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


async def _rows(conn: AsyncConnection, query: Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def watchlist_rows(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every watchlist entry, expired associations too, in import order, with every column."""
    return await _rows(conn, select(watchlist).order_by(watchlist.c.id))


async def fleet_data(conn: AsyncConnection, *, mmsis: Iterable[int], imos: Iterable[int],
                     names: Iterable[str], dark_detector: str) -> FleetData:
    """The vessels with one of these MMSIs, IMOs or names (as stored), and for every one of them its
    open and latest port calls and whether `dark_detector` holds it dark; the open alerts of those
    vessels and of these IMOs."""
    data = FleetData()
    mmsis, imos = set(mmsis), set(imos)
    found: dict[int, dict[str, Any]] = {}
    for column, values in ((vessels.c.mmsi, mmsis), (vessels.c.imo, imos), (vessels.c.name, names)):
        for chunk in _chunks(values):
            for row in await _rows(conn, select(*VESSEL_COLUMNS).where(column.in_(chunk))):
                found[row["mmsi"]] = row
    data.vessels = list(found.values())
    heard = list(found)
    for chunk in _chunks(heard):
        data.open_calls += await _rows(conn, select(*CALL_COLUMNS).where(
            port_calls.c.mmsi.in_(chunk), port_calls.c.departure.is_(None)))
        latest = (select(port_calls.c.mmsi, func.max(port_calls.c.arrival).label("arrival"))
                  .where(port_calls.c.mmsi.in_(chunk)).group_by(port_calls.c.mmsi).subquery())
        data.latest_calls += await _rows(conn, select(*CALL_COLUMNS).join(
            latest, (port_calls.c.mmsi == latest.c.mmsi) & (port_calls.c.arrival == latest.c.arrival)))
        states = await conn.execute(select(detector_state.c.key, detector_state.c.state).where(
            detector_state.c.detector == dark_detector, detector_state.c.key.in_([str(m) for m in chunk])))
        for key, state in states:
            alerted_for = (state or {}).get("alerted_for")
            if isinstance(alerted_for, str):
                data.dark[int(key)] = datetime.fromisoformat(alerted_for)
    data.open_alerts = await open_alerts(conn, mmsis | set(heard), imos)
    return data


async def open_alerts(conn: AsyncConnection, mmsis: Iterable[int], imos: Iterable[int]
                      ) -> list[dict[str, Any]]:
    """The open (unacknowledged) alerts about these MMSIs or IMOs, each once."""
    found: dict[int, dict[str, Any]] = {}
    clauses: list[tuple[Any, Iterable[int]]] = [(alerts.c.mmsi, mmsis), (alerts.c.imo, imos)]
    for column, values in clauses:
        for chunk in _chunks(values):
            where: ColumnElement[bool] = column.in_(chunk)
            for row in await _rows(conn, select(*ALERT_COLUMNS).where(alerts.c.state == "open", where)):
                found[row["id"]] = row
    return list(found.values())
