"""watchlist

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:31:41.245449
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('watchlist',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=True),
    sa.Column('imo', sa.Integer(), nullable=True),
    sa.Column('mmsi', sa.BigInteger(), nullable=True),
    sa.Column('flag', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('dark_threshold', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watchlist')),
    sa.UniqueConstraint('key', name=op.f('uq_watchlist_key'))
    )
    with op.batch_alter_table('watchlist', schema=None) as batch_op:
        batch_op.create_index('ix_watchlist_imo', ['imo'], unique=False)
        batch_op.create_index('ix_watchlist_mmsi', ['mmsi'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('watchlist', schema=None) as batch_op:
        batch_op.drop_index('ix_watchlist_mmsi')
        batch_op.drop_index('ix_watchlist_imo')

    op.drop_table('watchlist')
