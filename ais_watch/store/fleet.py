"""What the fleet board reads (ais_watch/fleet.py puts it together): the watchlist entries still watched,
the vessels that may be theirs, their port calls, their open alerts and which of them the dark detector
holds dark. A handful of queries for the whole fleet, never one per vessel; long lists of MMSIs go to SQL
in chunks, under both databases' limits on bound parameters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.store.schema import alerts, detector_state, port_calls, vessels, watchlist

CHUNK = 5000  # values in one IN list (SQLite and asyncpg both stop at 32,767 bound parameters)
VESSEL_COLUMNS = (vessels.c.mmsi, vessels.c.mmsi_valid, vessels.c.name, vessels.c.imo, vessels.c.flag,
                  vessels.c.last_seen, vessels.c.last_lat, vessels.c.last_lon, vessels.c.last_sog,
                  vessels.c.last_cog, vessels.c.last_heading)
CALL_COLUMNS = (port_calls.c.mmsi, port_calls.c.port_id, port_calls.c.port_name, port_calls.c.country,
                port_calls.c.kind, port_calls.c.arrival, port_calls.c.departure)
ANOMALY_COLUMNS = (alerts.c.id, alerts.c.kind, alerts.c.mmsi, alerts.c.imo, alerts.c.occurred_at,
                   alerts.c.details)
WATCHLIST_COLUMNS = (watchlist.c.key, watchlist.c.name, watchlist.c.imo, watchlist.c.mmsi, watchlist.c.flag,
                     watchlist.c.reason, watchlist.c.source, watchlist.c.aliases, watchlist.c.tags,
                     watchlist.c.dark_threshold, watchlist.c.association, watchlist.c.expires_at)


@dataclass
class FleetData:
    """The rows the board is built from, each list in no particular order."""

    vessels: list[dict[str, Any]] = field(default_factory=list)
    open_calls: list[dict[str, Any]] = field(default_factory=list)  # no departure yet
    latest_calls: list[dict[str, Any]] = field(default_factory=list)  # each MMSI's latest arrival
    # The open alerts (nobody has looked at them) counted by (mmsi, imo): {mmsi, imo, open, highest}.
    alert_counts: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)  # open ones of the kinds asked, recent
    dark: dict[int, datetime] = field(default_factory=dict)  # MMSI -> last heard before its went_dark


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


async def _rows(conn: AsyncConnection, query: Select[Any]) -> list[dict[str, Any]]:
    return [r._asdict() for r in (await conn.execute(query)).all()]


async def watchlist_rows(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every watchlist entry, expired associations too, in import order (its columns but id and times)."""
    return await _rows(conn, select(*WATCHLIST_COLUMNS).order_by(watchlist.c.id))


async def fleet_data(conn: AsyncConnection, *, mmsis: Iterable[int], imos: Iterable[int],
                     names: Iterable[str], dark_detector: str, anomaly_kinds: Iterable[str],
                     anomalies_since: datetime) -> FleetData:
    """The vessels with one of these MMSIs, IMOs or names (as stored), and for every one of them its
    open and latest port calls and whether `dark_detector` holds it dark; the open alerts of those
    vessels and of these IMOs, counted, and those of `anomaly_kinds` since `anomalies_since`."""
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
    await _open_alerts(conn, data, mmsis | set(heard), imos, tuple(anomaly_kinds), anomalies_since)
    return data


async def _open_alerts(conn: AsyncConnection, data: FleetData, mmsis: Iterable[int], imos: Iterable[int],
                       anomaly_kinds: tuple[str, ...], since: datetime) -> None:
    """The open alerts about these MMSIs or IMOs counted in SQL by (mmsi, imo), an alert in exactly one
    such group (a vessel can have thousands nobody acknowledged); the anomalies among them, as rows."""
    counts: dict[tuple[int | None, int | None], dict[str, Any]] = {}
    anomalies: dict[int, dict[str, Any]] = {}
    none: list[int] = []
    pairs: Iterable[tuple[list[int], list[int]]] = zip_longest(_chunks(mmsis), _chunks(imos), fillvalue=none)
    for mmsi_chunk, imo_chunk in pairs:
        about = (alerts.c.state == "open", or_(alerts.c.mmsi.in_(mmsi_chunk), alerts.c.imo.in_(imo_chunk)))
        grouped = (select(alerts.c.mmsi, alerts.c.imo, func.count().label("open"),
                          func.max(alerts.c.severity).label("highest"))
                   .where(*about).group_by(alerts.c.mmsi, alerts.c.imo))
        for row in await _rows(conn, grouped):  # the same group whichever chunk found it
            counts[(row["mmsi"], row["imo"])] = row
        recent = select(*ANOMALY_COLUMNS).where(*about, alerts.c.kind.in_(anomaly_kinds),
                                                alerts.c.occurred_at >= since)
        for row in await _rows(conn, recent):
            anomalies[row["id"]] = row
    data.alert_counts = list(counts.values())
    data.anomalies = list(anomalies.values())
