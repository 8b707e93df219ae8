"""token scopes and expiry; tokens made before keep what they could do

Revision ID: d2dc87fb30f5
Revises: 8d8fcf5618a9
Create Date: 2026-11-29 15:55:00

"""
import json

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'd2dc87fb30f5'
down_revision = '8d8fcf5618a9'
branch_labels = None
depends_on = None

# What every token could do before scopes: read, manage subscriptions, emit events, sync Calendly.
LEGACY = ["read", "subscriptions", "emit", "admin"]


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', json_type, nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    cast = "CAST(:s AS JSONB)" if op.get_bind().dialect.name == "postgresql" else ":s"
    op.get_bind().execute(sa.text(f"UPDATE api_tokens SET scopes = {cast}"), {"s": json.dumps(LEGACY)})
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=json_type, nullable=False)


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')
