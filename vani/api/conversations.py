"""Conversations (WhatsApp, SMS) and their messages."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from vani.api.blueprint import bp
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi import queries as q
from vani.api.pagination import get_or_404, id_arg, limit_arg, paginated_response, provider_arg
from vani.conversations import recent_messages
from vani.errors import InvalidField
from vani.models import Conversation, ConversationStatus
from vani.payloads.phones import normalize_phone

STATUSES = tuple(ConversationStatus)


def phone_arg() -> str | None:
    """``?phone=`` in any common spelling, as E.164; 400 when it is not a phone number."""
    raw = request.args.get("phone")
    if raw is None or not raw.strip():
        return None
    phone = normalize_phone(raw)
    if phone is None:
        raise InvalidField("phone", "not a phone number (use E.164, e.g. +15550100002)")
    return phone


@bp.get("/conversations")
@documented("List conversations", "conversations", {200: m.ConversationPage}, query=q.ConversationQuery)
def list_conversations():
    stmt = select(Conversation)
    if phone := phone_arg():
        stmt = stmt.where(Conversation.phone == phone)
    if (prospect_id := id_arg("prospect_id")) is not None:
        stmt = stmt.where(Conversation.prospect_id == prospect_id)
    if provider := provider_arg():
        stmt = stmt.where(Conversation.provider == provider)
    assignee = request.args.get("assignee")
    if assignee == "unassigned":
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    elif assignee is not None:
        if not (assignee.isascii() and assignee.isdecimal()) or len(assignee) > 18:
            raise InvalidField("assignee", "a member id, or unassigned")
        stmt = stmt.where(Conversation.assignee_id == int(assignee))
    if status := request.args.get("status"):
        if status not in STATUSES:
            raise InvalidField("status", f"must be one of {', '.join(STATUSES)}")
        stmt = stmt.where(Conversation.status == status)
    return paginated_response(stmt, Conversation.created_at, Conversation.id)


@bp.get("/conversations/<int:conversation_id>")
@documented("Get a conversation with its newest messages", "conversations", {200: m.ConversationDetail}, query=q.ConversationDetailQuery)
def get_conversation_view(conversation_id: int):
    conv = get_or_404(Conversation, conversation_id, "conversation")
    limit = limit_arg(default=200, maximum=1000)
    messages = recent_messages([conv.id], limit + 1)
    truncated = len(messages) > limit
    data = conv.to_dict()
    data["messages"] = [m.to_dict() for m in messages[-limit:]]
    data["messages_truncated"] = truncated
    return jsonify(data)
