"""Gmail push notifications (Cloud Pub/Sub push subscription).

Authenticated by Pub/Sub's OIDC token (``Authorization: Bearer <JWT>``, see ``oidc``) when
``GMAIL_PUSH_AUDIENCE`` is set, or by a shared token on the push URL (``?token=…``) or as a
non-JWT Bearer token: the install's ``GMAIL_PUSH_TOKEN``, or an organisation's stored one. A
push says only "this mailbox changed since historyId N": mapping it makes the mailbox's sync due
(``vani.mail``), which fetches the mail through the Gmail API and stores each message
as an ``email.received`` / ``email.sent`` event of this provider; those are mapped here too.

Whom a push reaches depends on how it was authenticated: the install's credentials (the OIDC
token, ``GMAIL_PUSH_TOKEN`` from the environment) serve one push subscription for every
organisation, so the push goes to each organisation that connected the mailbox; an
organisation's own stored token speaks for that organisation alone.

Parts: ``oidc`` (the push's token), the verifier and parser below, ``api`` (the Gmail API and
Google's OAuth client), ``connect`` (the connector: "Connect Gmail", disconnecting), ``sync``
(the syncer the mailbox lane calls, and the watches), and ``views`` (its dashboard routes).
"""
from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qs

from flask import current_app

from vani import tenancy, work
from vani.extensions import db
from vani.mail import mailboxes
from vani.mail.mapping import map_email
from vani.models import Mailbox
from vani.payloads.safejson import load_json
from vani.plugins.contract import (
    Authority,
    BadPayload,
    Incoming,
    InstallSecret,
    Outcome,
    Provider,
    RequestData,
    SignatureError,
    parse_json_object,
)
from vani.providers.gmail import oidc
from vani.providers.gmail import sync as gmail_sync
from vani.providers.gmail.connect import CONNECTOR
from vani.work import effects

IGNORED_REASON = "no connected Gmail mailbox has this address"


def _query_token(data: RequestData) -> str | None:
    values = parse_qs(data.url.partition("?")[2].partition("#")[0]).get("token")  # no urlparse: the host may be junk
    return values[0] if values and values[0] else None


def _bearer(data: RequestData) -> str | None:
    scheme, _, token = (data.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def decode_data(data: str) -> dict:
    """``message.data``: base64 (standard, padded in practice; URL-safe or unpadded accepted) of
    a JSON object ``{emailAddress, historyId}``."""
    text = data.strip()
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        decoded = load_json(raw)
    except (binascii.Error, ValueError):  # UnicodeDecodeError and too deep nesting included
        raise BadPayload("invalid_data", "message.data is not base64 of a JSON object") from None
    if not isinstance(decoded, dict):
        raise BadPayload("invalid_data", "message.data must decode to a JSON object")
    return decoded


def _owners(address) -> list[int]:
    """The organisations with a Gmail mailbox at ``address``."""
    from sqlalchemy import select

    if not isinstance(address, str) or not address.strip():
        return []
    with tenancy.everywhere():
        return sorted(db.session.execute(select(Mailbox.org_id).where(
            Mailbox.kind == "gmail", Mailbox.address == address.strip().lower()[:320])).scalars())


class GmailProvider(Provider):
    name = "gmail"
    title = "Gmail (Pub/Sub push)"
    secret_settings = ("GMAIL_PUSH_TOKEN",)
    relevant_headers = ()
    connector = CONNECTOR
    syncer = gmail_sync

    def verifies_without_secrets(self) -> bool:
        """With OIDC set up, a push is verified even when no shared token is set."""
        return bool(current_app.config.get("GMAIL_PUSH_AUDIENCE"))

    def verify(self, data: RequestData, secrets, now, tolerance) -> None:
        bearer = _bearer(data)
        if bearer and oidc.looks_like_jwt(bearer) and self.verifies_without_secrets():
            oidc.verify(bearer, current_app.config)
            data.authority = Authority.INSTALL
            return
        token = _query_token(data) or bearer
        if not token:
            raise SignatureError("missing_token", "send Pub/Sub's OIDC token, or the push token as ?token=… or "
                                                  "Authorization: Bearer …")
        if not secrets:
            raise SignatureError("invalid_token", "GMAIL_PUSH_TOKEN is not set: send Pub/Sub's OIDC token")
        matched = None
        for secret in secrets:  # every one compared, in constant time
            if hmac.compare_digest(token.encode(), secret.encode()) and matched is None:
                matched = secret
        if matched is None:
            raise SignatureError("invalid_token", "the push token does not match GMAIL_PUSH_TOKEN")
        data.authority = Authority.INSTALL if isinstance(matched, InstallSecret) else Authority.ORGANISATION

    def parse(self, data: RequestData) -> list[Incoming]:
        body = parse_json_object(data.body)
        message = body.get("message")
        if not isinstance(message, dict):
            raise BadPayload("missing_message", "a Pub/Sub push body has a 'message' object")
        message_id = message.get("messageId") or message.get("message_id")
        if not isinstance(message_id, (str, int)) or not str(message_id):
            raise BadPayload("missing_message_id", "message.messageId is missing")
        if not isinstance(message.get("data"), str) or not message["data"].strip():
            raise BadPayload("missing_data", "message.data is missing")
        decoded = decode_data(message["data"])
        history = decoded.get("historyId")
        payload = {**body, "decoded": {"emailAddress": decoded.get("emailAddress"),
                                       "historyId": str(history) if history is not None else None}}
        # Pub/Sub redelivers with the same message id. The install's push subscription serves every
        # organisation: its push is stored for each organisation that connected the mailbox it
        # names (for none, with the organisation whose URL was called, and then ignored). A push
        # with an organisation's own token stays with that organisation.
        owners = [None]
        if data.authority is Authority.INSTALL:
            owners = _owners(decoded.get("emailAddress")) or [None]
        return [Incoming(event_type="gmail.mailbox.changed", dedupe_key=f"pubsub:{message_id}",
                         payload=payload, body=data.body, org_id=org_id) for org_id in owners]

    def map(self, event, ctx) -> Outcome:
        if event.event_type in ("email.received", "email.sent"):
            return map_email(event, ctx)
        decoded = (event.payload or {}).get("decoded") or {}
        email = decoded.get("emailAddress")
        if not isinstance(email, str) or not email.strip():
            return Outcome.ignored("the push names no mailbox")
        ctx.subject_email = email.strip().lower()[:320]
        mailbox = mailboxes.by_address("gmail", ctx.subject_email)
        if mailbox is None:
            return Outcome.ignored(IGNORED_REASON)
        if mailboxes.mark_due(mailbox.id):
            effects.wake(work.get("mailbox_syncs"))
            return Outcome.processed(f"sync of mailbox {mailbox.id} asked for (history {decoded.get('historyId')})")
        return Outcome.processed(f"mailbox {mailbox.id} is syncing already: it syncs again after")


provider = GmailProvider()
