"""provider connections: an organisation's OAuth grant at a provider ("Connect Calendly")

Revision ID: c4e2a7f1d305
Revises: 7a1c0e5d9b42
Create Date: 2026-11-29 17:10:00

One row per organisation and provider: the account reached, the tokens (encrypted with
``VANI_ENCRYPTION_KEYS``), their expiry, and the webhook subscription made with them.
"""
import sqlalchemy as sa
from alembic import op

import vani.crypto

revision = 'c4e2a7f1d305'
down_revision = '7a1c0e5d9b42'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'provider_connections',
        sa.Column('id', BIG, nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('account_uri', sa.String(length=512), nullable=True),
        sa.Column('account_name', sa.String(length=255), nullable=True),
        sa.Column('account_email', sa.String(length=320), nullable=True),
        sa.Column('organization_uri', sa.String(length=512), nullable=True),
        sa.Column('access_token', vani.crypto.Encrypted(), nullable=False),
        sa.Column('refresh_token', vani.crypto.Encrypted(), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('subscription_uri', sa.String(length=512), nullable=True),
        sa.Column('subscription_state', sa.Enum('active', 'disabled', 'missing', 'unknown', name='subscriptionstate',
                                                native_enum=False, length=16), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('state', sa.Enum('connected', 'needs_reconnect', name='connectionstate', native_enum=False,
                                   length=16), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('org_id', BIG, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'],
                                name=op.f('fk_provider_connections_org_id_organisations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_connections')),
        sa.UniqueConstraint('org_id', 'provider', name='uq_provider_connections_org_provider'),
    )


def downgrade():
    op.drop_table('provider_connections')
