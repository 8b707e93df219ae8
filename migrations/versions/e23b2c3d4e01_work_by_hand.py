"""work by hand: who wrote a note, and an organisation's choice to send read receipts on arrival

Revision ID: e23b2c3d4e01
Revises: e23a1b2c3d01
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'e23b2c3d4e01'
down_revision = 'e23a1b2c3d01'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('prospect_notes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author_id', BIG, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_prospect_notes_author_id_users'), 'users',
                                    ['author_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mark_read_on_arrival', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('mark_read_on_arrival')
    with op.batch_alter_table('prospect_notes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_prospect_notes_author_id_users'), type_='foreignkey')
        batch_op.drop_column('author_id')
