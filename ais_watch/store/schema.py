"""Tables. Alembic migrations are the only way the schema changes; a test checks these agree with them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
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

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Every stored fix. No surrogate key: the (mmsi, time) index is what every query uses. On PostgreSQL the
# table is partitioned by day of `time` (ais_watch.store.partitions): a vessel's track is an index range
# scan in the few partitions its period covers, and retention drops or thins whole days. The time index
# is BRIN there: positions arrive in time order, so a tiny block-range index serves fleet-wide time scans.
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
    # Its segment (ais_watch.pipeline.segments) and, for a fix off the vessel's believed track, why
    # (impossible_speed, track_conflict, on_land, gnss_interference). NULL: believed.
    Column("segment", BigInteger),
    Column("anomaly", String(20)),
    Index("ix_positions_mmsi_time", "mmsi", "time"),
    Index("ix_positions_time", "time", postgresql_using="brin"),
    postgresql_partition_by="RANGE (time)",
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
    Column("segment", BigInteger),  # its main segment: the believed track
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

# Fields whose changes are recorded in identity_history.
TRACKED_IDENTITY_FIELDS = ("name", "call_sign", "imo", "ship_type", "destination", "draught")

# ----------------------------------------------------------------------------------------------- alerts
_id_column = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys

# One row per real event. dedup_key is deterministic (kind, vessel, place, event), so the same event
# raised twice, by a replay run again or by two instances, is one alert.
alerts = Table(
    "alerts", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("dedup_key", String(300), nullable=False, unique=True),
    Column("cooldown_key", String(300), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("mmsi", BigInteger),
    Column("imo", Integer),
    Column("vessel_name", String(64)),
    Column("place", String(128)),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("state", String(16), nullable=False),
    Column("details", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("zones", JSON, nullable=False),
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", UtcDateTime),
    Column("ack_note", Text),
    Column("resolved_by", String(64)),
    Column("resolved_at", UtcDateTime),
    Column("resolve_note", Text),
    # The incident it belongs to (ais_watch/alerts/incident_rules.py), set in the alert's own
    # transaction; NULL only for alerts stored before incidents existed.
    Column("incident_id", _id_column,
           ForeignKey("incidents.id", ondelete="SET NULL", name="fk_alerts_incident_id_incidents")),
    Index("ix_alerts_cooldown_key_occurred_at", "cooldown_key", "occurred_at"),
    Index("ix_alerts_occurred_at", "occurred_at"),
    Index("ix_alerts_mmsi_occurred_at", "mmsi", "occurred_at"),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_incident_id", "incident_id"),
)

# ------------------------------------------------------------------------------------------- incidents
# Alerts about one vessel that belong together (a voyage: entry, call, departure, silence, reappearance;
# an encounter and its partner's later moves), with a state, an owner and notes. Times are event times
# of its alerts (opened_at the first, last_alert_at the latest), except the *_at of people's actions.
incidents = Table(
    "incidents", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("subject", String(160), nullable=False),  # whom it is about: "mmsi:...", "imo:...", "place:..."
    Column("mmsi", BigInteger),
    Column("imo", Integer),
    Column("vessel_name", String(64)),
    Column("title", String(200), nullable=False),
    Column("kind", String(32), nullable=False),  # its first alert's kind
    Column("last_kind", String(32), nullable=False),  # the kind of its latest alert in event time
    Column("severity", SmallInteger, nullable=False),  # the highest of its alerts'
    Column("alert_count", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # open, acknowledged, closed
    Column("owner", String(64)),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_alert_at", UtcDateTime, nullable=False),
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", UtcDateTime),
    Column("closed_by", String(64)),
    Column("closed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_incidents_last_alert_at", "last_alert_at"),
    Index("ix_incidents_mmsi_last_alert_at", "mmsi", "last_alert_at"),
    Index("ix_incidents_state_last_alert_at", "state", "last_alert_at"),
)

# Whom an incident is about, by subject key: its own vessel (by MMSI and by IMO), or the place of a
# vessel-less alert, and the partners of its encounters, whose later alerts may join it.
incident_subjects = Table(
    "incident_subjects", metadata,
    Column("incident_id", _id_column, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("subject", String(160), primary_key=True),
    Column("role", String(16), nullable=False),  # own or partner
    Index("ix_incident_subjects_subject", "subject"),
)

# What people wrote on an incident, oldest first.
incident_notes = Table(
    "incident_notes", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("incident_id", _id_column, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("author", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_incident_notes_incident_id", "incident_id"),
)

# The message a threaded notifier (Slack with a bot token) posted first for an incident, per notifier and
# channel: later alerts of the incident are posted as replies to it.
incident_threads = Table(
    "incident_threads", metadata,
    Column("incident_id", _id_column, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("notifier", String(64), primary_key=True),
    Column("scope", String(128), primary_key=True),  # the channel as configured
    Column("channel", String(128), nullable=False),  # the channel as the receiver named it (Slack's ID)
    Column("ts", String(64), nullable=False),  # the parent message's id (Slack's ts)
    Column("alert_id", _id_column, nullable=False),  # the alert that message was
    Column("created_at", UtcDateTime, nullable=False),
)

# The outbox: one row per alert and notifier, committed with the alert; the dispatcher works it off.
deliveries = Table(
    "deliveries", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("alert_id", _id_column, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("notifier", String(64), nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("state", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Column("last_status", Integer),
    Column("last_error", Text),
    Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_deliveries_alert_id", "alert_id"),
)

# Every attempt, for the record: what the receiver answered and when.
delivery_attempts = Table(
    "delivery_attempts", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("delivery_id", _id_column, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status", Integer),
    Column("response", Text),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_delivery_attempts_delivery_id", "delivery_id"),
)

# -------------------------------------------------------------------------------------------- watchlist
# One entry per ship, keyed by what identifies it best: "imo:9179842", else "mmsi:273123456", else
# "name:ANGARA" (a name alone matches weakly: there are two sanctioned MARIAs). Re-importing updates.
watchlist = Table(
    "watchlist", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("key", String(80), nullable=False, unique=True),
    Column("name", String(128)),
    Column("imo", Integer),
    Column("mmsi", BigInteger),
    Column("flag", String(64)),
    Column("reason", Text),
    Column("source", String(200), nullable=False),
    Column("aliases", JSON, nullable=False),  # other names (OFAC a.k.a., earlier names)
    Column("tags", JSON, nullable=False),
    Column("dark_threshold", Float),  # seconds; None: the dark.threshold setting
    # An associated vessel (the partner of a watched ship in an encounter): what it met, where and when,
    # and until when it is watched. NULL for every entry of an imported list.
    Column("association", JSON),
    Column("expires_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_watchlist_imo", "imo"),
    Index("ix_watchlist_mmsi", "mmsi"),
)

# ------------------------------------------------------------------------------------------- port calls
# Every port call of every vessel (watchlisted or not), as Global Fishing Watch records port visits:
# arrival when it entered the port polygon, established once it stopped there for the minimum dwell,
# departure when it left; `evidence` says which of entry, stop, gap (silent in port) and exit were seen.
port_calls = Table(
    "port_calls", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("mmsi", BigInteger, nullable=False),
    Column("imo", Integer),
    Column("vessel_name", String(64)),
    Column("port_id", String(64), nullable=False),
    Column("port_name", String(128), nullable=False),
    Column("country", String(8), nullable=False),
    Column("kind", String(16), nullable=False),  # port or anchorage
    Column("arrival", UtcDateTime, nullable=False),
    Column("established_at", UtcDateTime, nullable=False),
    Column("departure", UtcDateTime),
    Column("duration_seconds", Float),
    Column("evidence", String(32), nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    UniqueConstraint("mmsi", "port_id", "arrival", name="uq_port_calls_mmsi_port_id_arrival"),
    Index("ix_port_calls_port_id_arrival", "port_id", "arrival"),
    Index("ix_port_calls_mmsi_arrival", "mmsi", "arrival"),
)

# ------------------------------------------------------------------------------------------- encounters
# Every encounter of two vessels (watched or not), as Global Fishing Watch records them: close, slow and
# away from ports for long enough. The pair in MMSI order; `end` is NULL while they are still together.
encounters = Table(
    "encounters", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("mmsi_a", BigInteger, nullable=False),
    Column("mmsi_b", BigInteger, nullable=False),
    Column("start", UtcDateTime, nullable=False),
    Column("end", UtcDateTime),
    Column("last_together", UtcDateTime, nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("min_distance_m", Float, nullable=False),
    Column("median_distance_m", Float, nullable=False),
    Column("median_speed_kn", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("shore_distance_nm", Float),
    Column("nearest_port", String(128)),
    Column("port_distance_nm", Float),
    Column("watched", Boolean, nullable=False),
    UniqueConstraint("mmsi_a", "mmsi_b", "start", name="uq_encounters_mmsi_a_mmsi_b_start"),
    Index("ix_encounters_mmsi_a_start", "mmsi_a", "start"),
    Index("ix_encounters_mmsi_b_start", "mmsi_b", "start"),
    Index("ix_encounters_start", "start"),
)

# ------------------------------------------------------------------------------------------ maintenance
# What the position maintenance job has done that the data cannot tell by itself (which days are
# thinned), so a job that runs every hour does each day's work once, whichever instance runs it.
maintenance_marks = Table(
    "maintenance_marks", metadata,
    Column("key", String(100), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# ------------------------------------------------------------------------------------- detector state
# What a detector must remember across a restart that the positions cannot tell it (a zone entry already
# alerted, a silence already reported as went_dark), by detector and key. Written in the same transaction
# as the alerts raised with it; never read back from alert payloads, whose wording may change.
detector_state = Table(
    "detector_state", metadata,
    Column("detector", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# ------------------------------------------------------------------------------------------- API tokens
# Only a hash is stored: the token itself is shown once, when it is created.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer, operator, admin
    Column("name", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("expires_at", UtcDateTime),  # None: until revoked
    # When and from where it was last accepted; written at most once a minute (tokens.TOUCH_EVERY).
    Column("last_used_at", UtcDateTime),
    Column("last_used_from", String(64)),
)

# ------------------------------------------------------------------------------------------- audit log
# Every change made through the API or the CLI: who (token name, or the login name on the CLI), by which
# way, from where, what and to what. Written in the transaction of the change itself, so a change without
# its entry cannot be committed. Never thinned or dropped by retention.
audit_log = Table(
    "audit_log", metadata,
    Column("id", _id_column, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("via", String(8), nullable=False),  # api, cli
    Column("origin", String(128), nullable=False),  # the client's address, or login@host on the CLI
    Column("action", String(48), nullable=False),  # e.g. watchlist.import, alert.ack, token.revoke
    Column("target", String(128), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor_at", "actor", "at"),
)
