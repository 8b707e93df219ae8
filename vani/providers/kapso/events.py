"""What a Kapso body is, read from the signed body only.

Kapso names a single event in the ``X-Webhook-Event`` header, which its signature does not cover:
a captured body replayed under another header must not become another event. So the event type
and the dedupe key come from the body (a message's direction and status, a conversation's
status, a batch's ``type``); the header is used only when the body cannot say, and then the key
is the body's digest, so the same body under another header is a duplicate.
"""
from __future__ import annotations

from datetime import datetime, timezone

from vani.models import MessageStatus
from vani.payloads.coerce import as_dict, as_time
from vani.plugins.contract import body_digest

MESSAGE_STATUSES = ("sent", "delivered", "read", "failed")
CONVERSATION_EVENTS = {"active": "created", "ended": "ended", "inactive": "inactive"}
MESSAGE_STATUS = {"message.sent": MessageStatus.SENT, "message.delivered": MessageStatus.DELIVERED,
                  "message.read": MessageStatus.READ, "message.failed": MessageStatus.FAILED}


def event_name(event_type: str) -> str:
    """``whatsapp.message.received`` / ``message_received`` → ``message.received``."""
    name = (event_type or "").strip().lower()
    if name.startswith("whatsapp."):
        name = name[len("whatsapp."):]
    return name.replace("_", ".")


def parse_time(value) -> datetime | None:
    """Unix seconds (number or digit string) or ISO 8601, as UTC; None when absent or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) < 20 else None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    return as_time(value)


def event_of(body: dict) -> str | None:
    """The event a body describes, or None when it does not say."""
    if isinstance(body.get("event"), str) and body["event"].strip():  # workflow events name themselves
        return body["event"].strip()[:120]
    if isinstance(body.get("event_type"), str) and isinstance(body.get("payload"), dict):  # the older flat shape
        return body["event_type"].strip()[:120] or None
    message = as_dict(body.get("message"))
    if message:
        kapso = as_dict(message.get("kapso"))
        status = str(kapso.get("status") or "").lower()
        if kapso.get("direction") == "inbound" or status == "received":
            return "whatsapp.message.received"
        if status in MESSAGE_STATUSES:
            return f"whatsapp.message.{status}"
        return None
    conversation = as_dict(body.get("conversation"))
    status = str(conversation.get("status") or "").lower()
    if conversation and status in CONVERSATION_EVENTS:
        return f"whatsapp.conversation.{CONVERSATION_EVENTS[status]}"
    return None


def content_key(event: str, item: dict, raw: bytes) -> str:
    """The same happening across redeliveries: signed content only."""
    message = as_dict(item.get("message"))
    if message.get("id"):
        return f"{event}:{message['id']}"
    if item.get("message_id"):  # older flat shape
        return f"{event}:{item['message_id']}"
    conversation = as_dict(item.get("conversation"))
    if conversation.get("id"):
        return f"{event}:{conversation['id']}:{conversation.get('updated_at', '')}"
    if item.get("workflow_execution_id"):
        return f"{event}:{item['workflow_execution_id']}:{item.get('occurred_at', '')}"
    return f"sha256:{body_digest(raw)}"


def newest_time(item: dict) -> datetime | None:
    """The latest moment a body speaks of (a status's time, a conversation's update)."""
    message = as_dict(item.get("message"))
    kapso = as_dict(message.get("kapso"))
    conversation = as_dict(item.get("conversation"))
    candidates = [message.get("timestamp"), item.get("occurred_at"), item.get("created_at"),
                  conversation.get("updated_at"), conversation.get("last_active_at")]
    statuses = kapso.get("statuses")
    if isinstance(statuses, list):
        candidates += [as_dict(s).get("timestamp") for s in statuses]
    times = [_time(value) for value in candidates]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def _time(value) -> datetime | None:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 12:
        return datetime.fromtimestamp(int(value.strip()), tz=timezone.utc)
    return as_time(value)
