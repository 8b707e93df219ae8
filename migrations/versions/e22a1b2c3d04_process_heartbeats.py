"""process heartbeats: a row per live worker, scheduler and mail watcher (flask vani status)

Revision ID: e22a1b2c3d04
Revises: e20c3e5d9b03
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'e22a1b2c3d04'
down_revision = 'e20c3e5d9b03'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('process_heartbeats',
    sa.Column('id', BIG, nullable=False),
    sa.Column('role', sa.Enum('worker', 'scheduler', 'mail_watcher', name='processrole', native_enum=False,
                              length=16), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('lanes', JSON, nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_beat', sa.DateTime(timezone=True), nullable=False),
    sa.Column('leading', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_heartbeats'))
    )
    with op.batch_alter_table('process_heartbeats', schema=None) as batch_op:
        batch_op.create_index('ix_process_heartbeats_last_beat', ['last_beat'], unique=False)


def downgrade():
    with op.batch_alter_table('process_heartbeats', schema=None) as batch_op:
        batch_op.drop_index('ix_process_heartbeats_last_beat')
    op.drop_table('process_heartbeats')
