"""Calling the WhatsApp providers: Kapso's Meta-compatible API and Twilio's Messages API.

Each call ends in ``Accepted`` (the provider's message id) or raises ``SendError``, which says
whether trying again can help: 5xx, 429 and timeouts can; any other 4xx cannot.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from vani import egress

META_VERSION = "v24.0"


@dataclass
class Accepted:
    provider_message_id: str | None
    http_status: int | None = None


class SendError(Exception):
    def __init__(self, message: str, *, retry: bool, code: str | None = None, http_status: int | None = None,
                 retry_after: str | None = None):
        super().__init__(message)
        self.message, self.retry, self.code = message, retry, code
        self.http_status, self.retry_after = http_status, retry_after


def retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


def timeout(cfg: Mapping) -> float:
    return max(float(cfg.get("VANI_SEND_TIMEOUT_SECONDS") or 10), 1.0)


# -- Kapso (Meta's Cloud API shape) ------------------------------------------------------------
def kapso_key(cfg: Mapping) -> str | None:
    return cfg.get("KAPSO_API_KEY") or cfg.get("KAPSO_API_TOKEN")


def kapso_url(cfg: Mapping, phone_number_id: str) -> str:
    base = (cfg.get("KAPSO_API_BASE_URL") or cfg.get("KAPSO_API_BASE") or "https://api.kapso.ai").rstrip("/")
    return f"{base}/meta/whatsapp/{META_VERSION}/{phone_number_id}/messages"


def meta_body(to: str, payload: Mapping) -> dict:
    """The Cloud API body for a text or a template (``to`` in digits, as Meta documents it)."""
    body: dict = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to.lstrip("+")}
    if "template" in payload:
        t = payload["template"]
        template: dict = {"name": t["name"], "language": {"code": t.get("language") or "en"}}
        variables = t.get("variables") or []
        if isinstance(variables, Mapping):
            variables = [variables[k] for k in sorted(variables, key=lambda k: (len(str(k)), str(k)))]
        if variables:
            template["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": str(v)} for v in variables]}]
        body.update(type="template", template=template)
    else:
        body.update(type="text", text={"preview_url": False, "body": payload["text"]})
    return body


def _meta_error(reply: egress.Reply) -> tuple[str | None, str]:
    try:
        error = json.loads(reply.body or b"{}").get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    message = error.get("message") or error.get("error_user_msg") or reply.text[:300] or f"HTTP {reply.status_code}"
    return (str(code) if code is not None else None), str(message)[:1000]


def kapso_call(cfg: Mapping, phone_number_id: str, body: dict) -> Accepted:
    key = kapso_key(cfg)
    if not key:
        raise SendError("KAPSO_API_KEY is not set for this organisation", retry=False, code="not_configured")
    if not phone_number_id:
        raise SendError("the conversation has no business number (phone_number_id) to send from",
                        retry=False, code="no_business_number")
    reply = egress.call("POST", kapso_url(cfg, phone_number_id), timeout(cfg), json=body,
                      headers={"X-API-Key": key, "Content-Type": "application/json"})
    if reply.error and reply.status_code is None:
        raise SendError(reply.error, retry=True, code="timeout" if "timed out" in reply.error else "network")
    if reply.error and 200 <= reply.status_code < 300:  # accepted, but the answer was cut off: no second try
        raise SendError(f"{reply.error}: it may have gone out", retry=False, code="unknown",
                        http_status=reply.status_code)
    if not reply.ok:
        code, message = _meta_error(reply) if reply.status_code else (None, reply.error or "")
        raise SendError(message, retry=retryable(reply.status_code), code=code, http_status=reply.status_code,
                        retry_after=reply.headers.get("Retry-After"))
    try:
        messages = json.loads(reply.body or b"{}").get("messages") or []
        message_id = messages[0].get("id") if isinstance(messages, list) and isinstance(messages[0], dict) else None
    except (ValueError, AttributeError, KeyError, TypeError, IndexError):
        message_id = None
    return Accepted(str(message_id)[:255] if message_id else None, reply.status_code)


def kapso_send(cfg: Mapping, phone_number_id: str, to: str, payload: Mapping) -> Accepted:
    accepted = kapso_call(cfg, phone_number_id, meta_body(to, payload))
    if not accepted.provider_message_id:
        raise SendError("Kapso accepted the message but returned no message id", retry=False, code="no_message_id",
                        http_status=accepted.http_status)
    return accepted


def kapso_mark_read(cfg: Mapping, phone_number_id: str, message_id: str) -> Accepted:
    return kapso_call(cfg, phone_number_id, {"messaging_product": "whatsapp", "status": "read",
                                             "message_id": message_id})


# -- Twilio (through the official library) -----------------------------------------------------
def twilio_send(cfg: Mapping, auth_token: str | None, to: str, payload: Mapping, status_callback: str | None,
                channel: str = "whatsapp") -> Accepted:
    from requests import RequestException
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    sid, sender = cfg.get("TWILIO_ACCOUNT_SID"), cfg.get("TWILIO_WHATSAPP_FROM")
    if not (sid and auth_token and sender):
        raise SendError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM must all be set",
                        retry=False, code="not_configured")

    class Recording(TwilioHttpClient):  # keeps the last response's headers (Retry-After)
        last = None

        def request(self, *args, **kwargs):
            self.last = super().request(*args, **kwargs)
            return self.last

    transport = Recording(timeout=timeout(cfg))
    transport.session = egress.session()  # guarded, a hard deadline on the whole call, no proxies from the environment
    client = Client(sid, auth_token, http_client=transport)
    if cfg.get("TWILIO_API_BASE_URL"):
        client.api.base_url = cfg["TWILIO_API_BASE_URL"].rstrip("/")
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    params: dict = {"from_": sender if sender.startswith(prefix) else prefix + sender, "to": prefix + to}
    if status_callback:
        params["status_callback"] = status_callback
    if "template" in payload:
        t = payload["template"]
        variables = t.get("variables") or {}
        if isinstance(variables, list):
            variables = {str(i + 1): str(v) for i, v in enumerate(variables)}
        params["content_sid"] = t["name"]
        if variables:
            params["content_variables"] = json.dumps(variables, ensure_ascii=False)
    else:
        params["body"] = payload["text"]
    try:
        with egress.deadline(timeout(cfg)):
            message = client.messages.create(**params)
    except TwilioRestException as exc:
        headers = getattr(transport.last, "headers", None) or {}
        raise SendError(str(exc.msg or exc)[:1000], retry=retryable(exc.status), http_status=exc.status,
                        code=str(exc.code) if exc.code is not None else None,
                        retry_after=headers.get("Retry-After")) from None
    except egress.BlockedTarget as exc:
        raise SendError(f"Twilio was not called: refused target: {exc}", retry=False, code="refused_target") from None
    except (RequestException, OSError) as exc:
        raise SendError(f"Twilio did not answer: {egress.describe(exc)}", retry=True, code="timeout") from None
    return Accepted(message.sid, 201)
