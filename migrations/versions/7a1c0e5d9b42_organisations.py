"""organisations: every team's rows carry their organisation; an install before becomes the default one

Revision ID: 7a1c0e5d9b42
Revises: 26d307c7031c
Create Date: 2026-11-29 16:30:00

Existing rows all go to one organisation, ``default``, so every URL, token and subscription of an
install keeps working unchanged for it. Users keep their role there as members; admins also
become superusers (they may create further organisations).
"""
import secrets

import sqlalchemy as sa
from alembic import op

import vani.crypto

revision = '7a1c0e5d9b42'
down_revision = '26d307c7031c'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# table: (unique constraints to replace {old: (new, columns)}, indexes to replace {name: columns},
#         indexes to add {name: columns}, old plain indexes to drop)
TABLES = {
    'webhook_events': (
        {'uq_webhook_events_provider_dedupe_key': ('uq_webhook_events_org_provider_dedupe_key',
                                                   ['org_id', 'provider', 'dedupe_key'])},
        {'ix_webhook_events_received': ['org_id', 'received_at', 'id'],
         'ix_webhook_events_provider_received': ['org_id', 'provider', 'received_at', 'id'],
         'ix_webhook_events_status_received': ['org_id', 'status', 'received_at', 'id'],
         'ix_webhook_events_type_received': ['org_id', 'event_type', 'received_at', 'id'],
         'ix_webhook_events_subject_email': ['org_id', 'subject_email'],
         'ix_webhook_events_subject_ref': ['org_id', 'subject_ref']}, {}),
    'rejected_calls': ({}, {'ix_rejected_calls_created': ['org_id', 'created_at', 'id'],
                            'ix_rejected_calls_provider': ['org_id', 'provider', 'created_at']}, {}),
    'prospects': ({'uq_prospects_email': ('uq_prospects_org_email', ['org_id', 'email'])},
                  {'ix_prospects_phone': ['org_id', 'phone']},
                  {'ix_prospects_created': ['org_id', 'created_at', 'id']}),
    'prospect_notes': ({'uq_prospect_notes_note_key': ('uq_prospect_notes_org_note_key', ['org_id', 'note_key'])},
                       {}, {}),
    'meetings': ({'uq_meetings_provider_ref': ('uq_meetings_org_provider_ref', ['org_id', 'provider', 'provider_ref'])},
                 {'ix_meetings_status_start': ['org_id', 'status', 'start_at']},
                 {'ix_meetings_start': ['org_id', 'start_at', 'id']}),
    'notifications': ({'uq_notifications_moment_key': ('uq_notifications_org_moment_key', ['org_id', 'moment_key'])},
                      {'ix_notifications_status_created': ['org_id', 'status', 'created_at']},
                      {'ix_notifications_created': ['org_id', 'created_at', 'id']}),
    'notification_sends': ({}, {}, {'ix_notification_sends_org': ['org_id']}),
    'conversations': ({'uq_conversations_provider_ref': ('uq_conversations_org_provider_ref',
                                                         ['org_id', 'provider', 'provider_ref'])},
                      {'ix_conversations_phone': ['org_id', 'phone'],
                       'ix_conversations_updated': ['org_id', 'updated_at', 'id']}, {}),
    'messages': ({'uq_messages_provider_message_id': ('uq_messages_org_provider_message_id',
                                                      ['org_id', 'provider', 'provider_message_id'])}, {}, {}),
    'outbound_events': ({'uq_outbound_events_emit_key': ('uq_outbound_events_org_emit_key', ['org_id', 'emit_key'])},
                        {'ix_outbound_events_type': ['org_id', 'type']}, {}),
    'webhook_subscriptions': ({}, {'ix_webhook_subscriptions_created': ['org_id', 'created_at', 'id']}, {}),
    'webhook_deliveries': ({}, {'ix_webhook_deliveries_created': ['org_id', 'created_at', 'id'],
                                'ix_webhook_deliveries_status_created': ['org_id', 'status', 'created_at', 'id'],
                                'ix_webhook_deliveries_type_created': ['org_id', 'event_type', 'created_at', 'id']},
                           {}),
    'delivery_attempts': ({}, {}, {'ix_delivery_attempts_org_created': ['org_id', 'created_at']}),
    'api_tokens': ({}, {}, {'ix_api_tokens_org': ['org_id']}),
    'provider_credentials': ({'uq_provider_credentials_provider_name': ('uq_provider_credentials_org_provider_name',
                                                                        ['org_id', 'provider', 'name'])}, {}, {}),
}


