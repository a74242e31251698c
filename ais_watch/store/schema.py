"""Tables. Alembic migrations are the only way the schema changes; a test checks these agree with them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL (timestamptz) and SQLite (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Every stored fix. No surrogate key: the (mmsi, time) index is what every query uses, and on
# PostgreSQL the table can be partitioned by time without a key that spans partitions.
positions = Table(
    "positions", metadata,
    Column("mmsi", BigInteger, nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("sog", Float),
    Column("cog", Float),
    Column("heading", SmallInteger),
    Column("nav_status", SmallInteger),
    Column("msg_type", SmallInteger, nullable=False),
    Column("source", String(64), nullable=False),
    Column("station", String(64)),
    Index("ix_positions_mmsi_time", "mmsi", "time"),
    Index("ix_positions_time", "time"),
)

# One row per vessel: the latest static data and the latest position.
vessels = Table(
    "vessels", metadata,
    Column("mmsi", BigInteger, primary_key=True, autoincrement=False),
    Column("mmsi_valid", Boolean, nullable=False),
    Column("flag", String(2)),
    Column("name", String(64)),
    Column("call_sign", String(16)),
    Column("imo", Integer),
    Column("ship_type", SmallInteger),
    Column("to_bow", SmallInteger),
    Column("to_stern", SmallInteger),
    Column("to_port", SmallInteger),
    Column("to_starboard", SmallInteger),
    Column("draught", Float),
    Column("destination", String(64)),
    Column("first_seen", UtcDateTime),
    Column("last_seen", UtcDateTime),
    Column("last_lat", Float),
    Column("last_lon", Float),
    Column("last_sog", Float),
    Column("last_cog", Float),
    Column("last_heading", SmallInteger),
    Column("last_nav_status", SmallInteger),
    Column("last_source", String(64)),
    Column("static_updated", UtcDateTime),
    Index("ix_vessels_imo", "imo"),
    Index("ix_vessels_name", "name"),
)

# Every change of a vessel's identity: a sanctioned ship renamed or re-flagged keeps its IMO.
identity_history = Table(
    "identity_history", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("mmsi", BigInteger, nullable=False),
    Column("field", String(16), nullable=False),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("time", UtcDateTime, nullable=False),
    Column("source", String(64), nullable=False),
    Index("ix_identity_history_mmsi_time", "mmsi", "time"),
)

# Fields whose changes are recorded in identity_history (the issue names these five).
TRACKED_IDENTITY_FIELDS = ("name", "call_sign", "imo", "destination", "draught")
