"""positions partitioned by day on PostgreSQL; maintenance marks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 08:40:00

On PostgreSQL the plain positions table becomes a table partitioned by range of `time`, one partition per
UTC day (ais_watch.store.partitions), with the time index as BRIN. Existing rows are copied into their
days' partitions: on a large table this takes a while, once. SQLite keeps its one table.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ais_watch.store.partitions import create_partitions

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _positions_columns() -> list[sa.Column]:
    return [
        sa.Column('mmsi', sa.BigInteger(), nullable=False),
        sa.Column('time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('sog', sa.Float(), nullable=True),
        sa.Column('cog', sa.Float(), nullable=True),
        sa.Column('heading', sa.SmallInteger(), nullable=True),
        sa.Column('nav_status', sa.SmallInteger(), nullable=True),
        sa.Column('msg_type', sa.SmallInteger(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('station', sa.String(length=64), nullable=True),
    ]


def _set_aside_positions() -> None:
    op.rename_table('positions', 'positions_old')
    op.execute('ALTER INDEX ix_positions_mmsi_time RENAME TO ix_positions_old_mmsi_time')
    op.execute('ALTER INDEX ix_positions_time RENAME TO ix_positions_old_time')


def upgrade() -> None:
    op.create_table('maintenance_marks',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_maintenance_marks'))
    )
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    _set_aside_positions()
    op.create_table('positions', *_positions_columns(), postgresql_partition_by='RANGE (time)')
    op.create_index('ix_positions_mmsi_time', 'positions', ['mmsi', 'time'])
    op.create_index('ix_positions_time', 'positions', ['time'], postgresql_using='brin')
    days = [d for (d,) in bind.execute(sa.text(
        "SELECT DISTINCT (time AT TIME ZONE 'UTC')::date FROM positions_old"))]
    create_partitions(bind, days)
    op.execute('INSERT INTO positions SELECT * FROM positions_old')
    op.drop_table('positions_old')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _set_aside_positions()
        op.create_table('positions', *_positions_columns())
        op.create_index('ix_positions_mmsi_time', 'positions', ['mmsi', 'time'])
        op.create_index('ix_positions_time', 'positions', ['time'])
        op.execute('INSERT INTO positions SELECT * FROM positions_old')
        op.execute('DROP TABLE positions_old CASCADE')
    op.drop_table('maintenance_marks')
