"""Data the tests feed Vani: mail as the mailbox sync reads it, and a Calendly booking payload."""
from __future__ import annotations

from datetime import datetime, timezone

from vani.mail.store import EmailIn


def mail(n: int, direction: str = "inbound", sender: str = "ana@client.test", to=("sales@example.com",),
         thread: str | None = "<t1@client.test>", subject: str = "Pricing for a team of 12") -> EmailIn:
    return EmailIn(provider_message_id=f"INBOX/7/{n}", direction=direction, message_id=f"<m{n}@client.test>",
                   thread_id=thread, from_address=sender, from_name="Ana Lima", to=list(to), subject=subject,
                   snippet=f"message {n}", date=datetime(2026, 11, 29, 10, n, tzinfo=timezone.utc), folder="INBOX")


INVITEE = "https://api.calendly.com/scheduled_events/EV-77/invitees/INV-77"
BOOKING = {
    "event": "invitee.created",
    "created_at": "2026-02-10T08:00:00.000000Z",
    "created_by": "https://api.calendly.com/users/U-1",
    "payload": {
        "uri": INVITEE, "email": "Ada.Lovelace@Example.test", "name": "Ada Lovelace",
        "created_at": "2026-02-10T08:00:00.000000Z", "updated_at": "2026-02-10T08:00:00.000000Z",
        "event": "https://api.calendly.com/scheduled_events/EV-77", "status": "active",
        "timezone": "Europe/London", "text_reminder_number": None, "old_invitee": None, "new_invitee": None,
        "rescheduled": False, "payment": None, "no_show": None, "questions_and_answers": [], "tracking": {},
        "scheduled_event": {
            "uri": "https://api.calendly.com/scheduled_events/EV-77", "name": "Discovery call",
            "start_time": "2026-02-12T14:00:00.000000Z", "end_time": "2026-02-12T14:30:00.000000Z",
            "status": "active", "event_type": "https://api.calendly.com/event_types/ET-1",
            "location": {"type": "google_conference", "join_url": "https://meet.example/abc", "status": "pushed"},
        },
    },
}
