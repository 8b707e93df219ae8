"""request ids: the webhook or API call an event, an outbound event or a notification follows from
(logs follow it from the request to the worker)

Revision ID: 13f289c3cb8c
Revises: 1eed2210bed9
Create Date: 2026-11-29 21:24:20
"""
from alembic import op
import sqlalchemy as sa

revision = '13f289c3cb8c'
down_revision = '1eed2210bed9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))

    with op.batch_alter_table('outbound_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))

    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))



def downgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_column('request_id')

    with op.batch_alter_table('outbound_events', schema=None) as batch_op:
        batch_op.drop_column('request_id')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('request_id')

