"""Odd inputs for the tests of malformed requests: odd values, real-shaped bodies to break, signed senders.

Every generator is deterministic (seeded ``random.Random``) so a failure reproduces exactly.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import uuid
from typing import Any, Iterator
from urllib.parse import quote

from tests.bookings import cal_booking, calendly, calendly_no_show
from tests.settings import SECRETS
from tests.whatsapp_signing import LOCAL_TWILIO_URL, TWILIO_PATH, twilio_signature  # noqa: F401 (re-exported)

GMAIL_TOKEN = "gmail-hostile-token"
URLS = {"calendly": "/api/webhooks/calendly", "cal_com": "/api/webhooks/cal-com", "kapso": "/api/webhooks/kapso",
        "twilio": TWILIO_PATH, "gmail": "/api/webhooks/gmail"}

# Placeholders spliced into serialised JSON as raw tokens json.dumps would never write.
RAW_TOKENS = {"__inf__": "1e999", "__nan__": "NaN", "__neginf__": "-Infinity", "__bigint__": "9" * 400,
              "__tiny__": "-0.0e-999"}


def nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


HOSTILE: list[Any] = [
    None, True, False, 0, -1, 2 ** 63, 10 ** 30, -1.5e308, 1e-300, 1.5,
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\U0001F600" * 3, "\u00e9" * 600, "x" * 5000,
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-02-30T25:61:00Z", "-99999999999",
    "99999999999999999999999", "whatsapp:+", "+1 (555) 010-0009 ext 7", "javascript:alert(1)", "NaN", "1e999",
    [], [None], ["x", 1, {}], {}, {"": None}, {"\x00": "\ud800"}, nested(12),
    "__inf__", "__nan__", "__neginf__", "__bigint__", "__tiny__",
]


def dump(doc: Any) -> bytes:
    """JSON as a provider might send it, with the raw placeholder tokens spliced in."""
    text = json.dumps(doc)  # ensure_ascii: lone surrogates and NUL become \\ud800 / \\u0000 escapes
    for marker, raw in RAW_TOKENS.items():
        text = text.replace(f'"{marker}"', raw)
    return text.encode()


def paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path into ``doc`` (containers and leaves), outermost first."""
    if prefix:
        yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from paths(value, prefix + (i,))


def replaced(doc: Any, path: tuple, value: Any) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = copy.deepcopy(value)
    return out


def mutations(doc: Any, seed: int, per_path: int = 1, extra: int = 20) -> Iterator[Any]:
    """``doc`` with each field in turn replaced by hostile values (taken in turn, so every value
    lands on many fields), then some bodies with several fields broken at once."""
    rng = random.Random(seed)
    all_paths = list(paths(doc))
    start = rng.randrange(len(HOSTILE))
    for i, path in enumerate(all_paths):
        for j in range(per_path):
            yield replaced(doc, path, HOSTILE[(start + i * per_path + j) % len(HOSTILE)])
    for _ in range(extra):
        out = doc
        for path in rng.sample(all_paths, min(4, len(all_paths))):
            try:
                out = replaced(out, path, rng.choice(HOSTILE))
            except (KeyError, IndexError, TypeError):  # an outer mutation removed this path
                continue
        yield out


def random_json_bytes(rng: random.Random) -> bytes:
    pieces = [b"{", b"}", b"[", b"]", b'"event"', b'"payload"', b'"message"', b":", b",", b"null", b"true",
              b"1e999", b"NaN", b"-0", b'"\\u0000"', b'"\\ud800"', b"\xff", b"\xc3", b"\x00", b'"x"', b"9" * 30]
    return b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))


