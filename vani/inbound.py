"""Inbound webhooks: every provider's URL, and the HTTP edge of the fast path.

Each provider has a URL per organisation, ``/api/webhooks/<provider>/<org key>``; the URLs
without a key serve the default organisation (every install from before organisations). A call
is checked for size and type here, then ``ingest.store_events`` verifies, parses and stores it;
the answer is JSON (Twilio gets TwiML). Refused calls are recorded with the URL that was
checked, so a signature mismatch behind a tunnel can be debugged from the dashboard.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, quote

from flask import Blueprint, Response, current_app, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from vani import ingest, metrics, orgs, plugins, tenancy
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.ingest import refusals
from vani.payloads.safejson import clean_text
from vani.plugins.contract import Provider, RequestData

log = logging.getLogger(__name__)

bp = Blueprint("inbound", __name__)

HEADER_EXCERPT_MAX = 2048
_SKIP_HEADERS = {"cookie", "authorization"}
# Every URL below is served here, and only here.
PATHS = ("/api/webhooks/", "/api/v1/calendly/webhook", "/api/whatsapp/webhook")


class Sessions(SecureCookieSessionInterface):
    """The signed-cookie sessions, except on providers' calls: they carry no session, so none is
    opened, verified or saved for them (the session opens before the URL is matched, hence the
    paths)."""

    def open_session(self, app, request):
        if request.path.startswith(PATHS):
            return self.make_null_session(app)
        return super().open_session(app, request)


@bp.post("/api/webhooks/calendly")
@bp.post("/api/v1/calendly/webhook")
@bp.post("/api/webhooks/calendly/<org_key>")
@documented("Calendly's webhook (the default organisation's older URL)", "provider webhooks",
            {200: m.Accepted}, body=m.ProviderCall, public=True, errors=(400, 401, 413, 415, 503),
            description="Signed by Calendly (Calendly-Webhook-Signature). Prefer /api/webhooks/calendly/<org key>.",
            extra={"deprecated": True})
def calendly(org_key: str | None = None):
    return receive(plugins.installed().get("calendly"), org_key)


@bp.post("/api/webhooks/cal-com")
@bp.post("/api/webhooks/cal_com")
@bp.post("/api/webhooks/cal-com/<org_key>")
def cal_com(org_key: str | None = None):
    return receive(plugins.installed().get("cal_com"), org_key)


@bp.post("/api/webhooks/kapso")
@bp.post("/api/whatsapp/webhook")
@bp.post("/api/webhooks/kapso/<org_key>")
def kapso(org_key: str | None = None):
    return receive(plugins.installed().get("kapso"), org_key)


@bp.post("/api/webhooks/twilio")
@bp.post("/api/webhooks/twilio/<org_key>")
def twilio(org_key: str | None = None):
    return receive(plugins.installed().get("twilio"), org_key)


@bp.post("/api/webhooks/gmail")
@bp.post("/api/webhooks/gmail/<org_key>")
def gmail(org_key: str | None = None):
    return receive(plugins.installed().get("gmail"), org_key)


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
    """The URL the provider called: behind a tunnel or proxy, the public one (Twilio signs it).
    ``PUBLIC_URL`` when set; else as a trusted proxy forwarded it (see ``vani.proxy``)."""
    if current_app.config.get("PUBLIC_URL"):
        return current_app.config["PUBLIC_URL"].rstrip("/") + request_target()
    return f"{request.scheme}://{request.host}{request_target()}"


def client_address() -> str | None:
    return clean_text(request.remote_addr)[:64] if request.remote_addr else None


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


def reject(provider: Provider, refused: ingest.Refused, org_id: int) -> Response:
    log.info("rejected %s webhook: %s %s", provider.name, refused.reason, refused.detail or "")
    refusals.record(provider, refused.reason, refused.detail, refused.checked_url, header_excerpt(request.headers),
                    client_address(), request.content_length or 0, org_id)
    return error(refused.status, refused.reason, refused.detail)


def _type_accepted(mimetype: str, accepted: tuple[str, ...]) -> bool:
    return mimetype in accepted or ("application/json" in accepted and mimetype.endswith("+json"))


def _form_fields(provider: Provider, body: bytes) -> dict[str, str]:
    """Form fields from the raw body (the body itself must stay readable for storage)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=provider.max_form_fields))
    except UnicodeDecodeError:
        return {}
    except ValueError:
        raise ingest.Refused(400, "too_many_fields", f"a form holds at most {provider.max_form_fields} fields") from None


def read_body(provider: Provider) -> bytes:
    """The raw body, within ``VANI_MAX_BODY_BYTES`` and of a type the provider sends."""
    limit = min(current_app.config["VANI_MAX_BODY_BYTES"], provider.max_body_bytes or 1 << 62)
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if len(body) > limit:  # chunked uploads carry no Content-Length
        raise _too_large(limit)
    accepted = getattr(provider, "content_types", ())
    mimetype = request.mimetype
    if accepted and mimetype and not _type_accepted(mimetype, accepted):
        raise ingest.Refused(415, "unsupported_media_type", f"send {' or '.join(accepted)}, not {mimetype}")
    return body


def _too_large(limit: int) -> ingest.Refused:
    return ingest.Refused(413, "body_too_large", f"the limit is {limit} bytes")


def organisation(org_key: str | None) -> int | None:
    """The organisation a URL names (the default one for URLs without a key)."""
    return orgs.default_id() if org_key is None else orgs.id_for_key(org_key)


def receive(provider: Provider, org_key: str | None) -> Response:
    started = time.perf_counter()
    response = _receive(provider, org_key)
    metrics.webhook_answered(provider.name, response.status_code, time.perf_counter() - started)
    return response


def _receive(provider: Provider, org_key: str | None) -> Response:
    try:
        org_id = organisation(org_key)
    except SQLAlchemyError:
        return error(503, "database_unavailable", "the event could not be stored; please retry")
    if org_id is None:
        return error(404, "unknown_organisation", "no organisation has this webhook URL")
    tenancy.enter_request(org_id)
    try:
        body = read_body(provider)
        form = _form_fields(provider, body) if request.mimetype == "application/x-www-form-urlencoded" else {}
        data = RequestData(body=body, headers=request.headers, url=public_url(), form=form,
                           remote_addr=client_address())
        stored = ingest.store_events(provider, data, org_id)
    except ingest.Refused as refused:
        return reject(provider, refused, org_id)
    except ingest.Unavailable:
        return error(503, "database_unavailable", "the event could not be stored; please retry")
    log.debug("%s webhook: %s, event %s", provider.name, stored.status, stored.event_ids)
    return provider.respond(stored.status, stored.event_ids, stored.extra)
