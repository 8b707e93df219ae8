"""Twilio's messenger: WhatsApp (and SMS) messages through Twilio's Messages API with the official
library, over the egress; Twilio reports each message's status to the organisation's Twilio URL.
The approved templates come from the Content API (``GET /v1/ContentAndApprovals``): those whose
WhatsApp approval is ``approved``, named by their Content SID, which is what a send names."""
from __future__ import annotations

import json
from collections.abc import Mapping

from vani import egress
from vani.dashboard.urls import webhook_url
from vani.orgs.secrets import secrets_for
from vani.plugins.messaging import (
    Accepted, Messenger, SendError, Template, TemplateListError, list_timeout, placeholders, retryable, timeout,
    variable_names,
)

MAX_TEMPLATES = 1000  # read at most this many contents, a page of PAGE_SIZE at a time
PAGE_SIZE = 100


def twilio_client(cfg: Mapping, auth_token: str):
    """The library's client over the egress (guarded, a hard deadline on the whole call, no
    proxies from the environment), with its transport, which keeps the last response (its
    headers: Retry-After); ``TWILIO_API_BASE_URL`` and ``TWILIO_CONTENT_BASE_URL`` stand in for
    Twilio's hosts when set."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class Recording(TwilioHttpClient):
        last = None

        def request(self, *args, **kwargs):
            self.last = super().request(*args, **kwargs)
            return self.last

    transport = Recording(timeout=timeout(cfg))
    transport.session = egress.session()
    client = Client(cfg.get("TWILIO_ACCOUNT_SID"), auth_token, http_client=transport)
    if cfg.get("TWILIO_API_BASE_URL"):
        client.api.base_url = cfg["TWILIO_API_BASE_URL"].rstrip("/")
    if cfg.get("TWILIO_CONTENT_BASE_URL"):
        client.content.base_url = cfg["TWILIO_CONTENT_BASE_URL"].rstrip("/")
    return client, transport


def twilio_send(cfg: Mapping, auth_token: str | None, to: str, payload: Mapping, status_callback: str | None,
                channel: str = "whatsapp") -> Accepted:
    from requests import RequestException
    from twilio.base.exceptions import TwilioRestException

    sid, sender = cfg.get("TWILIO_ACCOUNT_SID"), cfg.get("TWILIO_WHATSAPP_FROM")
    if not (sid and auth_token and sender):
        raise SendError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM must all be set",
                        retry=False, code="not_configured")
    client, transport = twilio_client(cfg, auth_token)
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


# -- approved templates ----------------------------------------------------------------------
def _whatsapp_approval(content) -> dict:
    """The content's WhatsApp approval (``{"status", "category", "name", …}``): Twilio gives it
    under ``approval_requests``, keyed ``whatsapp`` or (older answers) as the object itself."""
    approval = content.approval_requests if isinstance(content.approval_requests, dict) else {}
    if isinstance(approval.get("whatsapp"), dict):
        return approval["whatsapp"]
    return approval if approval.get("type", "whatsapp") == "whatsapp" else {}


def _body(types) -> str:
    """The text a content sends: its ``twilio/text`` body, else the first type's body."""
    types = types if isinstance(types, dict) else {}
    chosen = types.get("twilio/text") or next((t for t in types.values() if isinstance(t, dict) and t.get("body")), {})
    body = chosen.get("body") if isinstance(chosen, dict) else None
    return body if isinstance(body, str) else ""


def _template(content) -> Template | None:
    approval = _whatsapp_approval(content)
    if str(approval.get("status") or "").lower() != "approved" or not content.sid:
        return None
    body = _body(content.types)
    variables = content.variables if isinstance(content.variables, dict) else {}
    return Template(name=content.sid, language=content.language or "", category=approval.get("category") or None,
                    body=body, variables=variable_names(variables) if variables else placeholders(body),
                    label=content.friendly_name or approval.get("name") or None)


def _page_error(exc: Exception) -> TemplateListError:
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if status is None:
        return TemplateListError(f"Twilio's answer is not a list of contents: {exc}"[:300])
    try:
        detail = json.loads(response.text).get("message") or response.text
    except (ValueError, AttributeError):
        detail = getattr(response, "text", "") or ""
    return TemplateListError(f"Twilio answered {status}: {str(detail)[:300]}", http_status=status)


def _contents(client) -> list:
    """Every content, a page at a time. The next page is asked of the configured host with the
    page token Twilio gives, not at the absolute URL its answer names, so the credentials go
    nowhere else."""
    from urllib.parse import parse_qs, urlsplit

    listing, contents, token, number = client.content.v1.content_and_approvals, [], None, 0
    while len(contents) < MAX_TEMPLATES:
        page = listing.page(page_size=PAGE_SIZE, **({"page_token": token, "page_number": number} if token else {}))
        contents.extend(page)
        query = parse_qs(urlsplit(page.next_page_url or "").query)
        token, number = (query.get("PageToken") or [None])[0], number + 1
        if not token:
            break
    return contents[:MAX_TEMPLATES]


def twilio_templates(cfg: Mapping, auth_token: str | None) -> list[Template]:
    from requests import RequestException
    from twilio.base.exceptions import TwilioException, TwilioRestException

    if not (cfg.get("TWILIO_ACCOUNT_SID") and auth_token):
        raise TemplateListError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must both be set", configured=False)
    client, _ = twilio_client(cfg, auth_token)
    try:
        with egress.deadline(list_timeout(cfg)):  # every page together
            contents = _contents(client)
    except TwilioRestException as exc:
        raise TemplateListError(f"Twilio answered {exc.status}: {str(exc.msg or exc)[:300]}",
                                http_status=exc.status) from None
    except egress.BlockedTarget as exc:
        raise TemplateListError(f"Twilio was not called: refused target: {exc}") from None
    except (RequestException, OSError) as exc:
        raise TemplateListError(f"Twilio did not answer: {egress.describe(exc)}") from None
    except TwilioException as exc:  # a page answered other than 200, or not as a list
        raise _page_error(exc) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TemplateListError(f"Twilio's answer is not a list of contents: {exc}"[:300]) from None
    return [t for t in map(_template, contents) if t is not None]


AUTH_TOKEN, STATUS_CALLBACK = "twilio_send_auth_token", "twilio_send_status_callback"  # ``settings`` adds them


class TwilioMessenger(Messenger):
    def __init__(self, provider):
        self.provider = provider  # its auth token is the webhook secret Twilio signs with

    def settings(self, conv, cfg: Mapping) -> Mapping:
        return {**cfg, AUTH_TOKEN: next(iter(secrets_for(self.provider, conv.org_id)), None),
                STATUS_CALLBACK: webhook_url("twilio", conv.org_id)}

    def send(self, conv, payload: Mapping, cfg: Mapping) -> Accepted:
        return twilio_send(cfg, cfg.get(AUTH_TOKEN), conv.phone, payload, cfg.get(STATUS_CALLBACK),
                           channel=conv.channel)

    def templates(self, org_id: int, cfg: Mapping) -> list[Template]:
        return twilio_templates(cfg, next(iter(secrets_for(self.provider, org_id)), None))
