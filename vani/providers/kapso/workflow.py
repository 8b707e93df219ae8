"""Kapso workflow events: ``workflow.execution.handoff`` (its bot hands the chat to a person)."""
from __future__ import annotations

from sqlalchemy import select

from vani.conversations import text_or_none
from vani.extensions import db
from vani.models import Conversation, EventType, NotificationKind, Prospect
from vani.notifications import moments
from vani.outbound import outbox
from vani.plugins.contract import Outcome
from vani.work import effects

PROVIDER = "kapso"


def map_handoff(body: dict, ctx) -> Outcome:
    execution = text_or_none(body.get("workflow_execution_id"), 120)
    if not execution:
        return Outcome.ignored("the handoff names no workflow execution")
    conv_ref = text_or_none(body.get("whatsapp_conversation_id"), 255)
    conv = db.session.execute(select(Conversation).where(
        Conversation.provider == PROVIDER, Conversation.provider_ref == conv_ref)).scalar_one_or_none() if conv_ref else None
    prospect = db.session.get(Prospect, conv.prospect_id) if conv is not None and conv.prospect_id else None
    if prospect is not None:
        ctx.use_prospect(prospect)
    handoff = body.get("handoff") if isinstance(body.get("handoff"), dict) else {}
    data = {"workflow_id": text_or_none(body.get("workflow_id"), 120), "workflow_execution_id": execution,
            "reason": text_or_none(handoff.get("reason"), 1000), "source": text_or_none(handoff.get("source"), 64),
            "whatsapp_conversation_id": conv_ref, "conversation_id": conv.id if conv else None,
            "assignee_id": conv.assignee_id if conv else None, "phone": conv.phone if conv else None,
            "contact_name": conv.contact_name if conv else None, "provider": PROVIDER,
            "occurred_at": text_or_none(body.get("occurred_at"), 64)}
    key = f"{EventType.CONVERSATION_HANDOFF}:{execution}"
    outbox.emit_keyed(ctx, EventType.CONVERSATION_HANDOFF, {
        "handoff": data, "conversation": conv.to_dict() if conv else None,
        "prospect": prospect.to_dict() if prospect else None}, key)
    moments.notify(ctx, NotificationKind.CONVERSATION_HANDOFF, key, prospect=prospect, data=data)
    ctx.refer(conv_ref or execution)
    if conv is not None:
        effects.publish(ctx.org_id, f"conversation:{conv.id}")
        return Outcome.processed("the bot handed the conversation to a person")
    return Outcome.processed("the bot handed a conversation Vani has not seen yet to a person")
