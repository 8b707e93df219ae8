"""subscription signature: Standard Webhooks (the default) or an X-Signature hex HMAC-SHA256 of the body

Revision ID: e23a1b2c3d01
Revises: e22b3c4d5e06
Create Date: 2026-12-07 14:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'e23a1b2c3d01'
down_revision = 'e22b3c4d5e06'
branch_labels = None
depends_on = None

SCHEMES = ('standard-webhooks', 'hmac-sha256')


def upgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        # Existing subscriptions keep Standard Webhooks, as before.
        batch_op.add_column(sa.Column('signature', sa.Enum(*SCHEMES, name='signaturescheme', native_enum=False,
                                                           length=32),
                                      nullable=False, server_default='standard-webhooks'))
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.alter_column('signature', server_default=None)


def downgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('signature')
