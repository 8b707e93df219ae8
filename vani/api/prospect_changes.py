"""Changing prospects through the API: create and edit, notes, the stage, and starting a
WhatsApp conversation with a template. Every POST and PATCH takes an ``Idempotency-Key``."""
from __future__ import annotations

import uuid

from flask import g, jsonify, request

from vani.api.blueprint import bp, needs
from vani.api.openapi import documented
from vani.api.openapi import edits as e
from vani.api.openapi import models as m
from vani.api.openapi.parsing import request_body
from vani.api.pagination import get_or_404
from vani.conversations import outgoing, starting
from vani.models import Prospect, Scope, idempotency
from vani.prospects import editing


def actor() -> editing.Actor:
    return editing.Actor(name=f"API token {g.api_token.name}", source="api")


def intent(prefix: str) -> str:
    """This request's intent: its ``Idempotency-Key`` (per token) when it sent one."""
    key = request.headers.get("Idempotency-Key")
    token = g.api_token.id
    return f"{prefix}:{token}:{idempotency.checked_key(key)}" if key is not None else f"{prefix}:{uuid.uuid4().hex}"


@bp.post("/prospects")
@needs(Scope.WRITE)
@documented("Create a prospect", "prospects", {201: m.Prospect}, body=e.ProspectIn, errors=(409,),
            description="An email or a phone number is required; an email another prospect has answers 409. "
                        "Emits prospect.created.")
def create_prospect():
    prospect = editing.create(request_body().given(), actor())
    return jsonify(prospect.to_dict()), 201


@bp.patch("/prospects/<int:prospect_id>")
@needs(Scope.WRITE)
@documented("Change a prospect", "prospects", {200: m.Prospect}, body=e.ProspectIn, errors=(409,),
            description="Fields left out keep their value; owner_id sets the owner (kept over the host of "
                        "later bookings). Emits prospect.updated when something changed.")
def update_prospect(prospect_id: int):
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    body = request_body(context={"prospect": prospect})
    return jsonify(editing.update(prospect, body.given(), actor()).to_dict())


@bp.post("/prospects/<int:prospect_id>/notes")
@needs(Scope.WRITE)
@documented("Add a note to a prospect", "prospects", {201: m.Note}, body=e.NoteIn,
            description="Shown on the prospect's timeline. Emits note.created.")
def add_note(prospect_id: int):
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    note, _ = editing.add_note(prospect, request_body().body, actor(), key=intent("api-note"))
    return jsonify(note.to_dict()), 201


@bp.post("/prospects/<int:prospect_id>/stage")
@needs(Scope.WRITE)
@documented("Move a prospect's stage", "prospects", {200: m.Prospect}, body=e.StageIn, errors=(409,),
            description="Forward freely; back only with a reason (409 reason_required). The move is written "
                        "on the timeline with who and why. Emits prospect.updated with previous_stage.")
def move_stage(prospect_id: int):
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    body = request_body()
    editing.move_stage(prospect, body.stage, body.reason, actor())
    return jsonify(prospect.to_dict())


@bp.post("/prospects/<int:prospect_id>/conversations")
@needs(Scope.MESSAGES)
@documented("Start a WhatsApp conversation with a template", "conversations", {202: m.ReplyAnswer},
            body=e.ConversationStart, errors=(409,),
            description="For a prospect with a phone number and no conversation yet (409 otherwise): the "
                        "approved template is queued and sent as replies are.")
def start_conversation(prospect_id: int):
    prospect = get_or_404(Prospect, prospect_id, "prospect")
    body = request_body()
    conv, message, created = starting.start(prospect, {"template": body.template}, intent("api"),
                                            origin="api", user_id=None)
    send = outgoing.send_for(message.id)
    return jsonify({"id": message.id, "status": message.status, "conversation_id": conv.id,
                    "message": message.to_dict(), "send": send.to_dict() if send else None,
                    "replayed": not created}), 202
