"""subscription shaping: payload filters, custom headers (encrypted), pause and a rate limit

Revision ID: ed863bbbfb28
Revises: 13f289c3cb8c
Create Date: 2026-11-29 21:27:23
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import vani.crypto

revision = 'ed863bbbfb28'
down_revision = '13f289c3cb8c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        # Existing subscriptions get no conditions (every event of their types, as before).
        batch_op.add_column(sa.Column('filter', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                                      nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('headers', vani.crypto.Encrypted(), nullable=True))
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rate_limit', sa.Integer(), nullable=True))
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.alter_column('filter', server_default=None)


def downgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('rate_limit')
        batch_op.drop_column('paused_at')
        batch_op.drop_column('headers')
        batch_op.drop_column('filter')
