"""position segments and marks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00

Each position's segment (a track the vessel could physically have sailed) and, for a fix off the vessel's
believed track, why it is not believed; each vessel's main segment. Existing rows keep NULL: believed,
segment unknown.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On PostgreSQL positions is partitioned: a column added to the parent reaches every partition.
    op.add_column('positions', sa.Column('segment', sa.BigInteger(), nullable=True))
    op.add_column('positions', sa.Column('anomaly', sa.String(length=20), nullable=True))
    op.add_column('vessels', sa.Column('segment', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('vessels', 'segment')
    op.drop_column('positions', 'anomaly')
    op.drop_column('positions', 'segment')
