"""unread messages found without counting every message: each conversation's newest inbound message

Revision ID: e23e5b6c7d01
Revises: e23d4a5b6c01
Create Date: 2026-12-15 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e23e5b6c7d01'
down_revision = 'e23d4a5b6c01'
branch_labels = None
depends_on = None

UNREAD = "last_inbound_message_id > coalesce(last_read_message_id, 0)"


def upgrade():
    # The inbound messages' index first: the backfill below reads through it.
    op.create_index('ix_messages_inbound', 'messages', ['conversation_id', 'id'], unique=False,
                    postgresql_where=sa.text("direction = 'inbound'"), sqlite_where=sa.text("direction = 'inbound'"))
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_inbound_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
    op.execute("UPDATE conversations SET last_inbound_message_id = (SELECT max(m.id) FROM messages m "
               "WHERE m.conversation_id = conversations.id AND m.direction = 'inbound') "
               "WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id "
               "AND m.direction = 'inbound')")
    op.create_index('ix_conversations_unread', 'conversations', ['org_id', 'updated_at', 'id'], unique=False,
                    postgresql_where=sa.text(UNREAD), sqlite_where=sa.text(UNREAD))


def downgrade():
    op.drop_index('ix_messages_inbound', table_name='messages')
    op.drop_index('ix_conversations_unread', table_name='conversations')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('last_inbound_message_id')
