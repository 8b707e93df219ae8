"""Reading Cal.com webhook bodies into one shape.

Most triggers wrap the booking: ``{triggerEvent, createdAt, payload: {...}}``. ``MEETING_STARTED``
and ``MEETING_ENDED`` are flat (booking fields beside ``triggerEvent``; ``createdAt`` is the
booking's creation time, ``updatedAt`` its last change). ``BOOKING_NO_SHOW_UPDATED`` is tiny:
``bookingUid`` and ``attendees[{email, noShow}]``. Recordings spread the booking beside
``downloadLink`` (or ``downloadLinks {recording, transcription[{format, link}]}``); Cal Video
no-shows carry ``bookingId`` (and ``bookingUid``, ``hostEmail``, ``participants``, ``message``).
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
from vani.payloads.phones import normalize_phone
from vani.prospects.qualification import answers_from, utm_from

# Booking-form fields that are the attendee, the place or the reschedule, not answers.
NOT_ANSWERS = {"name", "email", "attendeePhoneNumber", "location", "guests", "notes", "rescheduleReason",
               "smsReminderNumber"}

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
    booking_id: str | None = None    # Cal.com's numeric id, beside the uid
    answers: list[dict] = field(default_factory=list)
    utm: dict = field(default_factory=dict)
    host_email: str | None = None
    recording_url: str | None = None
    transcript_url: str | None = None
    host_no_show: str | None = None  # the host Cal Video says did not join
    message: str | None = None

    @property
    def first(self) -> Attendee | None:
        return self.attendees[0] if self.attendees else None

    def meeting_fields(self, prospect_id: int | None) -> dict:
        return {"prospect_id": prospect_id, "title": self.title, "start_at": self.start, "end_at": self.end,
                "join_url": self.join_url, "location_type": self.location_type, "booking_id": self.booking_id}


def answer_value(value: Any) -> Any:
    """A response's answer: its ``value``, or for option fields the chosen labels."""
    if isinstance(value, dict):
        value = value.get("value", value.get("optionValue"))
    if isinstance(value, list):
        value = [_dict(v).get("label") if isinstance(v, dict) else v for v in value]
    return value


def utm_of(*sources: Any) -> dict:
    """The first value of each UTM field among ``sources`` (mappings, read for ``utm_*`` keys only)."""
    out: dict = {}
    for source in sources:
        values = {k: answer_value(v) for k, v in _dict(source).items() if isinstance(k, str) and k.startswith("utm_")}
        out = {**utm_from(values), **out}
    return out


def read_booking_id(b: dict) -> str | None:
    for key in ("bookingId", "id"):
        value = b.get(key)
        if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and value.isdigit():
            return str(value)[:64]
    return None


def _answers(b: dict, responses: dict) -> list[dict]:
    pairs = [(_dict(r).get("label") or key, answer_value(_dict(r).get("value")))
             for key, r in responses.items() if key not in NOT_ANSWERS and not key.startswith("utm_")]
    return answers_from(pairs + [("Additional notes", b.get("additionalNotes"))])


def _links(b: dict) -> tuple[str | None, str | None]:
    """(recording, transcript) download links."""
    links = _dict(b.get("downloadLinks"))
    recording = _url(b.get("downloadLink")) or _url(links.get("recording"))
    transcripts = links.get("transcription")
    found = [_url(_dict(t).get("link")) for t in transcripts] if isinstance(transcripts, list) else []
    transcript = next((u for u in found if u), None) or _url(b.get("transcriptionUrl"))
    return (recording[:2048] if recording else None), (transcript[:2048] if transcript else None)


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
    recording, transcript = _links(b)
    host = normalize_email(_dict(b.get("organizer")).get("email")) or normalize_email(_dict(b.get("user")).get("email"))
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
        booking_id=read_booking_id(b),
        answers=_answers(b, responses),
        utm=utm_of(b, b.get("metadata"), b.get("tracking"), responses),
        host_email=host,
        recording_url=recording,
        transcript_url=transcript,
        host_no_show=normalize_email(b.get("hostEmail")),
        message=_str(b.get("message")),
    )