# -- real-shaped bodies ----------------------------------------------------------------------
def kapso_message(mid: str, direction: str = "inbound", status: str = "received") -> dict:
    statuses = [] if direction == "inbound" else [
        {"id": mid, "status": "sent", "timestamp": "1767000000", "recipient_id": "15550100011"},
        {"id": mid, "status": status, "timestamp": "1767000060", "recipient_id": "15550100011",
         "errors": [{"code": 131047, "title": "Re-engagement message", "message": "outside the window"}]}]
    return {
        "message": {"id": mid, "timestamp": "1767000000", "type": "text", "text": {"body": "Hi there"},
                    "from": "15550100011",
                    "kapso": {"direction": direction, "status": status, "content": "Hi there", "statuses": statuses,
                              "media_url": "https://media.example/a.jpg", "transcript": {"text": "hello"}}},
        "conversation": {"id": "conv-h1", "phone_number": "+15550100011", "status": "active",
                         "created_at": "2026-01-01T10:00:00Z", "updated_at": "2026-01-01T10:05:00Z",
                         "phone_number_id": "pn-1", "kapso": {"contact_name": "Rui Costa",
                                                              "last_message_timestamp": "2026-01-01T10:05:00Z"}},
        "contacts": [{"wa_id": "15550100011", "profile": {"name": "Rui"}}],
        "phone_number_id": "pn-1",
    }


def kapso_flat() -> dict:
    return {"event_type": "message_received", "conversation_id": "conv-flat", "message_id": "msg-flat-1",
            "timestamp": "2026-01-01T10:00:00Z",
            "payload": {"from": "+15550100012", "content": {"text": "old shape"}, "message_type": "text",
                        "contact": {"name": "Flat Person", "phone": "+15550100012"}}}


def kapso_contact() -> dict:
    return {"contact": {"wa_id": "15550100011", "name": "Rui Costa", "profile": {"name": "Rui"}}}


def gmail_push(data: dict | None = None) -> dict:
    decoded = data if data is not None else {"emailAddress": "sales@example.test", "historyId": 12345}
    return {"message": {"data": base64.b64encode(dump(decoded)).decode(), "messageId": "m-1",
                        "publishTime": "2026-01-01T10:00:00Z"}, "subscription": "projects/p/subscriptions/s"}


def json_bodies() -> dict[str, list[tuple[str | None, Any]]]:
    """(Kapso event header or None, body) per JSON provider."""
    return {
        "calendly": [
            (None, calendly("invitee.created", "h1", phone="+15550100011",
                            old_invitee="https://api.calendly.com/scheduled_events/ev-0/invitees/inv-0",
                            payment={"amount": 50.0, "currency": "USD", "provider": "stripe", "external_id": "ch_1"})),
            (None, calendly("invitee.canceled", "h2", rescheduled=True, reason="conflict")),
            (None, calendly_no_show(True, "h3")),
        ],
        "cal_com": [
            (None, cal_booking("BOOKING_CREATED", "uid-h1", responses={"email": {"value": "g@example.test"}},
                               payment=[{"amount": 5000, "currency": "usd", "success": True}])),
            (None, cal_booking("BOOKING_RESCHEDULED", "uid-h2", rescheduleUid="uid-h1",
                               rescheduleStartTime="2026-02-09T09:00:00.000Z", rescheduledBy="g@example.test")),
            (None, {"triggerEvent": "MEETING_ENDED", "uid": "uid-h3", "title": "Intro", "startTime":
                    "2026-02-10T09:00:00Z", "endTime": "2026-02-10T09:30:00Z", "updatedAt": "2026-02-10T09:31:00Z",
                    "attendees": [{"email": "e@example.test", "name": "E", "timeZone": "UTC"}]}),
            (None, {"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "createdAt": "2026-02-10T10:00:00Z",
                    "payload": {"bookingUid": "uid-h1", "attendees": [{"email": "g@example.test", "noShow": True}]}}),
        ],
        "kapso": [
            ("whatsapp.message.received", kapso_message("wamid.h1")),
            ("whatsapp.message.failed", kapso_message("wamid.h2", "outbound", "failed")),
            ("whatsapp.conversation.ended", {"conversation": kapso_message("x")["conversation"],
                                             "phone_number_id": "pn-1"}),
            ("whatsapp.contact.updated", kapso_contact()),
            ("message_received", kapso_flat()),
        ],
        "gmail": [(None, gmail_push())],
    }


def make_unique(provider: str, doc: Any, n: int) -> Any:
    """Give each body its own dedupe identity, so every mutation is stored and mapped."""
    if not isinstance(doc, dict):
        return doc
    doc = copy.deepcopy(doc)
    if provider == "calendly":
        doc["created_at"] = f"2026-01-01T00:00:{n % 60:02d}.{n:06d}Z"
    elif provider == "gmail" and isinstance(doc.get("message"), dict):
        doc["message"]["messageId"] = f"m-{n}"
    return doc


