"""The API's query parameters, as models (each field one parameter; all optional): what the
OpenAPI document lists, and what ``parsing.request_query`` reads them with. Fields are in the
order they are checked (the first that fails answers): a list's filters, then ``limit`` and
``cursor``."""
from __future__ import annotations

import enum
import re
from typing import Annotated

from pydantic import Field

from vani.api.openapi.checks import parsed_by, says
from vani.api.openapi.parsing import Query
from vani.dashboard.filters import parse_int
from vani.errors import MAX_ID, InvalidField
from vani.models import ConversationStatus, DeliveryStatus, EventStatus, MeetingStatus
from vani.models.paging import MAX_CURSOR, decode_cursor
from vani.payloads.phones import normalize_phone


def _cursor(raw: str) -> str:
    if raw:
        decode_cursor(raw)  # InvalidField("cursor", …)
    return raw


def _limit(maximum: int):
    def read(raw: str) -> int:
        raw = raw.strip()
        if not re.fullmatch(r"-?[0-9]{1,12}", raw):  # ASCII digits only: int() would take "٣" or "1_0"
            raise InvalidField("limit", "must be a whole number")
        if not 1 <= int(raw) <= maximum:
            raise InvalidField("limit", f"must be between 1 and {maximum}")
        return int(raw)

    return read


def _provider(raw: str) -> str | None:
    """One of the providers Vani knows (the document lists them); empty: any."""
    from vani.providers.registry import all_providers

    names = sorted(p.name for p in all_providers())
    if raw and raw not in names:
        raise InvalidField("provider", f"must be one of {', '.join(names)}")
    return raw or None


def _choice(kind: type[enum.StrEnum]):
    def read(raw: str) -> enum.StrEnum | None:
        if raw and raw not in set(kind):
            raise InvalidField("status", f"must be one of {', '.join(kind)}")
        return kind(raw) if raw else None

    return read


def _phone(raw: str) -> str | None:
    """Any common spelling, as E.164; blank: any."""
    if not raw.strip():
        return None
    phone = normalize_phone(raw)
    if phone is None:
        raise InvalidField("phone", "not a phone number (use E.164, e.g. +15550100002)")
    return phone


def _row_id(raw: str) -> int | None:
    """Plain ASCII digits; an id beyond 64 bits cannot exist, so it becomes -1, which matches no row."""
    if raw == "":
        return None
    if not re.fullmatch(r"[0-9]+", raw):
        raise InvalidField("prospect_id", "must be a whole number")
    value = int(raw) if len(raw) <= 19 else MAX_ID + 1
    return value if value <= MAX_ID else -1


Cursor = Annotated[str, Field(max_length=MAX_CURSOR), parsed_by(_cursor)]
Limit = Annotated[int, Field(ge=1, le=200), parsed_by(_limit(200))]
Provider = Annotated[str, parsed_by(_provider)]
Phone = Annotated[str, parsed_by(_phone)]
CURSOR = Field(None, description="the next_cursor of the previous page")
LIMIT = Field(50, description="page size (default 50)")
EMAIL = Field(None, description="any case; matched normalised")
PHONE = Field(None, description="any common spelling, matched as E.164")
PROVIDER = Field(None, description="one of Vani's providers")


class EventQuery(Query):
    provider: Provider = PROVIDER
    status: Annotated[EventStatus, parsed_by(_choice(EventStatus))] = None
    type: str = Field(None, description="the provider's event type")
    email: str = EMAIL
    limit: Limit = LIMIT
    cursor: Cursor = CURSOR


class ProspectQuery(Query):
    email: str = EMAIL
    phone: Phone = PHONE
    limit: Limit = LIMIT
    cursor: Cursor = CURSOR


class MeetingQuery(Query):
    email: str = EMAIL
    status: Annotated[MeetingStatus, parsed_by(_choice(MeetingStatus))] = None
    provider: Provider = None
    limit: Limit = LIMIT
    cursor: Cursor = CURSOR


class CalendlyEventQuery(Query):
    email: str = EMAIL
    status: Annotated[MeetingStatus, parsed_by(_choice(MeetingStatus))] = None
    scheduled_event: str = Field(None, max_length=512, description="a Calendly scheduled event's URI: its invitees")
    limit: Limit = LIMIT
    cursor: Cursor = CURSOR


class ConversationQuery(Query):
    phone: Phone = PHONE
    prospect_id: Annotated[int, Field(ge=0), parsed_by(_row_id)] = None
    provider: Provider = None
    assignee: Annotated[str, Field(pattern=r"^([0-9]{1,18}|unassigned)$"), says("a member id, or unassigned")] = \
        Field(None, description="a member id, or unassigned")
    status: Annotated[ConversationStatus, parsed_by(_choice(ConversationStatus))] = None
    limit: Limit = LIMIT
    cursor: Cursor = CURSOR


def _timeline_cursor(raw: str) -> str:
    from vani.prospects.history import decode_cursor

    if raw:
        decode_cursor(raw)  # InvalidField("cursor", …)
    return raw


class TimelineQuery(Query):
    limit: Limit = LIMIT
    cursor: Annotated[str, Field(max_length=MAX_CURSOR), parsed_by(_timeline_cursor)] = CURSOR


class ConversationDetailQuery(Query):
    limit: Annotated[int, Field(ge=1, le=1000), parsed_by(_limit(1000))] = \
        Field(200, description="the newest messages to include (default 200)")


class DeliveryQuery(Query):
    event: str = None
    subscription: Annotated[int, Field(ge=0, le=MAX_ID), parsed_by(lambda raw: parse_int("subscription", raw))] = None
    status: Annotated[DeliveryStatus, parsed_by(_choice(DeliveryStatus))] = None
    limit: Limit = LIMIT
    cursor: Cursor = CURSOR


class StatusQuery(Query):
    check: Annotated[bool, parsed_by(lambda raw: raw.lower() not in ("0", "false", "no"))] = \
        Field(True, description="false: no live calls to Calendly")
