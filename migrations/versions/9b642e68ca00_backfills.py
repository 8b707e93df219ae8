"""backfills: "send every event since T that matches this subscription", as durable work

Revision ID: 9b642e68ca00
Revises: 4c78c1148ada
Create Date: 2026-11-29 21:41:54
"""
from alembic import op
import sqlalchemy as sa

revision = '9b642e68ca00'
down_revision = '4c78c1148ada'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subscription_backfills',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscription_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('scanned', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'running', 'failed', 'done', 'dead', name='backfillstatus', native_enum=False, length=16), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_subscription_backfills_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'], name=op.f('fk_subscription_backfills_subscription_id_webhook_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_backfills'))
    )
    with op.batch_alter_table('subscription_backfills', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_backfills_due', ['next_attempt_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('pending', 'failed')"), sqlite_where=sa.text("status IN ('pending', 'failed')"))
        batch_op.create_index('ix_subscription_backfills_org', ['org_id'], unique=False)
        batch_op.create_index('ix_subscription_backfills_subscription', ['subscription_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('subscription_backfills', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_backfills_subscription')
        batch_op.drop_index('ix_subscription_backfills_org')
        batch_op.drop_index('ix_subscription_backfills_due', postgresql_where=sa.text("status IN ('pending', 'failed')"), sqlite_where=sa.text("status IN ('pending', 'failed')"))

    op.drop_table('subscription_backfills')
