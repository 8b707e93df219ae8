"""hourly rollups the work engine adds to as work settles (the overview reads them instead of
counting events), and each prospect's stage changes for its timeline

Revision ID: e23c3d4e5f01
Revises: e23b2c3d4e01
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'e23c3d4e5f01'
down_revision = 'e23b2c3d4e01'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
STAGE = sa.Enum('lead', 'booked', 'met', 'no_show', 'paid', name='prospectstage', native_enum=False, length=16)


def _hour(column: str, postgres: bool) -> str:
    if postgres:
        return f"(date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    return f"strftime('%Y-%m-%d %H:00:00.000000', {column})"


def upgrade():
    op.create_table('hourly_rollups',
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metric', sa.Enum('events', 'event_lag_ms', 'deliveries', 'delivery_latency_ms', 'prospect_stage',
                                name='rollupmetric', native_enum=False, length=32), nullable=False),
    sa.Column('dim', sa.String(length=100), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('org_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_hourly_rollups_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'metric', 'hour', 'dim', name='pk_hourly_rollups')
    )
    op.create_table('prospect_stage_changes',
    sa.Column('id', BigId, nullable=False),
    sa.Column('prospect_id', BigId, nullable=False),
    sa.Column('from_stage', STAGE, nullable=True),
    sa.Column('to_stage', STAGE, nullable=False),
    sa.Column('event_id', BigId, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], name=op.f('fk_prospect_stage_changes_event_id_webhook_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_prospect_stage_changes_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_prospect_stage_changes_prospect_id_prospects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prospect_stage_changes'))
    )
    with op.batch_alter_table('prospect_stage_changes', schema=None) as batch_op:
        batch_op.create_index('ix_prospect_stage_changes_prospect', ['org_id', 'prospect_id', 'created_at', 'id'], unique=False)
    # The counts of what settled before: each event and delivery once, at the hour it last
    # settled, and the prospects per stage (``flask vani recount-rollups`` recounts the
    # duration histograms too).
    postgres = op.get_bind().dialect.name == 'postgresql'
    e_hour = _hour("COALESCE(processed_at, started_at, received_at)", postgres)
    d_hour = _hour("COALESCE(delivered_at, last_attempt_at, created_at)", postgres)
    op.execute(f"INSERT INTO hourly_rollups (org_id, hour, metric, dim, value) "
               f"SELECT org_id, {e_hour}, 'events', provider || ':' || status, count(*) FROM webhook_events "
               f"WHERE status IN ('processed', 'ignored', 'failed', 'dead') GROUP BY org_id, {e_hour}, provider, status")
    op.execute(f"INSERT INTO hourly_rollups (org_id, hour, metric, dim, value) "
               f"SELECT org_id, {d_hour}, 'deliveries', status, count(*) FROM webhook_deliveries "
               f"WHERE status IN ('delivered', 'failed') GROUP BY org_id, {d_hour}, status")
    all_time = "'1970-01-01 00:00:00+00'" if postgres else "'1970-01-01 00:00:00.000000'"
    op.execute(f"INSERT INTO hourly_rollups (org_id, hour, metric, dim, value) "
               f"SELECT org_id, {all_time}, 'prospect_stage', stage, count(*) FROM prospects GROUP BY org_id, stage")


def downgrade():
    with op.batch_alter_table('prospect_stage_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_prospect_stage_changes_prospect')
    op.drop_table('prospect_stage_changes')
    op.drop_table('hourly_rollups')
