"""Answering on WhatsApp through the API: the approved templates, replies, retries, assignment
and auto-reply rules."""
from __future__ import annotations

import uuid

from flask import g, jsonify, request

from vani.api.blueprint import bp, needs
from vani.api.openapi import bodies as b
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi.parsing import request_body
from vani.conversations import inbox, outgoing, rules, starting, templates
from vani.models import Scope, idempotency


def _reply(message, created: bool):
    send = outgoing.send_for(message.id)
    data = {"id": message.id, "status": message.status, "conversation_id": message.conversation_id,
            "message": message.to_dict(), "send": send.to_dict() if send else None, "replayed": not created}
    return jsonify(data), 202


@bp.get("/whatsapp/templates")
@documented("List the approved WhatsApp templates", "conversations", {200: m.WhatsappTemplateList}, errors=(409, 502),
            description="The organisation's WhatsApp provider's approved templates, to start a conversation or "
                        "answer outside the 24-hour window with (kept for five minutes). 409 no_whatsapp_provider "
                        "or templates_not_configured (KAPSO_BUSINESS_ACCOUNT_ID unset); 502 templates_unavailable "
                        "when the provider failed or did not answer.")
def list_whatsapp_templates():
    provider, _ = starting.provider_for(g.api_token.org_id)
    return jsonify({"provider": provider, "data": [t.to_dict() for t in templates.approved()]})


@bp.post("/conversations/<int:conversation_id>/messages")
@needs(Scope.MESSAGES)
@documented("Reply on WhatsApp", "conversations", {202: m.ReplyAnswer}, body=b.Reply, errors=(409, 502),
            description="Queued and sent once; free text only inside the 24-hour window (409 outside_service_window).")
def send_message(conversation_id: int):
    conv = inbox.get(conversation_id)
    payload = request_body().given()
    # Beyond the 24 hours a replayed answer lasts, the key still names this one message.
    key = request.headers.get("Idempotency-Key")
    intent = f"api:{g.api_token.id}:{idempotency.checked_key(key)}" if key is not None else f"api:{uuid.uuid4().hex}"
    message, created = inbox.reply(conv, payload, intent, origin="api", user_id=None)
    return _reply(message, created)


@bp.post("/conversations/<int:conversation_id>/messages/<int:message_id>/retry")
@needs(Scope.MESSAGES)
@documented("Send a failed reply again", "conversations", {202: m.ReplyAnswer}, errors=(409,))
def retry_message(conversation_id: int, message_id: int):
    message = inbox.retry(inbox.get(conversation_id), message_id)
    return _reply(message, True)


@bp.post("/conversations/<int:conversation_id>/read")
@needs(Scope.MESSAGES)
@documented("Mark a conversation read", "conversations", {200: m.ReadAnswer},
            description="As opening it in the dashboard does: its newest inbound message is read, and the "
                        "customer gets a read receipt (Kapso).")
def mark_read(conversation_id: int):
    conv = inbox.get(conversation_id)
    queued = inbox.mark_read(conv)
    return jsonify({"conversation_id": conv.id, "last_read_message_id": conv.last_read_message_id,
                    "receipt_queued": queued})


@bp.patch("/conversations/<int:conversation_id>")
@needs(Scope.MESSAGES)
@documented("Assign a conversation", "conversations", {200: m.Conversation}, body=b.Assignment)
def update_conversation(conversation_id: int):
    conv = inbox.get(conversation_id)
    return jsonify(inbox.assign(conv, request_body().assignee_id).to_dict())


# -- auto-reply rules ------------------------------------------------------------------------
@bp.get("/autoreply-rules")
@documented("List auto-reply rules", "auto-reply rules", {200: m.RuleList})
def list_rules():
    return jsonify({"data": [r.to_dict() for r in rules.all_rules()]})


@bp.post("/autoreply-rules")
@needs(Scope.ADMIN)
@documented("Create an auto-reply rule", "auto-reply rules", {201: m.Rule}, body=b.RuleIn)
def create_rule():
    return jsonify(rules.create(request_body().given()).to_dict()), 201


@bp.get("/autoreply-rules/<int:rule_id>")
@documented("Get an auto-reply rule", "auto-reply rules", {200: m.Rule})
def get_rule(rule_id: int):
    return jsonify(rules.get(rule_id).to_dict())


@bp.patch("/autoreply-rules/<int:rule_id>")
@needs(Scope.ADMIN)
@documented("Change an auto-reply rule", "auto-reply rules", {200: m.Rule}, body=b.RuleIn)
def update_rule(rule_id: int):
    body = request_body(context={"rule": rules.get(rule_id)})
    return jsonify(rules.update(rule_id, body.given()).to_dict())


@bp.delete("/autoreply-rules/<int:rule_id>")
@needs(Scope.ADMIN)
@documented("Delete an auto-reply rule", "auto-reply rules", {204: None})
def delete_rule(rule_id: int):
    rules.delete(rule_id)
    return "", 204