def upgrade():
    op.create_table(
        'organisations',
        sa.Column('id', BIG, nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('slug', sa.String(length=64), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('notify_routes', sa.Text(), nullable=True),
        sa.Column('slack_webhook_url', vani.crypto.Encrypted(), nullable=True),
        sa.Column('notify_email_to', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
        sa.UniqueConstraint('key', name=op.f('uq_organisations_key')),
        sa.UniqueConstraint('slug', name=op.f('uq_organisations_slug')),
    )
    op.create_table(
        'memberships',
        sa.Column('id', BIG, nullable=False),
        sa.Column('user_id', BIG, nullable=False),
        sa.Column('org_id', BIG, nullable=False),
        sa.Column('role', sa.Enum('admin', 'staff', 'viewer', name='role', native_enum=False, length=16),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_memberships_org_id_organisations'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
        sa.UniqueConstraint('user_id', 'org_id', name='uq_memberships_user_org'),
    )
    op.create_index('ix_memberships_org_id', 'memberships', ['org_id'])
    op.create_index('ix_memberships_user_id', 'memberships', ['user_id'])

    bind = op.get_bind()
    bind.execute(sa.text("INSERT INTO organisations (name, slug, timezone, key, created_at) "
                         "VALUES ('Default', 'default', 'UTC', :key, CURRENT_TIMESTAMP)"),
                 {"key": secrets.token_urlsafe(18)})
    default_id = bind.execute(sa.text("SELECT id FROM organisations WHERE slug = 'default'")).scalar_one()

    for table, (uniques, indexes, added) in TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('org_id', BIG, nullable=True))
        bind.execute(sa.text(f"UPDATE {table} SET org_id = :org"), {"org": default_id})
        with op.batch_alter_table(table) as batch:
            batch.alter_column('org_id', existing_type=BIG, nullable=False)
            batch.create_foreign_key(f'fk_{table}_org_id_organisations', 'organisations', ['org_id'], ['id'],
                                     ondelete='CASCADE')
            for old, (new, columns) in uniques.items():
                batch.drop_constraint(old, type_='unique')
                batch.create_unique_constraint(new, columns)
            for name, columns in indexes.items():
                batch.drop_index(name)
                batch.create_index(name, columns)
            for name, columns in added.items():
                batch.create_index(name, columns)

    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('is_superuser', sa.Boolean(), nullable=False, server_default=sa.false()))
    bind.execute(sa.text("INSERT INTO memberships (user_id, org_id, role, created_at) "
                         "SELECT id, :org, role, CURRENT_TIMESTAMP FROM users"), {"org": default_id})
    bind.execute(sa.text("UPDATE users SET is_superuser = :yes WHERE role = 'admin'"), {"yes": True})
    with op.batch_alter_table('users') as batch:
        batch.drop_column('role')


OLD_INDEXES = {
    'ix_webhook_events_received': ['received_at', 'id'],
    'ix_webhook_events_provider_received': ['provider', 'received_at', 'id'],
    'ix_webhook_events_status_received': ['status', 'received_at', 'id'],
    'ix_webhook_events_type_received': ['event_type', 'received_at', 'id'],
    'ix_webhook_events_subject_email': ['subject_email'],
    'ix_webhook_events_subject_ref': ['subject_ref'],
    'ix_rejected_calls_created': ['created_at', 'id'],
    'ix_rejected_calls_provider': ['provider'],
    'ix_prospects_phone': ['phone'],
    'ix_meetings_status_start': ['status', 'start_at'],
    'ix_notifications_status_created': ['status', 'created_at'],
    'ix_conversations_phone': ['phone'],
    'ix_conversations_updated': ['updated_at', 'id'],
    'ix_outbound_events_type': ['type'],
    'ix_webhook_subscriptions_created': ['created_at', 'id'],
    'ix_webhook_deliveries_created': ['created_at', 'id'],
    'ix_webhook_deliveries_status_created': ['status', 'created_at', 'id'],
    'ix_webhook_deliveries_type_created': ['event_type', 'created_at', 'id'],
}


def downgrade():
    """Back to one team: only the default organisation's rows are kept."""
    bind = op.get_bind()
    default_id = bind.execute(sa.text("SELECT id FROM organisations WHERE slug = 'default'")).scalar()
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('role', sa.String(length=16), nullable=False, server_default='viewer'))
    bind.execute(sa.text("UPDATE users SET role = COALESCE((SELECT m.role FROM memberships m "
                         "WHERE m.user_id = users.id AND m.org_id = :org), 'viewer')"), {"org": default_id})
    with op.batch_alter_table('users') as batch:
        batch.drop_column('is_superuser')
    for table, (uniques, indexes, added) in reversed(list(TABLES.items())):
        bind.execute(sa.text(f"DELETE FROM {table} WHERE org_id <> :org"), {"org": default_id})
        with op.batch_alter_table(table) as batch:
            for name in added:
                batch.drop_index(name)
            for name in indexes:
                batch.drop_index(name)
                batch.create_index(name, OLD_INDEXES[name])
            for old, (new, columns) in uniques.items():
                batch.drop_constraint(new, type_='unique')
                batch.create_unique_constraint(old, [c for c in columns if c != 'org_id'])
            batch.drop_constraint(f'fk_{table}_org_id_organisations', type_='foreignkey')
            batch.drop_column('org_id')
    op.drop_table('memberships')
    op.drop_table('organisations')
