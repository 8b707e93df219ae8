"""Recount an organisation's hourly rollups from the rows stored (``flask vani recount-rollups``):
after an upgrade, or for data written around the work engine (imports, test fixtures).

Each event and delivery counts once, in its current state, at the hour it last settled; the lag
and latency histograms come from the times stored on the rows, the funnel's gauge from the
prospects' stages. Rollups of work settled later are
added by the engine as usual.
"""
from __future__ import annotations

from sqlalchemy import bindparam, delete, text

from vani.extensions import db
from vani.models import ALL_TIME, DeliveryStatus, EventStatus, HourlyRollup, RollupMetric
from vani.models.base import UTCDateTime
from vani.work.rollups import BUCKETS_MS, INF

SETTLED = (EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.FAILED, EventStatus.DEAD)


def _hour(column: str, postgres: bool) -> str:
    if postgres:
        return f"(date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    return f"strftime('%Y-%m-%d %H:00:00.000000', {column})"


def _ms(later: str, earlier: str, postgres: bool) -> str:
    if postgres:
        return f"(extract(epoch FROM ({later} - {earlier})) * 1000)"
    return f"((julianday({later}) - julianday({earlier})) * 86400000.0)"


def _bucket(ms: str) -> str:
    arms = " ".join(f"WHEN {ms} <= {bound} THEN '{bound}'" for bound in BUCKETS_MS)
    return f"CASE {arms} ELSE '{INF}' END"


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def statements(postgres: bool) -> list[str]:
    """The INSERT … SELECT of each metric, for the organisation ``:org``."""
    settled_at = "COALESCE(processed_at, started_at, received_at)"
    e_hour = _hour(settled_at, postgres)
    concat = "provider || ':' || status"
    lag = _ms("processed_at", "received_at", postgres)
    d_at = "COALESCE(delivered_at, last_attempt_at, created_at)"
    d_hour = _hour(d_at, postgres)
    latency = _ms("delivered_at", "created_at", postgres)
    head = "INSERT INTO hourly_rollups (org_id, hour, metric, dim, value) "
    return [
        head + f"SELECT org_id, {e_hour}, '{RollupMetric.EVENTS}', {concat}, count(*) FROM webhook_events "
               f"WHERE org_id = :org AND status IN ({_quoted(SETTLED)}) GROUP BY org_id, {e_hour}, {concat}",
        head + f"SELECT org_id, {_hour('processed_at', postgres)}, '{RollupMetric.EVENT_LAG}', {_bucket(lag)}, "
               f"count(*) FROM webhook_events WHERE org_id = :org AND attempts = 1 AND processed_at IS NOT NULL "
               f"AND status IN ('{EventStatus.PROCESSED}', '{EventStatus.IGNORED}') "
               f"GROUP BY org_id, {_hour('processed_at', postgres)}, {_bucket(lag)}",
        head + f"SELECT org_id, {d_hour}, '{RollupMetric.DELIVERIES}', status, count(*) FROM webhook_deliveries "
               f"WHERE org_id = :org AND status IN ({_quoted((DeliveryStatus.DELIVERED, DeliveryStatus.FAILED))}) "
               f"GROUP BY org_id, {d_hour}, status",
        head + f"SELECT org_id, :all_time, '{RollupMetric.PROSPECT_STAGE}', stage, count(*) FROM prospects "
               f"WHERE org_id = :org GROUP BY org_id, stage",
        head + f"SELECT org_id, {_hour('delivered_at', postgres)}, '{RollupMetric.DELIVERY_LATENCY}', "
               f"{_bucket(latency)}, count(*) FROM webhook_deliveries WHERE org_id = :org "
               f"AND status = '{DeliveryStatus.DELIVERED}' AND delivered_at IS NOT NULL "
               f"GROUP BY org_id, {_hour('delivered_at', postgres)}, {_bucket(latency)}",
    ]


def recount(org_id: int) -> None:
    """Replace the organisation's rollups with a recount (no commit)."""
    db.session.execute(delete(HourlyRollup).where(HourlyRollup.org_id == org_id)
                       .execution_options(unscoped=True))
    postgres = db.session.get_bind().dialect.name == "postgresql"
    for sql in statements(postgres):
        stmt, params = text(sql), {"org": org_id}
        if ":all_time" in sql:  # the gauge's row (a datetime stored as the column stores it)
            stmt, params = stmt.bindparams(bindparam("all_time", type_=UTCDateTime)), {**params, "all_time": ALL_TIME}
        db.session.execute(stmt, params)
