"""Starting a WhatsApp conversation with a prospect who has none yet: WhatsApp lets a business
write first only with an approved template. The conversation is made with the prospect's phone
number and the organisation's WhatsApp provider, and the template is queued and sent like any
reply (``inbox.reply``: once per intent, by the ``message_sends`` lane).

Twilio has no conversation ids, so the conversation takes the reference its inbound messages
will carry. Kapso names its conversations itself: until it does (its first webhook about this
number), the conversation's reference is a placeholder (``conversations.adopt_started``).
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import select

from vani import tenancy
from vani.conversations import STARTED, inbox, outgoing
from vani.errors import Conflict, InvalidField
from vani.extensions import db
from vani.models import Conversation, ConversationStatus, Message, Prospect
from vani.models.replies import MessageSend
from vani.orgs.provider_settings import config_for
from vani.payloads.phones import normalize_phone


class NoProvider(Conflict):
    code = "no_whatsapp_provider"


def provider_for(org_id: int) -> tuple[str, str | None]:
    """The organisation's WhatsApp provider (Kapso before Twilio) and the business number a
    first message leaves from."""
    cfg = config_for(org_id)
    if cfg.get("KAPSO_API_KEY") or cfg.get("KAPSO_API_TOKEN"):
        return "kapso", cfg.get("KAPSO_PHONE_NUMBER_ID") or None
    sender = cfg.get("TWILIO_WHATSAPP_FROM")
    if cfg.get("TWILIO_ACCOUNT_SID") and sender:
        return "twilio", normalize_phone(sender) or sender.split(":", 1)[-1]
    raise NoProvider("no WhatsApp provider is set up for this organisation: store KAPSO_API_KEY, or the "
                     "TWILIO_ACCOUNT_SID and TWILIO_WHATSAPP_FROM settings, on the Organisation page")


def template_only(body) -> dict:
    """The request as a reply payload, which must be a template."""
    if isinstance(body, Mapping) and "text" in body:
        raise InvalidField("text", "a conversation starts with an approved template: send 'template' only")
    if not isinstance(body, Mapping) or "template" not in body:
        raise InvalidField("template", "give the approved template: {name, language, variables}")
    return outgoing.parse_payload({"template": body["template"]})


def _repeat(intent_key: str) -> Conversation | None:
    """The conversation this intent started already (a double submit, a retried request)."""
    conv_id = db.session.execute(select(MessageSend.conversation_id).where(
        MessageSend.intent_key == intent_key[:255])).scalar()
    return db.session.get(Conversation, conv_id) if conv_id is not None else None


def _existing(prospect: Prospect) -> Conversation | None:
    return db.session.execute(select(Conversation).where(
        (Conversation.prospect_id == prospect.id) | (Conversation.phone == prospect.phone))
        .order_by(Conversation.id).limit(1)).scalar()


def start(prospect: Prospect, body, intent_key: str, *, origin: str, user_id: int | None
          ) -> tuple[Conversation, Message, bool]:
    """Open a conversation with ``prospect`` and queue its first message, a template; commits.
    Returns (conversation, message, created); a repeat of ``intent_key`` returns the first."""
    payload = template_only(body)
    first = _repeat(intent_key)
    if first is not None:
        message, created = inbox.reply(first, payload, intent_key, origin=origin, user_id=user_id)
        return first, message, created
    if not prospect.phone:
        raise Conflict("the prospect has no phone number: add one first", "phone")
    found = _existing(prospect)
    if found is not None:
        raise Conflict(f"the prospect already has conversation {found.id}: answer there", "conversation_id")
    provider, business = provider_for(tenancy.require())
    ref = f"whatsapp:{business or ''}:{prospect.phone}" if provider == "twilio" else STARTED + uuid.uuid4().hex
    conv = Conversation(org_id=prospect.org_id, provider=provider, provider_ref=ref, channel="whatsapp",
                        phone=prospect.phone, business_ref=business, contact_name=prospect.name,
                        prospect_id=prospect.id, status=ConversationStatus.ACTIVE)
    db.session.add(conv)
    db.session.flush()
    message, created = inbox.reply(conv, payload, intent_key, origin=origin, user_id=user_id)
    return conv, message, created
