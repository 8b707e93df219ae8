"""POST /api/v1/calendly/sync, GET /api/v1/calendly/status, DELETE /api/v1/calendly/connection
(the organisation's "Connect Calendly" OAuth connection; a personal access token works too) and
GET /api/v1/calendly/events (the Calendly bookings Vani holds)."""
from __future__ import annotations

from flask import jsonify
from redis.exceptions import RedisError
from sqlalchemy import select

from vani import tenancy
from vani.api.blueprint import bp, needs
from vani.api.openapi import bodies as b
from vani.api.openapi import documented
from vani.api.openapi import outbound as o
from vani.api.openapi import queries as q
from vani.api.openapi.parsing import request_body, request_query
from vani.api.pagination import paginated_response
from vani.extensions import db
from vani.jobs.maintenance import calendly_sync as job
from vani.models import Meeting, Scope, WebhookEvent
from vani.models.base import isoformat
from vani.orgs.provider_settings import config_for
from vani.providers.calendly import connection as calendly_connection
from vani.payloads.coerce import as_email
from vani.providers.calendly.connection import current, disconnect, sync
from vani.providers.calendly.events import calendly_event, calendly_meetings
from vani.providers.calendly.registrar import calendly_client, current_user
from vani.providers.calendly.sync import last_sync
from vani.registration.http import ApiError
from vani.registration.registrars import stored_credential
from vani.work.wake import enqueue_job


def _not_configured():
    conn = current()
    if conn is not None:  # connected, but Calendly refused its tokens
        return jsonify({"error": "needs_reconnect", "detail": "Calendly refused this organisation's connection; "
                        f"an admin connects Calendly again ({conn.last_error or 'no detail'})"}), 409
    return jsonify({"error": "not_configured",
                    "detail": "Calendly is not connected and CALENDLY_API_TOKEN is not set; "
                              "Vani cannot call Calendly's API"}), 409


@bp.post("/calendly/sync")
@needs(Scope.ADMIN)
@documented("Pull missed Calendly bookings", "calendly", {200: o.SyncAnswer, 202: o.SyncAnswer}, body=b.SyncIn,
            body_required=False, query=b.SyncIn, errors=(409, 502, 503))
def calendly_sync():
    """Start a sync (202 with the job id), or with ``"wait": true`` run it now and answer its counts."""

    body = request_body()
    since = body.since_time()
    if not config_for(tenancy.require()).get("CALENDLY_API_TOKEN"):
        return _not_configured()
    if body.wait:
        try:
            result = sync(since)
        except ApiError as exc:
            return jsonify({"error": "calendly_error", "detail": str(exc), "status": exc.status}), 502
        return jsonify({"status": "done", "result": result.to_dict()})

    try:
        queued = enqueue_job(job, since.isoformat() if since else None, tenancy.require())
    except RedisError:
        return jsonify({"error": "queue_unavailable",
                        "detail": "Redis is unreachable; retry, or send \"wait\": true"}), 503
    return jsonify({"status": "queued", "job_id": queued.id}), 202


@bp.get("/calendly/status")
@documented("The Calendly connection, its subscription as Calendly reports it, the last event and sync", "calendly", {200: o.CalendlyStatus}, query=q.StatusQuery)
def calendly_status():
    """The API connection (``?check=false`` skips the live calls), the OAuth connection with its
    webhook subscription as Calendly reports it, Vani's registered webhook, the last Calendly event
    received and the last sync."""

    cfg = config_for(tenancy.require())
    configured = bool(cfg.get("CALENDLY_API_TOKEN"))
    check = request_query().check
    oauth = calendly_connection.status(check)
    connection = None
    if configured and check:
        try:
            client = calendly_client(cfg)
            client.max_retries, client.timeout = 0, 5.0  # a status check never waits on a rate limit
            me = current_user(client)
            connection = {"ok": True, "user": me.get("uri"), "name": me.get("name"),
                          "organization": me.get("current_organization")}
        except ApiError as exc:
            connection = {"ok": False, "error": str(exc), "status": exc.status}
    stored = stored_credential("calendly")
    webhook = None if stored is None else {
        "subscription": stored.external_id, "url": stored.callback_url, "updated_at": isoformat(stored.updated_at)}
    event = db.session.execute(select(WebhookEvent).where(WebhookEvent.provider == "calendly")
                               .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
                               .limit(1)).scalar_one_or_none()
    return jsonify({
        "configured": configured,
        "connection": connection,
        "oauth": oauth,
        "webhook": webhook,
        "last_event": event.to_dict() if event else None,
        "last_sync": last_sync(),
    })


@bp.delete("/calendly/connection")
@needs(Scope.ADMIN)
@documented("Disconnect Calendly", "calendly", {200: o.Disconnected}, errors=(404,))
def calendly_disconnect():
    """Disconnect the organisation's Calendly: the subscription deleted there, the tokens revoked,
    the connection forgotten (even when Calendly refuses a step: ``failed`` says which)."""

    report = disconnect()  # NotFound (404 JSON) without a connection
    return jsonify({"status": "disconnected", "done": report.done, "failed": report.failed})


@bp.get("/calendly/events")
@documented("List Calendly events", "calendly", {200: o.CalendlyEventPage}, query=q.CalendlyEventQuery)
def list_calendly_events():
    """The Calendly bookings Vani holds (from webhooks and syncs), newest first: one per invitee,
    with its scheduled event's URI, so a group event's invitees can be put together."""

    query = request_query()
    stmt = calendly_meetings(as_email(query.email) if query.email else None, query.status, query.scheduled_event)
    return paginated_response(stmt, Meeting.created_at, Meeting.id, query, serialize=calendly_event)
