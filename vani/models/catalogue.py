"""The outbound webhook catalogue: every event type Vani emits to subscriptions (docs/events.md)."""
from __future__ import annotations

import enum


class EventType(enum.StrEnum):
    """An outbound event's ``type``; the value is what receivers see and the outbox stores."""
    PROSPECT_CREATED = "prospect.created"
    PROSPECT_UPDATED = "prospect.updated"
    NOTE_CREATED = "note.created"
    MEETING_SCHEDULED = "meeting.scheduled"
    MEETING_RESCHEDULED = "meeting.rescheduled"
    MEETING_CANCELLED = "meeting.cancelled"
    MEETING_COMPLETED = "meeting.completed"
    MEETING_NO_SHOW = "meeting.no_show"
    MEETING_STARTED = "meeting.started"
    PAYMENT_RECEIVED = "payment.received"
    LEAD_CREATED = "lead.created"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_STATUS_UPDATED = "message.status_updated"
    CONVERSATION_HANDOFF = "conversation.handoff"
    EMAIL_RECEIVED = "email.received"
    EMAIL_SENT = "email.sent"
    WEBHOOK_TEST = "webhook.test"  # sent only by the "send test" action, to one subscription
