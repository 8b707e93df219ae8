"""The inbound fast path: size check, verify, parse, dedupe, store, enqueue, answer.

Nothing else happens in the request; mapping to prospects and meetings is the worker's job.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from flask import Response, current_app, jsonify, request
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from vani.extensions import db
from vani.models import RejectedCall, WebhookEvent
from vani.models.base import utcnow
from vani.providers.base import BadPayload, Incoming, Provider, RequestData, SignatureError
from vani.services import queue
from vani.services.dbutil import insert_ignore
from vani.services.secrets import secrets_for

log = logging.getLogger(__name__)

HEADER_EXCERPT_MAX = 2048
_SKIP_HEADERS = {"cookie", "authorization"}


def error(status: int, code: str, detail: str | None = None) -> Response:
    body = {"error": code}
    if detail:
        body["detail"] = detail
    response = jsonify(body)
    response.status_code = status
    return response


def public_url() -> str:
    """The URL the provider called: behind a tunnel or proxy, the public one (Twilio signs it)."""
    cfg = current_app.config
    if cfg.get("PUBLIC_URL"):
        path = request.full_path if request.query_string else request.path
        return cfg["PUBLIC_URL"] + path
    if cfg.get("VANI_TRUST_PROXY"):
        proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
        path = request.full_path if request.query_string else request.path
        return f"{proto}://{host}{path}"
    return request.url


def header_excerpt(headers) -> dict:
    out, size = {}, 0
    for key, value in headers.items():
        if key.lower() in _SKIP_HEADERS:
            continue
        value = value[:256]
        size += len(key) + len(value)
        if size > HEADER_EXCERPT_MAX:
            out["…"] = "truncated"
            break
        out[key] = value
    return out


def record_rejection(provider: Provider, reason: str, detail: str | None = None,
                     checked_url: str | None = None) -> None:
    """Keep a bounded record of a refused call; never let this bookkeeping fail the answer."""
    try:
        call = RejectedCall(
            provider=provider.name, reason=reason, detail=(detail or "")[:1000] or None,
            remote_addr=request.remote_addr, checked_url=checked_url,
            headers=header_excerpt(request.headers), body_size=request.content_length or 0)
        db.session.add(call)
        db.session.flush()
        keep = current_app.config["VANI_REJECTED_CALLS_MAX"]
        if call.id % 50 == 0 or call.id <= 1:
            oldest_kept = db.session.execute(select(func.max(RejectedCall.id))).scalar_one() - keep
            if oldest_kept > 0:
                db.session.execute(delete(RejectedCall).where(RejectedCall.id <= oldest_kept))
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("could not record rejected %s call (%s): %s", provider.name, reason, exc)


def reject(provider: Provider, status: int, reason: str, detail: str | None = None,
           checked_url: str | None = None) -> Response:
    log.info("rejected %s webhook: %s %s", provider.name, reason, detail or "")
    record_rejection(provider, reason, detail, checked_url)
    return error(status, reason, detail)


def store(provider: Provider, items: list[Incoming], verified: bool, headers: dict) -> list[tuple[int, bool]]:
    """Insert events, skipping ones already stored. Returns (event id, newly stored) per item."""
    now = utcnow()
    results: list[tuple[int, bool]] = []
    for item in items:
        values = dict(
            provider=provider.name, event_type=item.event_type[:120], dedupe_key=item.dedupe_key[:255],
            verified=verified, status="received", body=item.body, headers=headers, payload=item.payload,
            remote_addr=request.remote_addr, received_at=now, attempts=0)
        new_id = db.session.execute(insert_ignore(WebhookEvent, values, ["provider", "dedupe_key"])).scalar()
        if new_id is None:
            existing = db.session.execute(select(WebhookEvent.id).where(
                WebhookEvent.provider == provider.name,
                WebhookEvent.dedupe_key == values["dedupe_key"])).scalar_one()
            results.append((existing, False))
        else:
            results.append((new_id, True))
    db.session.commit()
    return results


def _form_fields(body: bytes) -> dict[str, str]:
    """Form fields from the raw body (the body itself must stay readable for storage)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def receive(provider: Provider) -> Response:
    cfg = current_app.config
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return reject(provider, 413, "body_too_large", f"the limit is {cfg['VANI_MAX_BODY_BYTES']} bytes")
    data = RequestData(body=body, headers=request.headers, url=public_url(),
                       form=_form_fields(body) if request.mimetype == "application/x-www-form-urlencoded" else {},
                       remote_addr=request.remote_addr)

    extra: dict = {}
    try:
        secrets = secrets_for(provider)
    except DBAPIError as exc:
        db.session.rollback()
        log.error("database unavailable while loading %s secrets: %s", provider.name, exc)
        return error(503, "database_unavailable", "the event could not be stored; please retry")
    if secrets:
        try:
            provider.verify(data, secrets, time.time(), cfg["VANI_SIGNATURE_TOLERANCE_SECONDS"])
        except SignatureError as exc:
            return reject(provider, 401, exc.reason, exc.detail, exc.checked_url)
        verified = True
    elif cfg.get("ENV_NAME") == "production":
        names = " or ".join(provider.secret_settings)
        return reject(provider, 503, "secret_not_configured",
                      f"{names} is not set; refusing unverifiable calls in production")
    else:
        names = " or ".join(provider.secret_settings)
        log.warning("%s is not set: accepting %s webhook UNVERIFIED", names, provider.title)
        verified = False
        extra = {"verified": False, "warning": f"{names} is not set; event stored unverified"}

    try:
        items = provider.parse(data)
    except BadPayload as exc:
        return reject(provider, 400, exc.reason, exc.detail)
    if not items:
        return reject(provider, 400, "no_events", "the body holds no events")

    wanted = {h.lower() for h in provider.relevant_headers} | {"content-type", "user-agent"}
    headers = {k: v[:512] for k, v in request.headers.items() if k.lower() in wanted}
    try:
        stored = store(provider, items, verified, headers)
    except DBAPIError as exc:
        db.session.rollback()
        log.error("database unavailable, asking %s to retry: %s", provider.name, exc)
        return error(503, "database_unavailable", "the event could not be stored; please retry")

    fresh = [event_id for event_id, new in stored if new]
    if fresh and not queue.push_events(fresh):
        extra["queued"] = False  # stored; the sweeper will hand it to a worker
    status = "accepted" if fresh else "duplicate"
    return provider.respond(status, [event_id for event_id, _ in stored], extra)
