"""outbound events by organisation and time: counting an organisation's custom emits of the last minute

Revision ID: e20c3e5d9b03
Revises: e20b2d4c8a02
Create Date: 2026-12-07 09:00:00
"""
from alembic import op

revision = 'e20c3e5d9b03'
down_revision = 'e20b2d4c8a02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_events', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_events_created', ['org_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('outbound_events', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_events_created')
