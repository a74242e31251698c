"""detector state kept in its own table

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 06:20:00

Detectors used to rebuild their restart state from alert payloads (zone entries from
`details.entered_at`, went_dark from `details.last_seen`). They now keep it in `detector_state`; this
migration carries the state the alerts held over once, so an upgrade neither repeats an open zone entry
nor a went_dark.
"""
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table('detector_state',
    sa.Column('detector', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('detector', 'key', name=op.f('pk_detector_state'))
    )
    rows = _state_from_alerts(op.get_bind())
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table('detector_state')


def _state_from_alerts(conn: sa.Connection) -> list[dict[str, Any]]:
    alerts = sa.table('alerts', sa.column('id'), sa.column('kind'), sa.column('mmsi'), sa.column('place'),
                      sa.column('occurred_at'), sa.column('details', sa.JSON()))
    zones: dict[str, dict[str, Any] | None] = {}
    dark: dict[str, dict[str, Any]] = {}
    result = conn.execute(sa.select(alerts.c.kind, alerts.c.mmsi, alerts.c.place, alerts.c.details)
                          .where(alerts.c.kind.in_(('zone_entry', 'zone_exit', 'went_dark')))
                          .order_by(alerts.c.occurred_at, alerts.c.id))
    for kind, mmsi, place, details in result:
        details = details or {}
        if kind == 'went_dark':
            if mmsi is not None and details.get('last_seen'):
                dark[str(mmsi)] = {'alerted_for': details['last_seen']}
            continue
        zone_id, since = details.get('zone_id'), details.get('entered_at')
        if mmsi is None or not zone_id or not since:
            continue
        key = f'{mmsi}:{zone_id}'
        zones[key] = {'entered_at': since, 'zone_name': place} if kind == 'zone_entry' else None
    now = datetime.now(UTC)
    return ([{'detector': 'zones', 'key': k, 'state': v, 'updated_at': now} for k, v in zones.items() if v]
            + [{'detector': 'dark', 'key': k, 'state': v, 'updated_at': now} for k, v in dark.items()])
