"""meetings by status and end time: finding the meetings whose end time has passed

Revision ID: e23d4a5b6c01
Revises: e23c3d4e5f01
Create Date: 2026-12-14 09:00:00
"""
from alembic import op

revision = 'e23d4a5b6c01'
down_revision = 'e23c3d4e5f01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.create_index('ix_meetings_status_end', ['status', 'end_at'], unique=False)


def downgrade():
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_index('ix_meetings_status_end')
