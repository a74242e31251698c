"""What detectors read back at start: their own saved state (`detector_state`) and the open port calls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.store.schema import detector_state, port_calls

StateChanges = dict[tuple[str, str], dict[str, Any] | None]  # (detector, key) -> state, None: forget it


async def load(conn: AsyncConnection, detector: str) -> dict[str, dict[str, Any]]:
    rows = await conn.execute(select(detector_state.c.key, detector_state.c.state)
                              .where(detector_state.c.detector == detector))
    return {key: state for key, state in rows}


async def save(conn: AsyncConnection, changes: StateChanges) -> None:
    """Upsert the states given, delete those given as None, in the caller's transaction."""
    gone = [pair for pair, state in changes.items() if state is None]
    kept = [{"detector": detector, "key": key, "state": state, "updated_at": datetime.now(UTC)}
            for (detector, key), state in changes.items() if state is not None]
    if gone:
        await conn.execute(delete(detector_state).where(
            tuple_(detector_state.c.detector, detector_state.c.key).in_(gone)))
    if kept:
        insert = (postgresql.insert(detector_state) if conn.dialect.name == "postgresql"
                  else sqlite.insert(detector_state))
        await conn.execute(insert.on_conflict_do_update(
            index_elements=[detector_state.c.detector, detector_state.c.key],
            set_={"state": insert.excluded.state, "updated_at": insert.excluded.updated_at}), kept)


async def open_port_calls(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Port calls with no departure yet: a restart carries them on instead of starting them anew."""
    rows = await conn.execute(select(port_calls).where(port_calls.c.departure.is_(None)))
    return [dict(row) for row in rows.mappings()]
