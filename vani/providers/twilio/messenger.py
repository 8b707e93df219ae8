"""Twilio's messenger: WhatsApp (and SMS) messages through Twilio's Messages API with the official
library, over the egress; Twilio reports each message's status to the organisation's Twilio URL."""
from __future__ import annotations

import json
from collections.abc import Mapping

from vani import egress
from vani.dashboard.urls import webhook_url
from vani.orgs.secrets import secrets_for
from vani.plugins.messaging import Accepted, Messenger, SendError, retryable, timeout


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
