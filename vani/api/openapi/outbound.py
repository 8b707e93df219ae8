"""The outbound webhooks' and the Calendly connection's models (see ``models``)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from vani.api.openapi.models import Body, Event, Json, Page
from vani.models import BackfillStatus, DeliveryStatus
from vani.models.outbound import AttemptTrigger
from vani.outbound.shaping import MAX_CONDITION_CHARS, MAX_CONDITIONS, MAX_FILTER_CHARS, MAX_VALUE_CHARS

EVENTS = Field(description='event types or patterns: "meeting.scheduled", "meeting.*" or "*"')
SECRET = Field(description="whsec_ and base64 of 24 to 64 bytes; generated when omitted")


class Condition(BaseModel):
    path: str = Field(description="dot-separated, in the body receivers get: data.provider, type, data.items.0.id")
    op: Literal["eq", "ne", "in", "exists"]
    value: Any = Field(None, description=f"eq/ne: any JSON; in: a list; exists: true (present) or false (missing); "
                       f"at most {MAX_VALUE_CHARS} characters as JSON")


ConditionText = Annotated[str, Field(max_length=MAX_CONDITION_CHARS)]
CONDITIONS = Field(None, max_length=MAX_CONDITIONS, description=(
    'every condition must hold; a condition may also be text: data.provider in ["calendly"], data.amount = 10, '
    f"data.phone exists (at most {MAX_CONDITION_CHARS} characters each, {MAX_FILTER_CHARS} for the whole filter)"))
HEADERS = Field(None, description="sent with every delivery (e.g. an API key); shown masked once saved; "
                "webhook-*, host, content-length and other HTTP headers are refused. Sending a masked value back "
                "keeps the stored one.")
ORDERED = Field(False, description="send each prospect's deliveries in event order: one waits while an earlier one "
                "for its prospect is pending (a retry included)")
RATE = Field(None, ge=1, le=1000, description="at most this many deliveries a second (the rest wait their turn)")
MASKED = ("Without the subscriptions scope, what may carry a subscriber's secrets is masked (•••): the user "
          "information, the path segments that are not plainly words and the query values of a URL, custom header values, response bodies, and those values where an error "
          "quotes them.")
WITHOUT_SCOPE = " (masked without the subscriptions scope)"


class SubscriptionIn(Body):
    url: str = Field(max_length=2048, description="https (or http where allowed) URL that receives the events")
    events: list[str] | str = EVENTS
    description: str | None = Field(None, max_length=500)
    secret: str | None = SECRET
    filter: list[Condition | ConditionText] | None = CONDITIONS
    headers: dict[str, str] | None = HEADERS
    rate_limit: int | None = RATE
    ordered: bool = ORDERED


class SubscriptionPatch(Body):
    url: str | None = Field(None, max_length=2048)
    events: list[str] | str | None = EVENTS
    active: bool | None = None
    description: str | None = Field(None, max_length=500)
    filter: list[Condition | ConditionText] | None = CONDITIONS
    headers: dict[str, str] | None = HEADERS
    rate_limit: int | None = RATE
    paused: bool | None = Field(None, description="true: deliveries are made but wait; false: they are sent, in order")
    ordered: bool | None = Field(None, description="see ordered on creation")


class SecretIn(Body):
    secret: str | None = SECRET


class Health(BaseModel):
    consecutive_failures: int
    first_failure_at: datetime | None
    last_failure_at: datetime | None
    last_success_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


class Subscription(BaseModel):
    id: int
    url: str = Field(description="in lists, with any credentials and query masked")
    events: list[str]
    description: str | None
    active: bool
    secret: str = Field(description="whole right after creation or rotation, masked everywhere else")
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime | None
    health: Health
    filter: list[Condition]
    headers: dict[str, str] = Field(description="names with masked values")
    paused: bool
    paused_at: datetime | None
    rate_limit: int | None
    ordered: bool


class SubscriptionList(BaseModel):
    data: list[Subscription]


class Delivery(BaseModel):
    id: int
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None = Field(description="why the last attempt failed" + WITHOUT_SCOPE)
    next_attempt_at: datetime | None
    subscription_id: int | None
    event: str
    msg_id: str
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


class Attempt(BaseModel):
    id: int
    number: int
    trigger: AttemptTrigger
    url: str = Field(description="where it was sent; its password and query values are masked without the "
                     "subscriptions scope")
    request_headers: Json | None = Field(description="the headers sent; custom header values are masked (the "
                                         "webhook-* ones are not)")
    status_code: int | None
    response_body: str | None = Field(description="the first 2 KB of the reply" + WITHOUT_SCOPE)
    duration_ms: int | None
    error: str | None = Field(description="why it failed" + WITHOUT_SCOPE)
    success: bool
    created_at: datetime


class DeliveryDetail(Delivery):
    attempt_log: list[Attempt]


class DeliveryPage(Page):
    data: list[Delivery]


class CustomEvent(Body):
    event: str = Field(max_length=120, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
                       description="the event type, e.g. deal.won (lowercase words joined by dots)")
    payload: Json = Field(description="the event's data (a JSON object)")


class Emitted(BaseModel):
    msg_id: str
    event: str
    delivery_ids: list[int]


class BulkRetry(Body):
    status: DeliveryStatus | None = Field(None, description="which deliveries: failed (default) or cancelled")
    since: datetime | None = None
    subscription: int | None = None


class BackfillIn(Body):
    since: datetime = Field(description="send the matching events from this time on (ISO 8601)")


class BackfillOut(BaseModel):
    id: int
    subscription_id: int
    since: datetime
    status: BackfillStatus
    total: int = Field(description="events in its range")
    scanned: int
    deliveries_created: int
    progress: float = Field(ge=0, le=1)
    attempts: int
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class BackfillList(BaseModel):
    data: list[BackfillOut]


class Requeued(BaseModel):
    status: str
    requeued: int


# -- Calendly --------------------------------------------------------------------------------------
class SyncIn(Body):
    since: str | None = Field(None, description="a date (YYYY-MM-DD) or an ISO 8601 time; default: the last day")
    wait: bool | None = Field(None, description="run the sync now and answer its counts")


class SyncAnswer(BaseModel):
    status: str = Field(description="queued (with job_id) or done (with result)")
    job_id: str | None = None
    result: Json | None = None


class CalendlyStatus(BaseModel):
    configured: bool
    connection: Json | None = Field(description="the API token's account, when configured and checked")
    oauth: Json | None = Field(description="the Connect Calendly connection and its subscription")
    webhook: Json | None
    last_event: Event | None
    last_sync: Json | None


class Disconnected(BaseModel):
    status: str
    done: list[str]
    failed: list[str]
