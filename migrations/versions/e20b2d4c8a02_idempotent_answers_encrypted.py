"""idempotent answers encrypted: the stored answer to a repeated request is a Fernet token

Revision ID: e20b2d4c8a02
Revises: e20a1c3b7f01
Create Date: 2026-12-07 08:20:00

An answer may hold a secret (a subscription's create or rotate answer shows its whsec_ key), so
``idempotent_requests.body`` becomes text holding a Fernet token under VANI_ENCRYPTION_KEYS.
Existing rows are dropped rather than converted: they live 24 hours, and a repeat of one of
those requests with its key simply runs again. The downgrade drops them the same way.
"""
from alembic import op
import sqlalchemy as sa

revision = 'e20b2d4c8a02'
down_revision = 'e20a1c3b7f01'
branch_labels = None
depends_on = None


def _replace_body(type_) -> None:
    op.execute("DELETE FROM idempotent_requests")
    with op.batch_alter_table('idempotent_requests', schema=None) as batch_op:
        batch_op.drop_column('body')
    with op.batch_alter_table('idempotent_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body', type_, nullable=True))


def upgrade():
    _replace_body(sa.Text())


def downgrade():
    _replace_body(sa.LargeBinary())
