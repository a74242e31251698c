"""incidents: alerts that belong together, with a state, an owner, notes and Slack threads

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00

Alerts about one vessel that belong together (a voyage, an encounter and its partner's later moves) form
an incident; each alert names its incident. Alerts stored before this revision keep incident_id NULL.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('subject', sa.String(length=160), nullable=False),
    sa.Column('mmsi', sa.BigInteger(), nullable=True),
    sa.Column('imo', sa.Integer(), nullable=True),
    sa.Column('vessel_name', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('last_kind', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.SmallInteger(), nullable=False),
    sa.Column('alert_count', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_alert_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    op.create_index('ix_incidents_last_alert_at', 'incidents', ['last_alert_at'], unique=False)
    op.create_index('ix_incidents_mmsi_last_alert_at', 'incidents', ['mmsi', 'last_alert_at'], unique=False)
    op.create_index('ix_incidents_state_last_alert_at', 'incidents', ['state', 'last_alert_at'], unique=False)

    op.create_table('incident_subjects',
    sa.Column('incident_id', ID, nullable=False),
    sa.Column('subject', sa.String(length=160), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'subject', name=op.f('pk_incident_subjects'))
    )
    op.create_index('ix_incident_subjects_subject', 'incident_subjects', ['subject'], unique=False)

    op.create_table('incident_notes',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('incident_id', ID, nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_notes'))
    )
    op.create_index('ix_incident_notes_incident_id', 'incident_notes', ['incident_id'], unique=False)

    op.create_table('incident_threads',
    sa.Column('incident_id', ID, nullable=False),
    sa.Column('notifier', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('ts', sa.String(length=64), nullable=False),
    sa.Column('alert_id', ID, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'notifier', 'scope', name=op.f('pk_incident_threads'))
    )

    # Batch mode: SQLite cannot add a foreign key to an existing table, so it copies the table.
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_alerts_incident_id_incidents'), 'incidents',
                                    ['incident_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_alerts_incident_id', ['incident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_incident_id')
        batch_op.drop_constraint(batch_op.f('fk_alerts_incident_id_incidents'), type_='foreignkey')
        batch_op.drop_column('incident_id')
    op.drop_table('incident_threads')
    op.drop_index('ix_incident_notes_incident_id', table_name='incident_notes')
    op.drop_table('incident_notes')
    op.drop_index('ix_incident_subjects_subject', table_name='incident_subjects')
    op.drop_table('incident_subjects')
    op.drop_index('ix_incidents_state_last_alert_at', table_name='incidents')
    op.drop_index('ix_incidents_mmsi_last_alert_at', table_name='incidents')
    op.drop_index('ix_incidents_last_alert_at', table_name='incidents')
    op.drop_table('incidents')