# -- senders ---------------------------------------------------------------------------------
def sign(provider: str, body: bytes, event: str | None = None) -> dict:
    """Headers that make ``body`` verify for ``provider`` (with the test secrets)."""
    if provider == "calendly":
        from tests.signing import calendly_headers
        return calendly_headers(body)
    if provider == "cal_com":
        from tests.signing import cal_com_headers
        return cal_com_headers(body)
    if provider == "kapso":
        sig = hmac.new(SECRETS["KAPSO_WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Webhook-Signature": sig, "Content-Type": "application/json",
                   "X-Idempotency-Key": str(uuid.uuid4())}
        if event:
            headers["X-Webhook-Event"] = event
        return headers
    if provider == "gmail":
        return {"Authorization": f"Bearer {GMAIL_TOKEN}", "Content-Type": "application/json"}
    raise KeyError(provider)


class RawPct(str):
    """A form value written into the body as is (already percent-encoded, maybe invalid)."""


def form_body(fields: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={v if isinstance(v, RawPct) else quote(v, safe='')}" for k, v in fields)


def post_twilio_raw(client, body: str, headers: dict | None = None):
    headers = {"X-Twilio-Signature": twilio_signature(LOCAL_TWILIO_URL, body), **(headers or {})}
    return client.post(TWILIO_PATH, data=body.encode(), headers=headers,
                       content_type="application/x-www-form-urlencoded")


TWILIO_INBOUND = [("SmsMessageSid", "SMh1"), ("NumMedia", "1"), ("ProfileName", "Ana"), ("MessageType", "image"),
                  ("WaId", "15550100013"), ("SmsStatus", "received"), ("Body", "hello"),
                  ("To", "whatsapp:+14155238886"), ("MessageSid", "SMh1"), ("From", "whatsapp:+15550100013"),
                  ("MediaUrl0", "https://api.twilio.com/media/1"), ("MediaContentType0", "image/jpeg"),
                  ("Latitude", "52.3"), ("Longitude", "4.9"), ("ButtonText", "Yes"), ("ButtonPayload", "p"),
                  ("ChannelMetadata", '{"type":"whatsapp","data":{"context":{"ProfileName":"Ana","WaId":"155"}}}')]
TWILIO_STATUS = [("SmsSid", "SMh2"), ("SmsStatus", "undelivered"), ("MessageStatus", "undelivered"),
                 ("To", "whatsapp:+15550100013"), ("MessageSid", "SMh2"), ("From", "whatsapp:+14155238886"),
                 ("ErrorCode", "63016"), ("ErrorMessage", "outside the window")]
TWILIO_HOSTILE: list[str] = [
    "", " ", RawPct("%00"), RawPct("a%00b"), RawPct("%FF%FE"), RawPct("%ED%A0%80"), "x" * 5000, "\u00e9" * 300,
    "-1", "99999999999999999999", "abc", "whatsapp:", "whatsapp:" + "9" * 40, "+", "{}", "[]", "null",
    "[" * 5000 + "]" * 5000, '{"data": []}', '{"data": {"context": []}}',
    '{"data": {"context": {"WaId": {"a": 1}, "ProfileName": ["x"]}}}', "NaN", "1e999", "\U0001F600",
]


def twilio_forms(seed: int) -> Iterator[list[tuple[str, str]]]:
    """Inbound and status forms with each field in turn given hostile values, plus duplicated fields."""
    rng = random.Random(seed)
    n = 0
    for base in (TWILIO_INBOUND, TWILIO_STATUS):
        for i, (key, _) in enumerate(base):
            for value in rng.sample(TWILIO_HOSTILE, 3):
                n += 1
                fields = [(k, v) for k, v in base]
                fields[i] = (key, value)
                if key not in ("MessageSid", "SmsMessageSid", "SmsSid"):
                    fields = [(k, f"{v}{n}" if k in ("MessageSid", "SmsMessageSid", "SmsSid") else v)
                              for k, v in fields]
                yield fields
        yield base + [("MessageSid", "SMother"), ("From", "whatsapp:+15550100099")]
        yield base + [(rng.choice(TWILIO_HOSTILE) or "k", rng.choice(TWILIO_HOSTILE)) for _ in range(5)]
