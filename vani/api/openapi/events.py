"""The outbound webhook catalogue's payloads: one model per ``EventType`` for the document's ``webhooks``."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from vani.api.openapi.models import Json
from vani.models import ConversationStatus, EventType, MeetingStatus, MessageDirection, ProspectStage


class Payload(BaseModel):
    """Fields may be added over time: receivers ignore the ones they do not know."""

    model_config = ConfigDict(extra="allow")


class ProspectSummary(Payload):
    id: int
    email: str | None
    name: str | None
    phone: str | None


class ProspectPayload(ProspectSummary):
    timezone: str | None
    source: str | None
    stage: ProspectStage
    utm: Json
    owner_id: int | None = Field(description="the member who owns the prospect")
    owner_email: str | None
    created_at: datetime | None
    updated_at: datetime | None


class ChangedBy(Payload):
    source: Literal["dashboard", "api"]
    user_id: int | None = Field(description="the member, in the dashboard")
    name: str = Field(description="the member's email, or API token <name>")


class ProspectCreatedPayload(ProspectPayload):
    changed_by: ChangedBy | None = Field(None, description="present when a person created it")


class ProspectUpdatedPayload(ProspectPayload):
    previous_stage: ProspectStage | None = Field(None, description="present when the stage moved")
    stage_reason: str | None = Field(None, description="why a person moved the stage (required to move it back)")
    changed: list[str] | None = Field(None, description="the fields a person changed")
    changed_by: ChangedBy | None = Field(None, description="present when a person made the change")


class NoteObject(Payload):
    id: int
    body: str
    source: str | None
    meeting_id: int | None
    author_id: int | None
    created_at: datetime | None


class NotePayload(Payload):
    note: NoteObject
    prospect: ProspectPayload
    changed_by: ChangedBy


class MeetingPayload(Payload):
    id: int
    provider: str
    provider_ref: str
    prospect_id: int | None
    title: str | None
    start_at: datetime | None
    end_at: datetime | None
    status: MeetingStatus
    join_url: str | None
    location_type: str | None
    cancellation_reason: str | None
    replaces_id: int | None = Field(description="the meeting this one replaces (a reschedule)")
    paid_at: datetime | None
    payment_amount: str | None = Field(description="a decimal string")
    payment_currency: str | None
    answers: list[Json] = Field(description='the booking form\'s [{"question", "answer"}]')
    utm: Json
    owner_id: int | None
    owner_email: str | None
    payment_started_at: datetime | None = Field(description="an unfinished checkout")
    recording_url: str | None
    transcript_url: str | None
    created_at: datetime | None
    updated_at: datetime | None
    prospect: ProspectSummary | None


class PaymentPayload(Payload):
    amount: str | None = Field(description="a decimal string; null when the provider gave none")
    currency: str | None
    meeting: MeetingPayload
    provider_payment: Json | None = Field(None, description="the provider's payment reference, when it gave one")


class LeadObject(Payload):
    id: int
    provider: str
    submission_ref: str
    form_ref: str | None
    form_name: str | None
    answers: list[Json] = Field(description='[{"question", "answer"}]')
    utm: Json
    prospect_id: int | None
    created_at: datetime | None


class LeadPayload(Payload):
    lead: LeadObject
    prospect: ProspectPayload


class MessageObject(Payload):
    id: int
    conversation_id: int
    provider: str
    provider_message_id: str | None
    direction: MessageDirection
    type: str
    text: str | None
    media_urls: list[str]
    data: Json
    status: str
    statuses: dict[str, datetime] = Field(description="when the message reached each status")
    error_code: str | None
    error_detail: str | None
    origin: str | None = Field(description="dashboard, api or auto for a reply Vani sent")
    sent_by_id: int | None
    autoreply_rule_id: int | None
    message_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


class ConversationObject(Payload):
    id: int
    provider: str
    provider_ref: str
    channel: str
    prospect_id: int | None
    phone: str | None
    business_ref: str | None
    contact_name: str | None
    status: ConversationStatus
    last_message_at: datetime | None
    assignee_id: int | None
    created_at: datetime | None
    updated_at: datetime | None


class MessagePayload(Payload):
    message: MessageObject
    conversation: ConversationObject
    prospect: ProspectPayload | None


class MessageStatusPayload(MessagePayload):
    previous_status: str | None = Field(description="the status the message moved from")


class HandoffPayload(Payload):
    handoff: Json = Field(description="workflow_id, workflow_execution_id, reason, source, conversation_id, …")
    conversation: ConversationObject | None = Field(description="null when Vani has not seen the conversation yet")
    prospect: ProspectPayload | None


class EmailObject(Payload):
    id: int
    mailbox_id: int
    prospect_id: int | None
    provider_message_id: str
    message_id: str | None
    thread_id: str | None
    direction: Literal["inbound", "outbound"]
    from_: str | None = Field(alias="from")
    from_name: str | None
    to: list[str]
    cc: list[str]
    subject: str | None
    snippet: str | None = Field(description="a short snippet: never the body")
    labels: list[str]
    sent_at: datetime | None
    created_at: datetime | None


class MailboxSummary(Payload):
    id: int
    kind: str
    address: str


class EmailPayload(Payload):
    email: EmailObject
    mailbox: MailboxSummary
    prospect: ProspectPayload | None


class WebhookTestPayload(Payload):
    subscription_id: int
    message: str


MEETING = "Same data for every meeting event: the meeting with its prospect."
# Each type: its payload (``data``) and what it means (docs/events.md says more).
CATALOGUE: dict[EventType, tuple[type[BaseModel], str]] = {
    EventType.PROSPECT_CREATED: (ProspectCreatedPayload, "A new prospect was found in a booking, form or message, "
                                                         "or created by a person."),
    EventType.PROSPECT_UPDATED: (ProspectUpdatedPayload, "A known prospect gained details or moved stage, or a "
                                                         "person changed it."),
    EventType.NOTE_CREATED: (NotePayload, "A person added a note to a prospect."),
    EventType.MEETING_SCHEDULED: (MeetingPayload, "A meeting was booked (or a pending booking accepted). " + MEETING),
    EventType.MEETING_RESCHEDULED: (MeetingPayload, "A meeting was moved: a new one replaces it. " + MEETING),
    EventType.MEETING_CANCELLED: (MeetingPayload, "A meeting was cancelled. " + MEETING),
    EventType.MEETING_COMPLETED: (MeetingPayload, "A meeting has ended. " + MEETING),
    EventType.MEETING_NO_SHOW: (MeetingPayload, "The invitee did not show up. " + MEETING),
    EventType.MEETING_STARTED: (MeetingPayload, "A meeting is in progress (Cal.com). " + MEETING),
    EventType.PAYMENT_RECEIVED: (PaymentPayload, "A booking was paid."),
    EventType.LEAD_CREATED: (LeadPayload, "A form submission with an email among its answers."),
    EventType.MESSAGE_RECEIVED: (MessagePayload, "An inbound WhatsApp message."),
    EventType.MESSAGE_SENT: (MessagePayload, "A reply Vani sent was accepted by the provider."),
    EventType.MESSAGE_STATUS_UPDATED: (MessageStatusPayload, "An outbound message moved forward (or failed)."),
    EventType.CONVERSATION_HANDOFF: (HandoffPayload, "The WhatsApp bot handed a conversation to a person."),
    EventType.EMAIL_RECEIVED: (EmailPayload, "A message reached a connected mailbox (headers and a snippet)."),
    EventType.EMAIL_SENT: (EmailPayload, "A connected mailbox's owner sent a message (headers and a snippet)."),
    EventType.WEBHOOK_TEST: (WebhookTestPayload, 'Sent only by the "send test" action, to one subscription.'),
}


def _envelope(event_type: EventType, payload: type[BaseModel]) -> type[BaseModel]:
    name = "".join(part.capitalize() for part in event_type.name.split("_")) + "Webhook"
    return create_model(
        name, __doc__=f"The body of a {event_type} delivery.",
        id=(str, Field(description="equals the webhook-id header: dedupe on it")),
        type=(Literal[event_type.value], ...),  # type: ignore[valid-type]
        timestamp=(datetime, Field(description="when the event happened in Vani")),
        data=(payload, ...))


ENVELOPES: dict[EventType, type[BaseModel]] = {t: _envelope(t, model) for t, (model, _) in CATALOGUE.items()}


def webhooks(refs: dict[type[BaseModel], Any]) -> dict:
    """The document's ``webhooks``: one POST per event type, its body a ``refs``' schema."""
    return {str(t): {"post": {
        "summary": str(t), "description": CATALOGUE[t][1], "operationId": f"webhook_{t.name.lower()}",
        "tags": ["Outbound webhooks"],
        "requestBody": {"required": True, "content": {"application/json": {"schema": refs[ENVELOPES[t]]}}},
        "responses": {"2XX": {"description": "received: any 2xx within the timeout; anything else is retried"}},
    }} for t in EventType}
