"""mailboxes: Gmail and IMAP mailboxes (each an item of the mailbox_syncs lane), the position
in each IMAP folder, and the mail they hold

Revision ID: f6c024c41f9b
Revises: 8a75997a2357
Create Date: 2026-11-29 18:25:13
"""
from alembic import op

import vani.crypto
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'f6c024c41f9b'
down_revision = '8a75997a2357'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mailboxes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('gmail', 'imap', name='mailboxkind', native_enum=False, length=8), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('state', sa.Enum('connected', 'error', 'needs_reconnect', name='mailboxstate', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('idle', 'pending', 'syncing', 'failed', 'dead', name='syncstatus', native_enum=False, length=16), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_sync_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sync_again', sa.Boolean(), nullable=False),
    sa.Column('imap_host', sa.String(length=255), nullable=True),
    sa.Column('imap_port', sa.Integer(), nullable=True),
    sa.Column('imap_user', sa.String(length=320), nullable=True),
    sa.Column('imap_password', vani.crypto.Encrypted(), nullable=True),
    sa.Column('imap_ssl', sa.Boolean(), nullable=False),
    sa.Column('folders', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('access_token', vani.crypto.Encrypted(), nullable=True),
    sa.Column('refresh_token', vani.crypto.Encrypted(), nullable=True),
    sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('history_id', sa.String(length=32), nullable=True),
    sa.Column('watch_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_mailboxes_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailboxes')),
    sa.UniqueConstraint('org_id', 'kind', 'address', name='uq_mailboxes_org_kind_address')
    )
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.create_index('ix_mailboxes_due', ['next_attempt_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('pending', 'failed')"), sqlite_where=sa.text("status IN ('pending', 'failed')"))
        batch_op.create_index('ix_mailboxes_status_lease', ['status', 'lease_expires_at'], unique=False)

    op.create_table('mailbox_folders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mailbox_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailbox_folders_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_mailbox_folders_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailbox_folders')),
    sa.UniqueConstraint('mailbox_id', 'name', name='uq_mailbox_folders_mailbox_name')
    )
    op.create_table('emails',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mailbox_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('prospect_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('provider_message_id', sa.String(length=255), nullable=False),
    sa.Column('message_id', sa.String(length=512), nullable=True),
    sa.Column('thread_id', sa.String(length=512), nullable=True),
    sa.Column('direction', sa.Enum('inbound', 'outbound', name='emaildirection', native_enum=False), nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=True),
    sa.Column('from_name', sa.String(length=255), nullable=True),
    sa.Column('to', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('cc', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('snippet', sa.Text(), nullable=True),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], name=op.f('fk_emails_event_id_webhook_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_emails_mailbox_id_mailboxes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_emails_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_emails_prospect_id_prospects'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emails')),
    sa.UniqueConstraint('mailbox_id', 'provider_message_id', name='uq_emails_mailbox_message')
    )
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.create_index('ix_emails_message_id', ['mailbox_id', 'message_id'], unique=False)
        batch_op.create_index('ix_emails_prospect_time', ['org_id', 'prospect_id', 'sent_at', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_index('ix_emails_prospect_time')
        batch_op.drop_index('ix_emails_message_id')

    op.drop_table('emails')
    op.drop_table('mailbox_folders')
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.drop_index('ix_mailboxes_status_lease')
        batch_op.drop_index('ix_mailboxes_due', postgresql_where=sa.text("status IN ('pending', 'failed')"), sqlite_where=sa.text("status IN ('pending', 'failed')"))

    op.drop_table('mailboxes')
