"""``email.received`` / ``email.sent`` events → an ``Email`` row, linked to the prospect whose
address appears in From, To or Cc, and the outbound event of the same name (once each).

Mail from addresses no prospect has creates no prospect (newsletters stay out) unless
``VANI_EMAIL_CREATES_PROSPECTS`` is on: then the other party (the sender of received mail,
the first recipient of sent mail) becomes one.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from vani import prospects
from vani.conversations import text_or_none
from vani.extensions import db
from vani.mail.store import SENT
from vani.models import Email, EmailDirection, EventType, Mailbox, Prospect
from vani.models.dbutil import insert_new
from vani.outbound import outbox
from vani.payloads.coerce import as_time
from vani.plugins.contract import Outcome
from vani.processing.context import EventContext


def _addresses(values) -> list[str]:
    if not isinstance(values, list):
        return []
    out = []
    for value in values[:100]:
        text = text_or_none(value, 320)
        if text and "@" in text:
            out.append(text.lower())
    return out


def _prospect(ctx: EventContext, mailbox: Mailbox, email: Email) -> Prospect | None:
    own = (mailbox.address or "").lower()
    others = [a for a in [email.from_address or "", *(email.to or []), *(email.cc or [])] if a and a != own]
    for address in dict.fromkeys(others):
        found = prospects.find(email=address)
        if found is not None:
            return found
    if not current_app.config.get("VANI_EMAIL_CREATES_PROSPECTS") or not others:
        return None
    party = email.from_address if email.direction == EmailDirection.INBOUND else (email.to or [None])[0]
    if not party or party == own:
        return None
    return prospects.upsert(ctx, email=party, name=email.from_name if party == email.from_address else None)


def map_email(event, ctx: EventContext) -> Outcome:
    payload = event.payload if isinstance(event.payload, dict) else {}
    box = payload.get("mailbox") if isinstance(payload.get("mailbox"), dict) else {}
    m = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    mailbox_id = box.get("id")
    mailbox = db.session.get(Mailbox, mailbox_id) if isinstance(mailbox_id, int) and not isinstance(mailbox_id, bool) else None
    if mailbox is None:
        return Outcome.ignored("the mailbox this message came from no longer exists")
    provider_id = text_or_none(m.get("provider_message_id"), 255)
    if not provider_id:
        return Outcome.ignored("the message has no id")
    direction = EmailDirection.OUTBOUND if event.event_type == SENT else EmailDirection.INBOUND
    email = insert_new(Email, dict(
        org_id=mailbox.org_id, mailbox_id=mailbox.id, event_id=event.id, provider_message_id=provider_id,
        message_id=text_or_none(m.get("message_id"), 512), thread_id=text_or_none(m.get("thread_id"), 512),
        direction=direction, from_address=(_addresses([m.get("from_address")]) or [None])[0],
        from_name=text_or_none(m.get("from_name"), 255), to=_addresses(m.get("to")), cc=_addresses(m.get("cc")),
        subject=text_or_none(m.get("subject"), 2000), snippet=text_or_none(m.get("snippet"), 2000),
        labels=[x for x in (text_or_none(v, 64) for v in (m.get("labels") or [])[:50]) if x]
        if isinstance(m.get("labels"), list) else [],
        sent_at=as_time(m.get("date")) or event.received_at), ["mailbox_id", "provider_message_id"])
    created = email is not None
    if email is None:  # a replay: the row is there
        email = db.session.execute(select(Email).where(
            Email.mailbox_id == mailbox.id, Email.provider_message_id == provider_id)).scalar_one()
    prospect = db.session.get(Prospect, email.prospect_id) if email.prospect_id else _prospect(ctx, mailbox, email)
    if prospect is not None:
        email.prospect_id = prospect.id
        ctx.use_prospect(prospect)
    ctx.refer(email.message_id or provider_id)
    outbox.emit_keyed(ctx, EventType(event.event_type), {
        "email": email.to_dict(), "mailbox": {"id": mailbox.id, "kind": mailbox.kind, "address": mailbox.address},
        "prospect": prospect.to_dict() if prospect else None}, f"{event.event_type}:{mailbox.id}:{provider_id}")
    where = f"linked to prospect {prospect.id}" if prospect else "no prospect has these addresses"
    return Outcome.processed(f"{'stored' if created else 'already stored'}; {where}")
