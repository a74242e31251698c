"""port calls

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:01:32.205631
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('port_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mmsi', sa.BigInteger(), nullable=False),
    sa.Column('imo', sa.Integer(), nullable=True),
    sa.Column('vessel_name', sa.String(length=64), nullable=True),
    sa.Column('port_id', sa.String(length=64), nullable=False),
    sa.Column('port_name', sa.String(length=128), nullable=False),
    sa.Column('country', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('arrival', sa.DateTime(timezone=True), nullable=False),
    sa.Column('established_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('departure', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('evidence', sa.String(length=32), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_port_calls')),
    sa.UniqueConstraint('mmsi', 'port_id', 'arrival', name='uq_port_calls_mmsi_port_id_arrival')
    )
    with op.batch_alter_table('port_calls', schema=None) as batch_op:
        batch_op.create_index('ix_port_calls_mmsi_arrival', ['mmsi', 'arrival'], unique=False)
        batch_op.create_index('ix_port_calls_port_id_arrival', ['port_id', 'arrival'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('port_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_port_calls_port_id_arrival')
        batch_op.drop_index('ix_port_calls_mmsi_arrival')

    op.drop_table('port_calls')
