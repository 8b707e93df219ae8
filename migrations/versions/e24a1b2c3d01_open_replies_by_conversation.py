"""a conversation's replies still to go out, found without reading its whole history

Revision ID: e24a1b2c3d01
Revises: e23e5b6c7d01
Create Date: 2026-12-16 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e24a1b2c3d01'
down_revision = 'e23e5b6c7d01'
branch_labels = None
depends_on = None

OPEN_REPLIES = "status IN ('pending', 'failed', 'sending') AND kind IN ('text', 'template')"


def upgrade():
    op.create_index('ix_message_sends_open_replies', 'message_sends', ['conversation_id', 'id'], unique=False,
                    postgresql_where=sa.text(OPEN_REPLIES), sqlite_where=sa.text(OPEN_REPLIES))


def downgrade():
    op.drop_index('ix_message_sends_open_replies', table_name='message_sends')
