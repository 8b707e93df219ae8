"""Conversations (WhatsApp, SMS) and their messages."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from vani.api.blueprint import bp
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi import queries as q
from vani.api.openapi.parsing import request_query
from vani.api.pagination import get_or_404, paginated_response
from vani.conversations import recent_messages
from vani.models import Conversation


@bp.get("/conversations")
@documented("List conversations", "conversations", {200: m.ConversationPage}, query=q.ConversationQuery)
def list_conversations():
    query = request_query()
    stmt = select(Conversation)
    if query.phone:
        stmt = stmt.where(Conversation.phone == query.phone)
    if query.prospect_id is not None:
        stmt = stmt.where(Conversation.prospect_id == query.prospect_id)
    if query.provider:
        stmt = stmt.where(Conversation.provider == query.provider)
    if query.assignee == "unassigned":
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    elif query.assignee is not None:
        stmt = stmt.where(Conversation.assignee_id == int(query.assignee))
    if query.status:
        stmt = stmt.where(Conversation.status == query.status)
    return paginated_response(stmt, Conversation.created_at, Conversation.id, query)


@bp.get("/conversations/<int:conversation_id>")
@documented("Get a conversation with its newest messages", "conversations", {200: m.ConversationDetail}, query=q.ConversationDetailQuery)
def get_conversation_view(conversation_id: int):
    conv = get_or_404(Conversation, conversation_id, "conversation")
    limit = request_query().limit
    messages = recent_messages([conv.id], limit + 1)
    truncated = len(messages) > limit
    data = conv.to_dict()
    data["messages"] = [m.to_dict() for m in messages[-limit:]]
    data["messages_truncated"] = truncated
    return jsonify(data)
