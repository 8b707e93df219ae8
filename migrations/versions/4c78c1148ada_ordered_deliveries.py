"""ordered deliveries: a subscription may send each prospect's deliveries in event order

Revision ID: 4c78c1148ada
Revises: ed863bbbfb28
Create Date: 2026-11-29 21:45:00
"""
from alembic import op
import sqlalchemy as sa

revision = '4c78c1148ada'
down_revision = 'ed863bbbfb28'
branch_labels = None
depends_on = None

WAITING = sa.text("status IN ('pending', 'delivering')")


def upgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ordering_key', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_webhook_deliveries_ordering', ['subscription_id', 'ordering_key', 'outbound_event_id'],
                              unique=False, postgresql_where=WAITING, sqlite_where=WAITING)
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ordered', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.alter_column('ordered', server_default=None)


def downgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('ordered')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_ordering')
        batch_op.drop_column('ordering_key')
