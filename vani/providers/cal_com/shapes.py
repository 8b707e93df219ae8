"""Reading Cal.com webhook bodies into one shape.

Most triggers wrap the booking: ``{triggerEvent, createdAt, payload: {...}}``. ``MEETING_STARTED``
and ``MEETING_ENDED`` are flat (booking fields beside ``triggerEvent``; ``createdAt`` is the
booking's creation time, ``updatedAt`` its last change). ``BOOKING_NO_SHOW_UPDATED`` is tiny:
``bookingUid`` and ``attendees[{email, noShow}]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from vani.providers.coerce import as_email as normalize_email
from vani.providers.coerce import as_time as parse_time
from vani.services.phones import normalize_phone
from vani.providers.coerce import as_dict as _dict, as_text as _str, as_url as _url

# Cal.com prices are in the currency's minor unit; these currencies have none.
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                "VUV", "XAF", "XOF", "XPF"}


def minor_to_amount(value: Any, currency: str | None) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite():
        return None
    if (currency or "").upper() not in ZERO_DECIMAL:
        amount = amount / 100
    try:
        return amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than the context holds
        return None


@dataclass
class Attendee:
    email: str | None
    name: str | None
    timezone: str | None
    phone: str | None
    no_show: bool = False


@dataclass
class Booking:
    trigger: str
    uid: str | None
    title: str | None
    start: datetime | None
    end: datetime | None
    status: str | None               # Cal.com's own: ACCEPTED, PENDING, CANCELLED, REJECTED …
    join_url: str | None
    location_type: str | None
    changed_at: datetime | None      # when this change happened, to order late deliveries
    attendees: list[Attendee] = field(default_factory=list)
    cancellation_reason: str | None = None
    rejection_reason: str | None = None
    request_reschedule: bool = False
    cancelled_by: str | None = None
    reschedule_uid: str | None = None
    reschedule_start: datetime | None = None
    reschedule_end: datetime | None = None
    rescheduled_by: str | None = None
    price: Decimal | None = None
    currency: str | None = None

    @property
    def first(self) -> Attendee | None:
        return self.attendees[0] if self.attendees else None

    def meeting_fields(self, prospect_id: int | None) -> dict:
        return {"prospect_id": prospect_id, "title": self.title, "start_at": self.start, "end_at": self.end,
                "join_url": self.join_url, "location_type": self.location_type}


def _attendees(raw: Any, responses: dict, sms: str | None) -> list[Attendee]:
    people = []
    for item in raw if isinstance(raw, list) else []:
        item = _dict(item)
        people.append(Attendee(
            email=normalize_email(item.get("email")), name=(_str(item.get("name")) or "")[:255] or None,
            timezone=(_str(item.get("timeZone")) or "")[:64] or None,
            phone=normalize_phone(_str(item.get("phoneNumber"))), no_show=item.get("noShow") is True))
    if not people:  # fall back on the booking form's answers
        email = normalize_email(_dict(responses.get("email")).get("value"))
        name = _str(_dict(responses.get("name")).get("value"))
        if email or name:
            people.append(Attendee(email, name[:255] if name else None, None, None))
    if people and people[0].phone is None:
        phone = _dict(responses.get("attendeePhoneNumber")).get("value")
        people[0].phone = normalize_phone(_str(phone)) or normalize_phone(sms)
    return people


def _payment(b: dict) -> tuple[Decimal | None, str | None]:
    """Amount (major units) and currency from the payment records, else the price."""
    payments = b.get("payment")
    payments = payments if isinstance(payments, list) else [payments] if isinstance(payments, dict) else []
    for pay in payments:
        pay = _dict(pay)
        if pay.get("success") is False:
            continue
        currency = _str(pay.get("currency"))
        amount = minor_to_amount(pay.get("amount"), currency)
        if amount is not None:
            return amount, currency.upper()[:8] if currency else None
    currency = _str(b.get("currency"))
    return minor_to_amount(b.get("price"), currency), currency.upper()[:8] if currency else None


def read_booking(body: dict) -> Booking:
    wrapped = isinstance(body.get("payload"), dict)
    b = body["payload"] if wrapped else body
    responses = _dict(b.get("responses"))
    video = _dict(b.get("videoCallData"))
    location = _str(b.get("location"))
    join_url = (_url(video.get("url")) or _url(_dict(b.get("metadata")).get("videoCallUrl"))
                or _url(location))
    changed_at = parse_time(body.get("createdAt")) if wrapped else (
        parse_time(b.get("updatedAt")) or parse_time(b.get("endTime")))
    title = _str(b.get("title")) or _str(b.get("eventTitle"))
    price, currency = _payment(b)
    status = _str(b.get("status"))
    return Booking(
        trigger=str(body.get("triggerEvent")),
        uid=(_str(b.get("uid")) or _str(b.get("bookingUid")) or "")[:512] or None,
        title=title[:512] if title else None,
        start=parse_time(b.get("startTime")),
        end=parse_time(b.get("endTime")),
        status=status.upper() if status else None,
        join_url=join_url[:2048] if join_url else None,
        location_type=location[:64] if location and not _url(location) else None,
        changed_at=changed_at,
        attendees=_attendees(b.get("attendees"), responses, _str(b.get("smsReminderNumber"))),
        cancellation_reason=_str(b.get("cancellationReason")),
        rejection_reason=_str(b.get("rejectionReason")),
        request_reschedule=b.get("requestReschedule") is True,
        cancelled_by=_str(b.get("cancelledBy")),
        reschedule_uid=(_str(b.get("rescheduleUid")) or "")[:512] or None,
        reschedule_start=parse_time(b.get("rescheduleStartTime")),
        reschedule_end=parse_time(b.get("rescheduleEndTime")),
        rescheduled_by=_str(b.get("rescheduledBy")),
        price=price,
        currency=currency,
    )
