"""The outbound webhooks' and the Calendly connection's models (see ``models``)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vani.api.openapi.bodies import Condition
from vani.api.openapi.models import Event, Json, Meeting, Page
from vani.models import BackfillStatus, DeliveryStatus, SignatureScheme
from vani.models.outbound import AttemptTrigger

MASKED = ("Without the subscriptions scope, what may carry a subscriber's secrets is masked (•••): the user "
          "information, the path segments that are not plainly words and the query values of a URL, custom header values, response bodies, and those values where an error "
          "quotes them.")
WITHOUT_SCOPE = " (masked without the subscriptions scope)"


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
    signature: SignatureScheme = Field(description="standard-webhooks or hmac-sha256 (see docs/events.md)")


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


class Emitted(BaseModel):
    msg_id: str
    event: str
    delivery_ids: list[int]


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


class CalendlyEvent(Meeting):
    """A Calendly booking Vani holds (one per invitee; a group event's invitees share ``scheduled_event``)."""
    scheduled_event: str | None = Field(description="the Calendly scheduled event's URI")
    invitee: str = Field(description="the Calendly invitee's URI (the meeting's provider_ref)")
    invitee_email: str | None = Field(description="the prospect's email")
    invitee_name: str | None = Field(description="the prospect's name")
    location_type: str | None
    updated_at: datetime


class CalendlyEventPage(Page):
    data: list[CalendlyEvent]


class Disconnected(BaseModel):
    status: str
    done: list[str]
    failed: list[str]
