"""The bundled real recordings (ais_watch/data/demo/, licences in its SOURCES.md) replayed through
`ais-watch replay` into a database, and a database's positions read back whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.cli import main
from ais_watch.store.schema import positions
from tests.helpers.paths import DEMO_DATA

RECORDINGS = sorted(DEMO_DATA.glob("*.nmea*"))  # Australia 2012 (two), Denmark 2013


def replay(db_url: str, *paths: Path) -> None:
    """`ais-watch replay` of the bundled recordings and `paths`, in this process."""
    assert main(["--db", db_url, "replay", *map(str, [*RECORDINGS, *paths]), "--no-progress"]) == 0


async def every_position(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    """Every stored position, every column, in one order whatever the database's."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(positions))).all()
    return sorted((tuple(r) for r in rows), key=repr)
