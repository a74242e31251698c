"""encounters and associated vessels

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:40:00

Every encounter of two vessels (close, slow, away from ports for long enough), and on watchlist entries
what makes one an associated vessel (the partner of a watched ship in an encounter) and until when.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('encounters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mmsi_a', sa.BigInteger(), nullable=False),
    sa.Column('mmsi_b', sa.BigInteger(), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_together', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=False),
    sa.Column('min_distance_m', sa.Float(), nullable=False),
    sa.Column('median_distance_m', sa.Float(), nullable=False),
    sa.Column('median_speed_kn', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('shore_distance_nm', sa.Float(), nullable=True),
    sa.Column('nearest_port', sa.String(length=128), nullable=True),
    sa.Column('port_distance_nm', sa.Float(), nullable=True),
    sa.Column('watched', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_encounters')),
    sa.UniqueConstraint('mmsi_a', 'mmsi_b', 'start', name='uq_encounters_mmsi_a_mmsi_b_start')
    )
    op.create_index('ix_encounters_mmsi_a_start', 'encounters', ['mmsi_a', 'start'], unique=False)
    op.create_index('ix_encounters_mmsi_b_start', 'encounters', ['mmsi_b', 'start'], unique=False)
    op.create_index('ix_encounters_start', 'encounters', ['start'], unique=False)
    op.add_column('watchlist', sa.Column('association', sa.JSON(), nullable=True))
    op.add_column('watchlist', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('watchlist', 'expires_at')
    op.drop_column('watchlist', 'association')
    op.drop_index('ix_encounters_start', table_name='encounters')
    op.drop_index('ix_encounters_mmsi_b_start', table_name='encounters')
    op.drop_index('ix_encounters_mmsi_a_start', table_name='encounters')
    op.drop_table('encounters')
