"""event subject indexes hold processed rows only: a waiting event has no subject yet, so
ingest's INSERT skips both indexes

Revision ID: 9e4b1c7d2a60
Revises: 5d3618f8ced3
Create Date: 2026-11-29 20:55:00
"""
from alembic import op
import sqlalchemy as sa

revision = '9e4b1c7d2a60'
down_revision = '5d3618f8ced3'
branch_labels = None
depends_on = None

COLUMNS = ('subject_email', 'subject_ref')


def upgrade():
    for column in COLUMNS:
        name = f'ix_webhook_events_{column}'
        where = sa.text(f'{column} IS NOT NULL')
        op.drop_index(name, table_name='webhook_events')
        op.create_index(name, 'webhook_events', ['org_id', column], postgresql_where=where, sqlite_where=where)


def downgrade():
    for column in COLUMNS:
        name = f'ix_webhook_events_{column}'
        op.drop_index(name, table_name='webhook_events')
        op.create_index(name, 'webhook_events', ['org_id', column])
