"""The API's query parameters, as models (each field one parameter; all optional)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from vani.models import ConversationStatus, DeliveryStatus, EventStatus, MeetingStatus
from vani.models.paging import MAX_CURSOR
from vani.payloads.coerce import MAX_EMAIL

# Fields default to None without saying so in their type: a query parameter is absent, never null.
CURSOR = Field(None, max_length=MAX_CURSOR, description="the next_cursor of the previous page")
LIMIT = Field(None, ge=1, le=200, description="page size (default 50)")
EMAIL = Field(None, max_length=MAX_EMAIL, description="any case; matched normalised")
PHONE = Field(None, max_length=40, description="any common spelling, matched as E.164")


class Paged(BaseModel):
    cursor: str = CURSOR
    limit: int = LIMIT


class EventQuery(Paged):
    provider: str = Field(None, description="one of Vani's providers")
    status: EventStatus = None
    type: str = Field(None, max_length=120, description="the provider's event type")
    email: str = EMAIL


class ProspectQuery(Paged):
    email: str = EMAIL
    phone: str = PHONE


class MeetingQuery(Paged):
    email: str = EMAIL
    status: MeetingStatus = None
    provider: str = None


class ConversationQuery(Paged):
    phone: str = PHONE
    prospect_id: int = Field(None, ge=0)
    provider: str = None
    assignee: str = Field(None, pattern=r"^([0-9]{1,18}|unassigned)$", description="a member id, or unassigned")
    status: ConversationStatus = None


class ConversationDetailQuery(BaseModel):
    limit: int = Field(None, ge=1, le=1000, description="the newest messages to include (default 200)")


class DeliveryQuery(Paged):
    event: str = Field(None, max_length=120)
    status: DeliveryStatus = None
    subscription: int = Field(None, ge=0)


class StatusQuery(BaseModel):
    check: bool = Field(None, description="false: no live calls to Calendly")
