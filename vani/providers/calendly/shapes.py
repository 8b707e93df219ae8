"""Reading Calendly payloads into one shape: invitees of every generation, and routing form
submissions.

- v2 (2023+): the invitee at ``payload`` with a ``scheduled_event`` object (2024 adds
  ``invitee_scheduled_by``, ``scheduling_method``, ``meeting_notes_*``); the host is the first of
  ``scheduled_event.event_memberships``.
- v2 (2020): no ``scheduled_event``, ``created_by`` or ``cancellation``; ``payload.event`` is the
  scheduled event's URI only (so no host); ``name`` may be null.
- v1 (legacy): ``payload.invitee``, ``payload.event`` and ``payload.event_type`` objects; the
  answers and ``tracking`` sit beside them, the hosts in ``event.extended_assigned_to``.
- Routing form submissions: ``uri``, ``routing_form``, ``questions_and_answers``, ``tracking``,
  ``submitter`` (an invitee URI or null) and ``result`` (where the form sent the person).

Answers are typed by anyone with the booking link, so they are read in linear time on capped
input (``coerce.is_email``, ``phones.normalize_phone``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from vani.payloads.coerce import as_dict as _dict
from vani.payloads.coerce import as_email as normalize_email
from vani.payloads.coerce import as_text as _str
from vani.payloads.coerce import as_time as parse_time
from vani.payloads.coerce import as_url as _url
from vani.payloads.coerce import is_email
from vani.payloads.phones import normalize_phone
from vani.prospects.qualification import answers_from, utm_from


@dataclass
class Payment:
    amount: Decimal | None
    currency: str | None
    provider: str | None
    external_id: str | None


@dataclass
class Invitee:
    uri: str | None
    email: str | None
    name: str | None
    timezone: str | None
    phone: str | None
    title: str | None
    start: datetime | None
    end: datetime | None
    join_url: str | None
    location_type: str | None
    created_at: datetime | None      # when the invitee booked
    old_invitee: str | None
    rescheduled: bool
    canceled_by: str | None
    cancel_reason: str | None
    canceled_at: datetime | None
    payment: Payment | None
    answers: list[dict] = field(default_factory=list)  # the booking form's questions and answers
    utm: dict = field(default_factory=dict)
    host_email: str | None = None

    def meeting_fields(self, prospect_id: int | None) -> dict:
        return {"prospect_id": prospect_id, "title": self.title, "start_at": self.start,
                "end_at": self.end, "join_url": self.join_url, "location_type": self.location_type}


def _location(loc: Any) -> tuple[str | None, str | None]:
    """(join URL, location type) from a v2 location object or a v1 location string."""
    if isinstance(loc, str):
        return _url(loc), None
    loc = _dict(loc)
    kind = _str(loc.get("type"))
    return _url(loc.get("join_url")) or _url(loc.get("location")), kind[:64] if kind else None


def _payment(raw: Any) -> Payment | None:
    if isinstance(raw, list):  # v1: "payments": [...]
        raw = next((p for p in raw if isinstance(p, dict) and p.get("successful") is not False), None)
    raw = _dict(raw)
    if not raw or raw.get("successful") is False:
        return None
    try:
        amount = Decimal(str(raw["amount"])).quantize(Decimal("0.01")) if raw.get("amount") is not None else None
    except (InvalidOperation, ValueError):
        amount = None
    currency = _str(raw.get("currency"))
    return Payment(amount, currency[:8] if currency else None, _str(raw.get("provider")),
                   _str(raw.get("external_id")) or _str(raw.get("id")))


def _name(inv: dict) -> str | None:
    name = _str(inv.get("name"))
    if name:
        return name[:255]
    parts = [_str(inv.get("first_name")), _str(inv.get("last_name"))]
    return " ".join(p for p in parts if p)[:255] or None


def _answers(*holders: dict) -> list[dict]:
    """``questions_and_answers`` of the first holder with any, else v1's numbered
    ``questions_and_responses`` (``1_question``, ``1_response`` …)."""
    for holder in holders:
        pairs = holder.get("questions_and_answers")
        if isinstance(pairs, list) and pairs:
            return answers_from((_dict(p).get("question"), _dict(p).get("answer")) for p in pairs)
    for holder in holders:
        numbered = _dict(holder.get("questions_and_responses"))
        if numbered:
            keys = sorted((k for k in numbered if k.endswith("_question")), key=lambda k: (len(k), k))
            return answers_from((numbered[k], numbered.get(k.replace("_question", "_response"))) for k in keys)
    return []


def _host(scheduled: dict) -> str | None:
    """The host's email: the first event membership (v2), else v1's primary assignee."""
    members = scheduled.get("event_memberships")
    if isinstance(members, list) and members:
        return normalize_email(_dict(members[0]).get("user_email"))
    assigned = [a for a in scheduled.get("extended_assigned_to") or [] if isinstance(a, dict)]
    primary = next((a for a in assigned if a.get("primary")), assigned[0] if assigned else {})
    return normalize_email(primary.get("email"))


def read_invitee(body: dict) -> Invitee:
    payload = _dict(body.get("payload"))
    legacy = _dict(payload.get("invitee"))            # v1 keeps the invitee in its own object
    inv = legacy or payload
    scheduled = _dict(payload.get("scheduled_event")) or _dict(payload.get("event"))
    event_type = _dict(payload.get("event_type"))
    cancellation = _dict(inv.get("cancellation")) or _dict(scheduled.get("cancellation"))

    uri = _str(inv.get("uri"))
    if uri is None and _str(inv.get("uuid")):
        uri = f"invitee:{inv['uuid'].strip()}"
    join_url, location_type = _location(scheduled.get("location"))
    title = _str(scheduled.get("name")) or _str(event_type.get("name"))
    return Invitee(
        uri=uri,
        email=normalize_email(inv.get("email")),
        name=_name(inv),
        timezone=(_str(inv.get("timezone")) or "")[:64] or None,
        phone=normalize_phone(_str(inv.get("text_reminder_number"))),
        title=title[:512] if title else None,
        start=parse_time(scheduled.get("start_time")),
        end=parse_time(scheduled.get("end_time")),
        join_url=join_url[:2048] if join_url else None,
        location_type=location_type,
        created_at=parse_time(inv.get("created_at")) or parse_time(body.get("created_at") or body.get("time")),
        old_invitee=_str(inv.get("old_invitee")),
        rescheduled=inv.get("rescheduled") is True or inv.get("is_reschedule") is True,
        canceled_by=_str(cancellation.get("canceled_by")) or _str(inv.get("canceler_name")),
        cancel_reason=_str(cancellation.get("reason")) or _str(inv.get("cancel_reason")),
        canceled_at=(parse_time(cancellation.get("created_at")) or parse_time(inv.get("canceled_at"))
                     or parse_time(body.get("created_at") or body.get("time"))
                     or parse_time(inv.get("updated_at"))),
        payment=_payment(inv.get("payment") or inv.get("payments")),
        answers=_answers(inv, payload),
        utm=utm_from(_dict(inv.get("tracking")) or _dict(payload.get("tracking"))),
        host_email=_host(scheduled),
    )


def no_show_invitee(body: dict) -> str | None:
    """The invitee a no-show event is about: ``payload.invitee`` (a URI or an object with one),
    or the payload itself when it is the invitee resource."""
    payload = _dict(body.get("payload"))
    ref = payload.get("invitee")
    if isinstance(ref, dict):
        return _str(ref.get("uri"))
    if _str(ref):
        return _str(ref)
    uri = _str(payload.get("uri"))
    return uri if uri and "/invitees/" in uri else None


@dataclass
class Submission:
    uri: str | None
    form_ref: str | None
    answers: list[dict]
    email: str | None
    name: str | None
    phone: str | None
    utm: dict
    submitter: str | None  # the invitee URI when the person went on to book


RESULTS = {"event_type": "Routed to event type", "external_url": "Routed to URL",
           "custom_message": "Shown message"}
NOT_A_PERSON = ("company", "business", "organisation", "organization", "team", "event")


def _result(raw: Any) -> tuple[str, str] | None:
    """Where the form sent the person, as a (question, answer) pair."""
    result = _dict(raw)
    kind, value = _str(result.get("type")), result.get("value")
    if isinstance(value, dict):  # a custom message: {headline, body}
        value = _str(value.get("headline")) or _str(value.get("body"))
    if not kind or not _str(value):
        return None
    return RESULTS.get(kind, f"Result ({kind})"), value


def _contact(answers: list[dict]) -> tuple[str | None, str | None, str | None]:
    """(email, name, phone) found in the answers: by the question's wording, else (for the email)
    any answer that looks like one."""
    email = name = first = last = phone = None
    for pair in answers:
        q, a = pair["question"].lower(), pair["answer"].strip()
        if email is None and "email" in q and is_email(a):
            email = a
        elif phone is None and ("phone" in q or "mobile" in q):
            phone = normalize_phone(a)
        elif "name" in q and "email" not in q and not any(w in q for w in NOT_A_PERSON):
            if "first" in q or "given" in q:
                first = first or a
            elif "last" in q or "family" in q or "surname" in q:
                last = last or a
            else:
                name = name or a
    email = email or next((p["answer"].strip() for p in answers if is_email(p["answer"].strip())), None)
    name = name or " ".join(n for n in (first, last) if n) or None
    return normalize_email(email), name[:255] if name else None, phone


def read_submission(body: dict) -> Submission:
    payload = _dict(body.get("payload"))
    answers = _answers(payload)
    email, name, phone = _contact(answers)
    result = _result(payload.get("result"))
    if result:
        answers += answers_from([result])
    form = payload.get("routing_form")
    return Submission(uri=_str(payload.get("uri")), form_ref=_str(_dict(form).get("uri")) or _str(form),
                      answers=answers, email=email, name=name, phone=phone,
                      utm=utm_from(_dict(payload.get("tracking"))), submitter=_str(payload.get("submitter")))
