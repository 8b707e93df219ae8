"""whatsapp replies: sends (replies and read receipts) with their attempts, auto-reply rules,
conversation assignment and read position, and who or what sent a message

Revision ID: 8a75997a2357
Revises: c4e2a7f1d305
Create Date: 2026-11-29 17:53:15
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '8a75997a2357'
down_revision = 'c4e2a7f1d305'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('autoreply_rules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('trigger', sa.Enum('first_message', 'keyword', 'pattern', 'outside_hours', name='ruletrigger', native_enum=False, length=16), nullable=False),
    sa.Column('match', sa.String(length=500), nullable=True),
    sa.Column('hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reply_text', sa.Text(), nullable=True),
    sa.Column('template', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_autoreply_rules_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_autoreply_rules'))
    )
    with op.batch_alter_table('autoreply_rules', schema=None) as batch_op:
        batch_op.create_index('ix_autoreply_rules_org_position', ['org_id', 'position', 'id'], unique=False)

    op.create_table('message_sends',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.Enum('text', 'template', 'read', name='sendkind', native_enum=False, length=16), nullable=False),
    sa.Column('intent_key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'failed', 'sent', 'dead', name='outgoingstatus', native_enum=False, length=16), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('send_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_message_sends_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_message_sends_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_sends_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_message_sends_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_sends')),
    sa.UniqueConstraint('org_id', 'intent_key', name='uq_message_sends_org_intent')
    )
    with op.batch_alter_table('message_sends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_sends_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_message_sends_due', ['next_attempt_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('pending', 'failed')"), sqlite_where=sa.text("status IN ('pending', 'failed')"))
        batch_op.create_index('ix_message_sends_message', ['message_id'], unique=False)
        batch_op.create_index('ix_message_sends_status_lease', ['status', 'lease_expires_at'], unique=False)

    op.create_table('message_send_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('send_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_message_send_attempts_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['send_id'], ['message_sends.id'], name=op.f('fk_message_send_attempts_send_id_message_sends'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_send_attempts'))
    )
    with op.batch_alter_table('message_send_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_send_attempts_send_id'), ['send_id'], unique=False)

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('last_read_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_conversations_assignee_id_users'), 'users', ['assignee_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sent_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('autoreply_rule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_messages_autoreply_rule_id_autoreply_rules'), 'autoreply_rules', ['autoreply_rule_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_messages_sent_by_id_users'), 'users', ['sent_by_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_messages_sent_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_messages_autoreply_rule_id_autoreply_rules'), type_='foreignkey')
        batch_op.drop_column('autoreply_rule_id')
        batch_op.drop_column('sent_by_id')
        batch_op.drop_column('origin')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_conversations_assignee_id_users'), type_='foreignkey')
        batch_op.drop_column('last_read_message_id')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('message_send_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_send_attempts_send_id'))

    op.drop_table('message_send_attempts')
    with op.batch_alter_table('message_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_message_sends_status_lease')
        batch_op.drop_index('ix_message_sends_message')
        batch_op.drop_index('ix_message_sends_due', postgresql_where=sa.text("status IN ('pending', 'failed')"), sqlite_where=sa.text("status IN ('pending', 'failed')"))
        batch_op.drop_index(batch_op.f('ix_message_sends_conversation_id'))

    op.drop_table('message_sends')
    with op.batch_alter_table('autoreply_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_autoreply_rules_org_position')

    op.drop_table('autoreply_rules')
