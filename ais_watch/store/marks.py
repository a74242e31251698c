"""maintenance_marks: what the position maintenance job needs to know that the positions cannot tell it.

- `positions.thinned_through`: every day before this one has been through thinning (a watermark, so an
  hourly job does each day's work once, whichever instance runs it);
- `replayed.YYYY-MM-DD`: that UTC day holds positions `ais-watch replay` brought in (history someone chose
  to load), `full` until an explicit `ais-watch maintain` thins it, then `thinned`. The service's
  scheduled job leaves these days alone. The store writer of a replay writes the mark in the same
  transaction as the day's first positions, so no replayed row is ever unmarked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ais_watch.store.schema import maintenance_marks

THINNED_THROUGH = "positions.thinned_through"
REPLAYED = "replayed."
FULL, THINNED = "full", "thinned"  # a replayed day's state


def replayed_key(day: date) -> str:
    return f"{REPLAYED}{day.isoformat()}"


async def read_mark(conn: AsyncConnection, key: str) -> str | None:
    value = (await conn.execute(select(maintenance_marks.c.value)
                                .where(maintenance_marks.c.key == key))).scalar()
    return None if value is None else str(value)


async def set_marks(conn: AsyncConnection, marks: dict[str, str]) -> None:
    """Insert or overwrite these marks (two instances, or a replay and the job, may write one at once)."""
    if not marks:
        return
    dialect = conn.dialect.name
    stmt = (postgresql.insert(maintenance_marks) if dialect == "postgresql"
            else sqlite.insert(maintenance_marks))
    stmt = stmt.on_conflict_do_update(index_elements=[maintenance_marks.c.key],
                                      set_={"value": stmt.excluded.value,
                                            "updated_at": stmt.excluded.updated_at})
    now = datetime.now(UTC)
    await conn.execute(stmt, [{"key": k, "value": v, "updated_at": now} for k, v in sorted(marks.items())])


async def mark_replayed(conn: AsyncConnection, days: Iterable[date]) -> None:
    """These days hold replayed positions in full detail (again, if an earlier replay's were thinned)."""
    await set_marks(conn, {replayed_key(day): FULL for day in days})


async def replayed_days(conn: AsyncConnection) -> dict[date, str]:
    """Every day a replay brought positions into, with its state (FULL or THINNED)."""
    rows = await conn.execute(select(maintenance_marks.c.key, maintenance_marks.c.value)
                              .where(maintenance_marks.c.key.startswith(REPLAYED)))
    days = {}
    for key, value in rows:
        try:
            days[date.fromisoformat(key.removeprefix(REPLAYED))] = str(value)
        except ValueError:
            continue  # not a mark of ours
    return days


async def forget_replayed(conn: AsyncConnection, days: Iterable[date]) -> None:
    """The days' positions are gone (dropped): nothing of them is left to leave alone."""
    keys = [replayed_key(day) for day in days]
    if keys:
        await conn.execute(delete(maintenance_marks).where(maintenance_marks.c.key.in_(keys)))
