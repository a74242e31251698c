"""token expiry and use, audit log

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:40:00

API tokens gain an optional expiry and when and from where they were last used; every change made through
the API or the CLI is recorded in audit_log. Tokens created before this revision never expire.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_used_from', sa.String(length=64), nullable=True))
    op.create_table('audit_log',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('origin', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_actor_at', 'audit_log', ['actor', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_actor_at', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('last_used_from')
        batch.drop_column('last_used_at')
        batch.drop_column('expires_at')
