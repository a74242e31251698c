"""positions, vessels, identity history

Revision ID: 0001
Revises:
Create Date: 2026-11-29 05:06:28.474166
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('identity_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mmsi', sa.BigInteger(), nullable=False),
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_history'))
    )
    with op.batch_alter_table('identity_history', schema=None) as batch_op:
        batch_op.create_index('ix_identity_history_mmsi_time', ['mmsi', 'time'], unique=False)

    op.create_table('positions',
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
    sa.Column('station', sa.String(length=64), nullable=True)
    )
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.create_index('ix_positions_mmsi_time', ['mmsi', 'time'], unique=False)
        batch_op.create_index('ix_positions_time', ['time'], unique=False)

    op.create_table('vessels',
    sa.Column('mmsi', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('mmsi_valid', sa.Boolean(), nullable=False),
    sa.Column('flag', sa.String(length=2), nullable=True),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.Column('call_sign', sa.String(length=16), nullable=True),
    sa.Column('imo', sa.Integer(), nullable=True),
    sa.Column('ship_type', sa.SmallInteger(), nullable=True),
    sa.Column('to_bow', sa.SmallInteger(), nullable=True),
    sa.Column('to_stern', sa.SmallInteger(), nullable=True),
    sa.Column('to_port', sa.SmallInteger(), nullable=True),
    sa.Column('to_starboard', sa.SmallInteger(), nullable=True),
    sa.Column('draught', sa.Float(), nullable=True),
    sa.Column('destination', sa.String(length=64), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_lat', sa.Float(), nullable=True),
    sa.Column('last_lon', sa.Float(), nullable=True),
    sa.Column('last_sog', sa.Float(), nullable=True),
    sa.Column('last_cog', sa.Float(), nullable=True),
    sa.Column('last_heading', sa.SmallInteger(), nullable=True),
    sa.Column('last_nav_status', sa.SmallInteger(), nullable=True),
    sa.Column('last_source', sa.String(length=64), nullable=True),
    sa.Column('static_updated', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('mmsi', name=op.f('pk_vessels'))
    )
    with op.batch_alter_table('vessels', schema=None) as batch_op:
        batch_op.create_index('ix_vessels_imo', ['imo'], unique=False)
        batch_op.create_index('ix_vessels_name', ['name'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vessels', schema=None) as batch_op:
        batch_op.drop_index('ix_vessels_name')
        batch_op.drop_index('ix_vessels_imo')

    op.drop_table('vessels')
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_index('ix_positions_time')
        batch_op.drop_index('ix_positions_mmsi_time')

    op.drop_table('positions')
    with op.batch_alter_table('identity_history', schema=None) as batch_op:
        batch_op.drop_index('ix_identity_history_mmsi_time')

    op.drop_table('identity_history')
