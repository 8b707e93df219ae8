"""What one event's mapping sees and leaves behind.

A mapper gets an ``EventContext``: the stored event, what it touched (the prospect and meeting
it is about, for links and search) and the rows it wants written with the rest of its batch
(outbound events, notes, notifications, stage changes and the moves the funnel counts). Those
rows reach the batch only when the event's own savepoint succeeded, so a failed event leaves
nothing behind (the lanes it woke and the live updates it published, recorded with
``vani.work.effects``, go with its savepoint).
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from vani.models import Meeting, Prospect, WebhookEvent


class EventContext:
    def __init__(self, event: WebhookEvent | None, *, org_id: int | None = None, provider: str | None = None,
                 origin: str | None = None, at: datetime | None = None):
        self.event = event
        # Everything the event writes belongs to its organisation.
        self.org_id: int = event.org_id if event is not None else org_id
        self.provider: str = event.provider if event is not None else provider
        self.origin: str = str(event.id) if event is not None else origin  # what keys make unique
        self.event_id: int | None = event.id if event is not None else None
        self.request_id: str | None = event.request_id if event is not None else None
        self.received_at: datetime = event.received_at if event is not None else at
        self.prospect: Prospect | None = None
        self.meeting: Meeting | None = None
        self.subject_email: str | None = event.subject_email if event is not None else None
        self.subject_ref: str | None = event.subject_ref if event is not None else None
        self.outbox: list[dict] = []
        self.notes: list[dict] = []
        self.notifications: list[dict] = []
        self.stage_moves: list[tuple] = []  # (stage before or None: created, stage after), for the funnel
        self.stage_changes: list[dict] = []  # the same moves as rows of the prospects' timelines

    @classmethod
    def on_its_own(cls, org_id: int, provider: str, origin: str, at: datetime) -> EventContext:
        """A change Vani makes with no inbound event behind it (a meeting completed once its end
        time has passed): its keys are made unique by ``origin`` instead of an event's id."""
        return cls(None, org_id=org_id, provider=provider, origin=origin, at=at)

    def key(self, *parts: object) -> str:
        """A key unique to this event (and ``parts``): what makes a replay write nothing new."""
        return ":".join([self.provider, self.origin, *map(str, parts)])[:255]

    def use_prospect(self, prospect: Prospect) -> None:
        """Make ``prospect`` the one this event is about."""
        self.prospect = prospect
        self.subject_email = self.subject_email or prospect.email

    def focus(self, meeting: Meeting) -> None:
        """Make ``meeting`` the one this event is about."""
        self.meeting = meeting
        self.subject_ref = meeting.provider_ref[:255]

    def refer(self, ref: str | None) -> None:
        """Name what this event is about when it is no meeting (a message id, a mailbox)."""
        if ref and not self.subject_ref:
            self.subject_ref = ref[:255]
