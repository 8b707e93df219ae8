"""What the API answers, as pydantic models: the OpenAPI document's schemas come from their JSON
Schema (``vani.api.openapi.document``). Responses list the fields every answer holds; a client
must ignore fields it does not know. What it takes is in ``bodies`` and ``queries``."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vani.models import (
    ConversationStatus,
    EmailDirection,
    EventStatus,
    MeetingStatus,
    MessageDirection,
    ProspectStage,
)
from vani.models.replies import OutgoingStatus, RuleTrigger
from vani.prospects.history import EntryKind

Id = Field(ge=1, le=2 ** 63 - 1)
Json = dict[str, Any]


class Error(BaseModel):
    error: str = Field(description="a stable code, e.g. invalid_parameter, not_found, idempotency_key_reused")
    detail: str | None = None
    field: str | None = Field(None, description="the field or parameter at fault (400)")
    scope: str | None = Field(None, description="the scope the token lacks (403)")


class Page(BaseModel):
    next_cursor: str | None = Field(description="send as ?cursor= for the next page; null on the last")


# -- events ----------------------------------------------------------------------------------------
class Event(BaseModel):
    id: int
    provider: str
    type: str
    status: EventStatus
    verified: bool
    attempts: int
    outcome: str | None
    received_at: datetime
    processed_at: datetime | None
    prospect_id: int | None
    meeting_id: int | None


class EventDetail(Event):
    headers: dict[str, str]
    payload: Any = Field(description="the parsed body")
    dedupe_key: str
    next_attempt_at: datetime | None


class EventPage(Page):
    data: list[Event]


# -- prospects and meetings ------------------------------------------------------------------------
class Prospect(BaseModel):
    id: int
    email: str | None
    name: str | None
    phone: str | None
    timezone: str | None
    source: str | None
    stage: ProspectStage
    utm: Json
    owner_id: int | None
    owner_email: str | None
    created_at: datetime
    updated_at: datetime | None


class Note(BaseModel):
    id: int
    body: str
    source: str | None
    meeting_id: int | None
    author_id: int | None = Field(None, description="the member who wrote it in the dashboard")
    created_at: datetime


class Meeting(BaseModel):
    id: int
    provider: str
    provider_ref: str
    prospect_id: int | None
    title: str | None
    start_at: datetime | None
    end_at: datetime | None
    status: MeetingStatus
    join_url: str | None
    cancellation_reason: str | None
    answers: list[Json]
    utm: Json
    owner_id: int | None
    owner_email: str | None
    created_at: datetime


class MeetingPage(Page):
    data: list[Meeting]


class Conversation(BaseModel):
    id: int
    provider: str
    provider_ref: str
    channel: str
    prospect_id: int | None
    phone: str | None
    contact_name: str | None
    status: ConversationStatus
    last_message_at: datetime | None
    assignee_id: int | None
    created_at: datetime


class ProspectDetail(Prospect):
    notes: list[Note]
    meetings: list[Meeting]
    conversations: list[Conversation]


class ProspectPage(Page):
    data: list[Prospect]


class Email(BaseModel):
    id: int
    mailbox_id: int | None
    message_id: str | None
    thread_id: str | None
    direction: EmailDirection
    from_: str | None = Field(alias="from")
    from_name: str | None
    to: list[str]
    cc: list[str]
    subject: str | None
    snippet: str | None
    sent_at: datetime | None
    created_at: datetime


class Lead(BaseModel):
    id: int
    provider: str
    form_name: str | None
    answers: list[Json]
    utm: Json
    created_at: datetime


class StageChange(BaseModel):
    id: int
    from_stage: ProspectStage | None = Field(description="null: the prospect was created at to_stage")
    to_stage: ProspectStage
    event_id: int | None
    created_at: datetime


class TimelineEntry(BaseModel):
    kind: EntryKind = Field(description="which of the fields below this entry carries")
    at: datetime = Field(description="when it happened (a meeting: its start; a message or email: when sent)")
    id: int = Field(description="the id of the note, meeting, message … it is")
    note: Note | None = None
    meeting: Meeting | None = None
    message: Message | None = None
    email: Email | None = None
    stage_change: StageChange | None = None
    lead: Lead | None = None
    event: Event | None = None


class TimelinePage(Page):
    data: list[TimelineEntry] = Field(description="newest first")


# -- conversations ---------------------------------------------------------------------------------
class Message(BaseModel):
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
    statuses: dict[str, datetime]
    error_code: str | None
    error_detail: str | None
    origin: str | None
    message_at: datetime | None
    created_at: datetime


class ConversationDetail(Conversation):
    messages: list[Message]
    messages_truncated: bool


class ConversationPage(Page):
    data: list[Conversation]


class Send(BaseModel):
    id: int
    kind: str
    status: OutgoingStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None


class ReplyAnswer(BaseModel):
    id: int = Field(description="the message's id")
    status: str
    conversation_id: int
    message: Message
    send: Send | None
    replayed: bool = Field(description="true when this intent's message already existed")


class ReadAnswer(BaseModel):
    conversation_id: int
    last_read_message_id: int | None = Field(description="the newest inbound message read")
    receipt_queued: bool = Field(description="true when a read receipt is on its way to the customer (Kapso)")


class Rule(BaseModel):
    id: int
    position: int
    name: str
    trigger: RuleTrigger
    match: str | None
    hours: Json
    reply_text: str | None
    template: Json | None
    active: bool
    created_at: datetime


class RuleList(BaseModel):
    data: list[Rule]


class WhatsappTemplate(BaseModel):
    name: str = Field(description="what a send names as template.name (Twilio: the Content SID, HX…)")
    language: str
    category: str | None
    body: str = Field(description="the body text, placeholders as {{1}} or {{name}}")
    variables: list[str] = Field(description="the values it takes, in order: the body's placeholders, and for a "
                                 "Kapso template header.<name>, media.<image|video|document> (an https:// link) "
                                 "and button.<index> (a URL button's end); send one value for each, as an object "
                                 "by these names when any is not the body's")
    label: str | None = Field(description="a name for people when name is an id (Twilio's friendly name)")


class WhatsappTemplateList(BaseModel):
    provider: str
    data: list[WhatsappTemplate]


# -- provider calls ----------------------------------------------------------------------------------
class ProviderCall(BaseModel):
    """A provider's webhook body, verified by its signature."""

    model_config = ConfigDict(extra="allow")


class Accepted(BaseModel):
    status: Literal["accepted", "duplicate"]
    event_id: int | None = None
    event_ids: list[int] | None = None
    verified: bool | None = Field(None, description="false when no signing secret is set (development only)")
    warning: str | None = None
    queued: bool | None = Field(None, description="false when the queue was unreachable (the sweep hands it over)")


class AnyDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
