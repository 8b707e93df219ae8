"""lease owner: the heartbeat row of the process holding a work item's lease, so that the sweep
takes a killed process's work over as soon as its heartbeat stops

Revision ID: e22b3c4d5e06
Revises: e22a1b2c3d04
Create Date: 2026-12-07 15:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'e22b3c4d5e06'
down_revision = 'e22a1b2c3d04'
branch_labels = None
depends_on = None

TABLES = ('webhook_events', 'webhook_deliveries', 'subscription_backfills', 'notification_sends',
          'message_sends', 'mailboxes')
BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('lease_owner', BIG, nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('lease_owner')
