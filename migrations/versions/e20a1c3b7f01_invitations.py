"""invitations: admins invite an address and its account joins once it accepts; users remember
the organisation they worked in last

Revision ID: e20a1c3b7f01
Revises: 9b642e68ca00
Create Date: 2026-11-30 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'e20a1c3b7f01'
down_revision = '9b642e68ca00'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('invitations',
    sa.Column('id', BIG, nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.Enum('admin', 'staff', 'viewer', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'declined', 'revoked', name='invitationstatus',
                                native_enum=False, length=16), nullable=False),
    sa.Column('invited_by_id', BIG, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('org_id', BIG, nullable=False),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_invitations_invited_by_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_invitations_org_id_organisations'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index('ix_invitations_email', ['email', 'status'], unique=False)
        batch_op.create_index('ix_invitations_org', ['org_id', 'status'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_org_id', BIG, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_users_last_org_id_organisations'), 'organisations',
                                    ['last_org_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_last_org_id_organisations'), type_='foreignkey')
        batch_op.drop_column('last_org_id')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_invitations_org')
        batch_op.drop_index('ix_invitations_email')
    op.drop_table('invitations')
