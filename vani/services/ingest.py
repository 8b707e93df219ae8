"""The inbound fast path: size check, verify, parse, dedupe, store, enqueue, answer.

Nothing else happens in the request; mapping to prospects and meetings is the worker's job.
"""
from __future__ import annotations

import hashlib
import logging
import time
from urllib.parse import parse_qsl, quote

from flask import Response, current_app, jsonify, request
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from vani.extensions import db
from vani.models import RejectedCall
from vani.models.base import utcnow
from vani.providers.base import BadPayload, Incoming, Provider, RequestData, SignatureError
from vani.providers.safejson import clean_text
from vani.services import queue
from vani.services.group_commit import committer
from vani.services.secrets import secrets_for

log = logging.getLogger(__name__)

HEADER_EXCERPT_MAX = 2048
DEDUPE_KEY_MAX = 255
_SKIP_HEADERS = {"cookie", "authorization"}


def error(status: int, code: str, detail: str | None = None) -> Response:
    body = {"error": code}
    if detail:
        body["detail"] = detail
    response = jsonify(body)
    response.status_code = status
    return response


def request_target() -> str:
    """The path and query exactly as the caller sent them (Twilio signs them byte for byte)."""
    env = request.environ
    raw = env.get("RAW_URI") or env.get("REQUEST_URI") or ""
    if raw.startswith("/"):
        return raw
    path = quote((env.get("SCRIPT_NAME", "") + env.get("PATH_INFO", "")).encode("latin-1"), safe="/:@!$&'()*+,;=~")
    query = env.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def public_url() -> str:
    """The URL the provider called: behind a tunnel or proxy, the public one (Twilio signs it)."""
    cfg = current_app.config
    if cfg.get("PUBLIC_URL"):
        return cfg["PUBLIC_URL"].rstrip("/") + request_target()
    if cfg.get("VANI_TRUST_PROXY"):
        proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
        return f"{proto}://{host}{request_target()}"
    return f"{request.scheme}://{request.host}{request_target()}"


def client_address() -> str | None:
    """The caller's address; behind a trusted proxy, the hop the proxy itself added."""
    if current_app.config.get("VANI_TRUST_PROXY"):
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if hops:
            return clean_text(hops[-1])[:64]
    return request.remote_addr[:64] if request.remote_addr else None


def header_excerpt(headers) -> dict:
    out, size = {}, 0
    for key, value in headers.items():
        if key.lower() in _SKIP_HEADERS:
            continue
        value = value[:256].replace("\x00", "")
        size += len(key) + len(value)
        if size > HEADER_EXCERPT_MAX:
            out["…"] = "truncated"
            break
        out[clean_text(key)] = value
    return out


def record_rejection(provider: Provider, reason: str, detail: str | None = None,
                     checked_url: str | None = None) -> None:
    """Keep a bounded record of a refused call; never let this bookkeeping fail the answer."""
    try:
        call = RejectedCall(
            provider=provider.name, reason=reason[:64], detail=clean_text(detail or "")[:1000] or None,
            remote_addr=client_address(), checked_url=clean_text(checked_url)[:2048] if checked_url else None,
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


def event_rows(provider: Provider, items: list[Incoming], verified: bool, headers: dict,
               address: str | None) -> list[dict]:
    now = utcnow()
    return [dict(
        provider=provider.name, event_type=clean_text(item.event_type)[:120], dedupe_key=dedupe_key(item.dedupe_key),
        verified=verified, status="received", body=item.body, headers=headers, payload=item.payload,
        remote_addr=address, received_at=now, attempts=0) for item in items]


def _type_accepted(mimetype: str, accepted: tuple[str, ...]) -> bool:
    return mimetype in accepted or ("application/json" in accepted and mimetype.endswith("+json"))


def dedupe_key(key: str) -> str:
    """A key that fits its column: a long one keeps a prefix and the hash of the whole."""
    key = clean_text(key)
    if len(key) <= DEDUPE_KEY_MAX:
        return key
    return f"{key[:DEDUPE_KEY_MAX - 72]}#sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _form_fields(body: bytes) -> dict[str, str]:
    """Form fields from the raw body (the body itself must stay readable for storage)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def verify(provider: Provider, data: RequestData, secrets: list[str]) -> None:
    """Verify with the known secrets; on a mismatch, once more with freshly loaded stored ones
    (``webhooks register`` may have just stored a new secret another process still caches)."""
    tolerance = current_app.config["VANI_SIGNATURE_TOLERANCE_SECONDS"]
    try:
        provider.verify(data, secrets, time.time(), tolerance)
    except SignatureError as exc:
        if exc.reason != "invalid_signature":
            raise
        try:
            fresh = secrets_for(provider, fresh=True)
        except DBAPIError:
            fresh = secrets
        finally:
            db.session.rollback()
        if fresh == secrets:
            raise
        provider.verify(data, fresh, time.time(), tolerance)


def receive(provider: Provider) -> Response:
    cfg = current_app.config
    limit = cfg["VANI_MAX_BODY_BYTES"]
    too_large = f"the limit is {limit} bytes"
    if request.content_length is not None and request.content_length > limit:
        return reject(provider, 413, "body_too_large", too_large)
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return reject(provider, 413, "body_too_large", too_large)
    if len(body) > limit:  # chunked uploads carry no Content-Length
        return reject(provider, 413, "body_too_large", too_large)
    accepted_types = getattr(provider, "content_types", ())
    if accepted_types and request.mimetype and not _type_accepted(request.mimetype, accepted_types):
        return reject(provider, 415, "unsupported_media_type",
                      f"send {' or '.join(accepted_types)}, not {request.mimetype}")
    data = RequestData(body=body, headers=request.headers, url=public_url(),
                       form=_form_fields(body) if request.mimetype == "application/x-www-form-urlencoded" else {},
                       remote_addr=client_address())

    extra: dict = {}
    try:
        secrets = secrets_for(provider)
    except DBAPIError as exc:
        db.session.rollback()
        log.error("database unavailable while loading %s secrets: %s", provider.name, exc)
        return error(503, "database_unavailable", "the event could not be stored; please retry")
    finally:
        # Hand the connection back now: a request must not hold one while it waits for the
        # group commit, or a burst larger than the pool deadlocks the writer. (Secrets usually
        # come from the cache, and then no session was opened at all.)
        if db.session.registry.has():
            db.session.rollback()
    if secrets:
        try:
            verify(provider, data, secrets)
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
    except RecursionError:
        return reject(provider, 400, "invalid_json", "the body is nested too deeply")
    if not items:
        return reject(provider, 400, "no_events", "the body holds no events")

    wanted = {h.lower() for h in provider.relevant_headers} | {"content-type", "user-agent"}
    headers = {k: v[:512].replace("\x00", "") for k, v in request.headers.items() if k.lower() in wanted}
    slot = committer().submit(event_rows(provider, items, verified, headers, data.remote_addr), queue.push_events)
    if slot.error is not None:
        # Whatever the database refused, the provider should try again later: never a 500.
        log.error("could not store %s event, asking the provider to retry: %r", provider.name, slot.error)
        return error(503, "database_unavailable", "the event could not be stored; please retry")
    stored = slot.results
    fresh = [event_id for event_id, new in stored if new]
    if fresh and not slot.pushed:
        extra["queued"] = False  # stored; the sweeper will hand it to a worker
    status = "accepted" if fresh else "duplicate"
    return provider.respond(status, [event_id for event_id, _ in stored], extra)
