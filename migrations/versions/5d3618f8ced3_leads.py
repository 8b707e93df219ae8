"""leads: form submissions, booking answers and UTM sources, meeting owners, Cal.com booking ids,
recordings and checkouts, and each prospect's stage, first touch and owner

Revision ID: 5d3618f8ced3
Revises: f6c024c41f9b
Create Date: 2026-11-29 19:19:01
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '5d3618f8ced3'
down_revision = 'f6c024c41f9b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('leads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('submission_ref', sa.String(length=512), nullable=False),
    sa.Column('form_ref', sa.String(length=512), nullable=True),
    sa.Column('form_name', sa.String(length=255), nullable=True),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('utm', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('prospect_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], name=op.f('fk_leads_event_id_webhook_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_leads_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_leads_prospect_id_prospects'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads')),
    sa.UniqueConstraint('org_id', 'provider', 'submission_ref', name='uq_leads_org_provider_submission')
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_prospect', ['org_id', 'prospect_id'], unique=False)

    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('utm', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('owner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('owner_email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('booking_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('payment_started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recording_url', sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column('transcript_url', sa.String(length=2048), nullable=True))
        batch_op.create_index('ix_meetings_booking_id', ['org_id', 'provider', 'booking_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_meetings_owner_id_users'), 'users', ['owner_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sa.Enum('lead', 'booked', 'met', 'no_show', 'paid', name='prospectstage', native_enum=False, length=16), nullable=False, server_default='lead'))
        batch_op.add_column(sa.Column('utm', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('utm_source', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('owner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('owner_email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('owner_set_by_hand', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_prospects_owner', ['org_id', 'owner_id'], unique=False)
        batch_op.create_index('ix_prospects_stage', ['org_id', 'stage'], unique=False)
        batch_op.create_index('ix_prospects_utm_source', ['org_id', 'utm_source'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_prospects_owner_id_users'), 'users', ['owner_id'], ['id'], ondelete='SET NULL')
    # Prospects from before: their stage from their meetings (paid, met or no-show, booked).
    for stage, condition in (("booked", "m.status IN ('scheduled', 'pending')"), ("no_show", "m.status = 'no_show'"),
                             ("met", "m.status = 'completed'"), ("paid", "m.paid_at IS NOT NULL")):
        op.execute(f"UPDATE prospects SET stage = '{stage}' WHERE EXISTS "
                   f"(SELECT 1 FROM meetings m WHERE m.prospect_id = prospects.id AND {condition})")


def downgrade():
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_prospects_owner_id_users'), type_='foreignkey')
        batch_op.drop_index('ix_prospects_utm_source')
        batch_op.drop_index('ix_prospects_stage')
        batch_op.drop_index('ix_prospects_owner')
        batch_op.drop_column('owner_set_by_hand')
        batch_op.drop_column('owner_email')
        batch_op.drop_column('owner_id')
        batch_op.drop_column('utm_source')
        batch_op.drop_column('utm')
        batch_op.drop_column('stage')

    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_meetings_owner_id_users'), type_='foreignkey')
        batch_op.drop_index('ix_meetings_booking_id')
        batch_op.drop_column('transcript_url')
        batch_op.drop_column('recording_url')
        batch_op.drop_column('payment_started_at')
        batch_op.drop_column('booking_id')
        batch_op.drop_column('owner_email')
        batch_op.drop_column('owner_id')
        batch_op.drop_column('utm')
        batch_op.drop_column('answers')

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_prospect')

    op.drop_table('leads')
