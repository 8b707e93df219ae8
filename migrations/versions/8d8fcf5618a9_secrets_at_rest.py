"""secrets at rest: provider and subscription secrets encrypted with VANI_ENCRYPTION_KEYS

Revision ID: 8d8fcf5618a9
Revises: b305d546599e
Create Date: 2026-11-29 15:40:00

The columns become text holding Fernet tokens, and every existing value is encrypted here
(with the first of ``VANI_ENCRYPTION_KEYS``); a downgrade decrypts them back.
"""
from alembic import op
import sqlalchemy as sa

revision = '8d8fcf5618a9'
down_revision = 'b305d546599e'
branch_labels = None
depends_on = None

COLUMNS = (("provider_credentials", "value", 512, False), ("webhook_subscriptions", "secret", 255, False),
           ("webhook_subscriptions", "previous_secret", 255, True))


def _convert(transform) -> None:
    conn = op.get_bind()
    for table, column, _, _ in COLUMNS:
        rows = conn.execute(sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
        for row_id, value in rows:
            conn.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                         {"v": transform(value), "id": row_id})


def upgrade():
    from vani import crypto

    for table, column, length, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.VARCHAR(length=length), type_=sa.Text(),
                                  existing_nullable=nullable)
    _convert(crypto.encrypt)


def downgrade():
    from vani import crypto

    _convert(crypto.decrypt)
    for table, column, length, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Text(), type_=sa.VARCHAR(length=length),
                                  existing_nullable=nullable)
