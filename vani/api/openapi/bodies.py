"""The API's request bodies, as models: what the OpenAPI document shows each operation takes, and
what ``parsing.request_body`` reads it with. A field the domain already checks (the dashboard
sends the same values) is checked by that very function (``checked_by``), so both answer alike.
Fields are in the order their checks run, the service's order: the first that fails answers.
(Models carry comments, not docstrings: a docstring would become a description in the document.)"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from vani.api.openapi.checks import checked_by, parsed_by, refusal, says
from vani.api.openapi.parsing import Body
from vani.conversations import outgoing, rules
from vani.conversations.autoreply import MAX_KEYWORDS, MAX_PATTERN, MAX_REPEATS
from vani.errors import MAX_ID, InvalidField
from vani.models import DeliveryStatus, SignatureScheme
from vani.models.base import as_utc
from vani.models.replies import RuleTrigger
from vani.outbound import shaping, signing
from vani.outbound import subscriptions as subs
from vani.outbound.deliveries import RETRYABLE
from vani.outbound.shaping import MAX_CONDITION_CHARS, MAX_CONDITIONS, MAX_FILTER_CHARS, MAX_VALUE_CHARS

Json = dict[str, Any]


def _flag(field: str):
    return checked_by(lambda value: subs.validate_flag(value, field))


def _secret(value: Any) -> None:
    if value is not None:
        signing.validate_secret(value)


def iso_time(value: Any, field: str = "since") -> datetime:
    """An ISO 8601 date-time (``Z`` for UTC), as UTC."""
    if not isinstance(value, str):
        raise InvalidField(field, "must be an ISO-8601 date-time")
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidField(field, "must be an ISO-8601 date-time") from None


# -- subscriptions ---------------------------------------------------------------------------------
class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="dot-separated, in the body receivers get: data.provider, type, data.items.0.id")
    op: Literal["eq", "ne", "in", "exists"]
    value: Any = Field(True, description=f"eq/ne: any JSON; in: a list; exists: true (present) or false (missing); "
                       f"at most {MAX_VALUE_CHARS} characters as JSON")


ConditionText = Annotated[str, Field(max_length=MAX_CONDITION_CHARS)]
Url = Annotated[str, Field(max_length=2048), checked_by(subs.validate_url)]
Events = Annotated[list[str] | str, checked_by(subs.validate_events)]
Description = Annotated[str | None, Field(max_length=1000), checked_by(subs.validate_description)]
Secret = Annotated[str | None, checked_by(_secret)]
Filter = Annotated[list[Condition | ConditionText] | None, Field(max_length=MAX_CONDITIONS),
                   checked_by(shaping.validate_filter)]
RateLimit = Annotated[int | None, Field(ge=1, le=subs.MAX_RATE), checked_by(subs.validate_rate_limit)]
EVENTS = Field(description='event types or patterns: "meeting.scheduled", "meeting.*" or "*"')
SECRET = Field(None, description="whsec_ and base64 of 24 to 64 bytes; generated when omitted")
CONDITIONS = Field(None, description=(
    'every condition must hold; a condition may also be text: data.provider in ["calendly"], data.amount = 10, '
    f"data.phone exists (at most {MAX_CONDITION_CHARS} characters each, {MAX_FILTER_CHARS} for the whole filter)"))
HEADERS = Field(None, description="sent with every delivery (e.g. an API key); shown masked once saved; "
                "webhook-*, host, content-length and other HTTP headers are refused. Sending a masked value back "
                "keeps the stored one.")
ORDERED = Field(False, description="send each prospect's deliveries in event order: one waits while an earlier one "
                "for its prospect is pending (a retry included)")
RATE = Field(None, description="at most this many deliveries a second (the rest wait their turn)")
SIGNATURE = Field(None, description="standard-webhooks (the default: webhook-id, webhook-timestamp and "
                  "webhook-signature headers, body {id, type, timestamp, data}) or hmac-sha256 (X-Signature: the hex "
                  "HMAC-SHA256 of the raw body keyed with the subscription's secret, body {event, resource_id, "
                  "timestamp, data})")
Signature = Annotated[SignatureScheme | None, checked_by(lambda v: v is None or signing.validate_scheme(v))]


class SubscriptionIn(Body):
    url: Url = Field(description="https (or http where allowed) URL that receives the events")
    events: Events = EVENTS
    description: Description = None
    secret: Secret = SECRET
    filter: Filter = CONDITIONS
    rate_limit: RateLimit = RATE
    ordered: Annotated[bool, _flag("ordered")] = ORDERED
    headers: Annotated[dict[str, str] | None, checked_by(shaping.validate_headers)] = HEADERS
    signature: Signature = SIGNATURE


class SubscriptionPatch(Body):
    # Left out, a field keeps its value.
    filter: Filter = CONDITIONS
    headers: dict[str, str] | None = HEADERS
    rate_limit: RateLimit = RATE
    ordered: Annotated[bool, _flag("ordered")] = Field(None, description="see ordered on creation")
    signature: Signature = Field(None, description="see signature on creation; deliveries not yet sent go out "
                                 "signed the new way")
    paused: Annotated[bool, _flag("paused")] = Field(None, description="true: deliveries are made but wait; "
                                                                       "false: they are sent, in order")
    url: Url = None
    events: Events = Field(None, description=EVENTS.description)
    description: Description = None
    active: Annotated[bool, _flag("active")] = None

    @field_validator("headers", mode="wrap")
    @classmethod
    def _headers(cls, value: Any, _handler, info: ValidationInfo) -> Any:
        """Checked against the stored ones: a masked value sent back keeps what is stored."""
        found = (info.context or {}).get("found")
        try:
            shaping.validate_headers(value, found.custom_headers if found is not None else None)
        except InvalidField as exc:
            raise refusal(exc.detail, exc.field) from None
        return value


class SecretIn(Body):
    secret: Secret = SECRET

    @classmethod
    def sent(cls) -> Any:
        return request.get_json(silent=True) if request.data else {}

    @classmethod
    def not_object(cls) -> InvalidField:
        return InvalidField("body", 'send nothing, or {"secret": "whsec_…"}')

    @classmethod
    def unknown_field(cls, name: str) -> InvalidField:
        return cls.not_object()


class BackfillIn(Body):
    since: Annotated[datetime, parsed_by(iso_time)] = \
        Field(description="send the matching events from this time on (ISO 8601)")


# -- deliveries ------------------------------------------------------------------------------------
class CustomEvent(Body):
    event: Annotated[str, Field(max_length=64, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"),
                     checked_by(subs.validate_event_type)] = \
        Field(description="the event type, e.g. deal.won (lowercase words joined by dots)")
    payload: Annotated[Json, says("must be a JSON object")] = Field(description="the event's data (a JSON object)")


def _since_or_none(value: Any) -> datetime | None:
    return None if value is None else iso_time(value)


class BulkRetry(Body):
    since: Annotated[datetime | None, parsed_by(_since_or_none)] = None
    subscription: Annotated[int | None, Field(strict=True), says("must be a subscription id (a number)")] = None
    status: Annotated[Literal[DeliveryStatus.FAILED, DeliveryStatus.CANCELLED], parsed_by(lambda value: value)] = \
        Field(DeliveryStatus.FAILED, description="which deliveries: failed (default) or cancelled")

    @model_validator(mode="after")
    def _status(self) -> BulkRetry:
        """The subscription is looked up (404) before the status is checked, as the service does."""
        if self.subscription is not None:
            subs.get_subscription(self.subscription)
        if self.status not in RETRYABLE:
            raise refusal(f"must be one of {', '.join(RETRYABLE)}", "status")
        return self


# -- replies and auto-reply rules ---------------------------------------------------------------------
class Template(BaseModel):
    name: str = Field(min_length=1, max_length=512)
    language: str | None = None
    variables: list[str | float] | dict[str, str | float] | None = Field(
        None, description="at most 50 values: a list fills the body's placeholders in order; an object names "
                          "each value as the template list does (1, first_name, header.<name>, "
                          "media.<image|video|document>, button.<index>; names at most 64 characters). A value "
                          "is at most 1,024 characters, a media value an https:// link of at most 2,048; longer "
                          "ones are refused, never cut")


class Reply(Body):
    # Read by ``outgoing.parse_payload``, as the dashboard's replies are.
    text: str | None = Field(None, min_length=1, max_length=4096, description="free text (inside the 24-hour window)")
    template: Template | None = Field(None, description="an approved template (any time)")

    @model_validator(mode="wrap")
    @classmethod
    def _payload(cls, data: Any, handler) -> Reply:
        if not isinstance(data, dict):
            return handler(data)  # not an object
        unknown = sorted(set(data) - {"text", "template"})
        if unknown:
            raise refusal("unknown field; allowed: text, template", unknown[0])
        try:
            return cls.model_construct(**outgoing.parse_payload(data))
        except InvalidField as exc:
            raise refusal(exc.detail, exc.field) from None


class Assignment(Body):
    assignee_id: Annotated[int | None, Field(strict=True, ge=1, le=MAX_ID),
                           says("must be the id of a member of this organisation, or null")] = \
        Field(description="a member's user id, or null to unassign")

    @classmethod
    def unknown_field(cls, name: str) -> InvalidField:
        return InvalidField("assignee_id", 'send {"assignee_id": <member id or null>}')

    missing_field = unknown_field


class RuleIn(Body):
    # Read by ``rules.clean`` (with the stored rule, ``context["rule"]``, on a change): the
    # fields depend on each other and on the trigger.
    name: str | None = Field(None, max_length=120)
    trigger: RuleTrigger | None = None
    match: str | None = Field(None, max_length=MAX_KEYWORDS, description=(
        f"keywords (comma-separated, at most {MAX_KEYWORDS} characters) or a regular expression (at most "
        f"{MAX_PATTERN} characters; counted repeats such as {{n}} make at most {MAX_REPEATS} copies in all)"))
    hours: dict[str, list[str]] | None = Field(None, description='outside_hours: {"mon": ["09:00-17:00"], …}')
    reply_text: str | None = None
    template: Template | None = None
    active: bool | None = None
    position: int | None = Field(None, ge=0, le=10000)

    @model_validator(mode="wrap")
    @classmethod
    def _rule(cls, data: Any, handler, info: ValidationInfo) -> RuleIn:
        if not isinstance(data, dict):
            return handler(data)  # not an object
        try:
            return cls.model_construct(**rules.clean(data, (info.context or {}).get("rule")))
        except InvalidField as exc:
            raise refusal(exc.detail, exc.field) from None


# -- Calendly ---------------------------------------------------------------------------------------
def _sync_since(value: Any) -> None:
    from vani.providers.calendly.sync import parse_since

    if value is not None and not isinstance(value, str):
        raise InvalidField("since", "must be a date (YYYY-MM-DD) or an ISO 8601 time")
    try:
        parse_since(value)
    except ValueError as exc:
        raise InvalidField("since", str(exc)) from None


class SyncIn(Body):
    # The body, or the same names as query parameters (the body wins); anything else is ignored.
    model_config = ConfigDict(extra="ignore")

    since: Annotated[str | None, checked_by(_sync_since)] = \
        Field(None, description="a date (YYYY-MM-DD) or an ISO 8601 time; default: the last day")
    wait: Annotated[bool | None, parsed_by(lambda value: value is True or str(value).lower() in ("1", "true", "yes"))] \
        = Field(False, description="run the sync now and answer its counts")

    @classmethod
    def sent(cls) -> dict:
        body = request.get_json(silent=True)
        query = {name: request.args[name] for name in cls.model_fields if name in request.args}
        return {**query, **(body if isinstance(body, dict) else {})}

    def since_time(self) -> datetime | None:
        from vani.providers.calendly.sync import parse_since

        return parse_since(self.since)
