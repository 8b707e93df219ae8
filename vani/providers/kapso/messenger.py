"""Kapso's messenger: WhatsApp messages and read receipts through Kapso's Meta-compatible API
(Meta's Cloud API shape, ``X-API-Key``), over the egress. A send leaves from the business number
the conversation arrived on.

The approved templates are listed from the WhatsApp Business Account
(``KAPSO_BUSINESS_ACCOUNT_ID``): ``GET …/{business_account_id}/message_templates?status=APPROVED
&limit=100``, page after page (Meta's ``paging.cursors.after``) up to ``MAX_PAGES``, all pages
within ``list_timeout`` (the send timeout, at most 4 s: a page is waiting)."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from urllib.parse import quote

from vani import egress
from vani.plugins.messaging import (
    Accepted, Messenger, SendError, Template, TemplateListError, list_timeout, retryable, timeout,
)
from vani.providers.kapso.api_base import send_url, templates_url
from vani.providers.kapso.components import send_components, template_variables

PAGE_SIZE = 100
MAX_PAGES = 10  # 1,000 templates
MAX_PAGE_BYTES = 2 * 1024 * 1024
APPROVED = "APPROVED"


def kapso_key(cfg: Mapping) -> str | None:
    return cfg.get("KAPSO_API_KEY") or cfg.get("KAPSO_API_TOKEN")


def meta_body(to: str, payload: Mapping) -> dict:
    """The Cloud API body for a text or a template (``to`` in digits, as Meta documents it)."""
    body: dict = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to.lstrip("+")}
    if "template" in payload:
        t = payload["template"]
        template: dict = {"name": t["name"], "language": {"code": t.get("language") or "en"}}
        components = send_components(t.get("variables") or [])
        if components:
            template["components"] = components
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
    reply = egress.call("POST", send_url(cfg, phone_number_id), timeout(cfg), json=body,
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


# -- approved templates ----------------------------------------------------------------------
def _list_error(reply: egress.Reply) -> TemplateListError:
    if reply.status_code is None or reply.error:
        return TemplateListError(f"Kapso did not answer: {reply.error}", http_status=reply.status_code)
    _, message = _meta_error(reply)
    return TemplateListError(f"Kapso answered {reply.status_code}: {message}", http_status=reply.status_code)


def _page(url: str, key: str, after: str | None, seconds: float) -> dict:
    params = {"status": APPROVED, "limit": str(PAGE_SIZE), **({"after": after} if after else {})}
    reply = egress.call("GET", url, seconds, params=params, max_read=MAX_PAGE_BYTES,
                        headers={"X-API-Key": key, "Accept": "application/json"})
    if not reply.ok:
        raise _list_error(reply)
    if len(reply.body) >= MAX_PAGE_BYTES:
        raise TemplateListError("Kapso's list of templates is larger than Vani reads")
    try:
        answer = json.loads(reply.body or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise TemplateListError("Kapso's answer is not a list of templates ({\"data\": [...]})")
    return answer


def _template(item) -> Template | None:
    """One of Meta's templates, if it is approved and names itself."""
    if not isinstance(item, dict) or str(item.get("status") or "").upper() != APPROVED:
        return None
    name, language = item.get("name"), item.get("language")
    if not isinstance(name, str) or not name or not isinstance(language, str):
        return None
    components = item.get("components") if isinstance(item.get("components"), list) else []
    variables, body = template_variables(components)
    category = item.get("category") if isinstance(item.get("category"), str) else None
    return Template(name=name, language=language, category=category, body=body, variables=variables)


def _next_cursor(answer: dict) -> str | None:
    paging = answer.get("paging") if isinstance(answer.get("paging"), dict) else {}
    cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
    after = cursors.get("after")
    # Meta leaves ``next`` out on the last page; the cursor alone is followed, on Vani's own URL,
    # so the API key goes nowhere but to the configured API.
    return after if paging.get("next") and isinstance(after, str) and after else None


def approved_templates(cfg: Mapping, key: str | None) -> list[Template]:
    account = (cfg.get("KAPSO_BUSINESS_ACCOUNT_ID") or "").strip()
    if not key:
        raise TemplateListError("KAPSO_API_KEY is not set for this organisation", configured=False)
    if not account:
        raise TemplateListError("KAPSO_BUSINESS_ACCOUNT_ID is not set: store the WhatsApp Business Account's id "
                                "on the Organisation page", configured=False)
    url, ends = templates_url(cfg, quote(account, safe="")), time.monotonic() + list_timeout(cfg)
    found: list[Template] = []
    after, seen = None, set()
    for _ in range(MAX_PAGES):
        left = ends - time.monotonic()
        if left <= 0:
            raise TemplateListError(f"Kapso did not list every template within {list_timeout(cfg):g} s")
        answer = _page(url, key, after, left)
        found.extend(t for t in map(_template, answer["data"]) if t is not None)
        after = _next_cursor(answer)
        if after is None or after in seen:
            break
        seen.add(after)
    return found


def business_number(conv, cfg: Mapping) -> str:
    """The business number a send leaves from: the one the conversation arrived on."""
    return conv.business_ref or cfg.get("KAPSO_PHONE_NUMBER_ID") or ""


class KapsoMessenger(Messenger):
    def send(self, conv, payload: Mapping, cfg: Mapping) -> Accepted:
        return kapso_send(cfg, business_number(conv, cfg), conv.phone, payload)

    def mark_read(self, conv, message_id: str, cfg: Mapping) -> Accepted:
        return kapso_mark_read(cfg, business_number(conv, cfg), message_id)

    def templates(self, org_id: int, cfg: Mapping) -> list[Template]:
        return approved_templates(cfg, kapso_key(cfg))
