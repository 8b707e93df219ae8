"""Form submissions become leads: a prospect found or created from the answers, a note holding
every question and answer, the outbound ``lead.created`` and a notification, once per submission."""
from __future__ import annotations

from vani import prospects
from vani.extensions import db
from vani.models import EventType, Lead, NotificationKind
from vani.models.dbutil import insert_new
from vani.notifications import moments
from vani.outbound import outbox
from vani.plugins.contract import Outcome
from vani.processing.context import EventContext
from vani.prospects import qualification


def record(ctx: EventContext, submission_ref: str, *, answers: list[dict], email: str | None,
           name: str | None = None, phone: str | None = None, form_ref: str | None = None,
           form_name: str | None = None, utm: dict | None = None) -> Outcome:
    if not email:
        return Outcome.ignored("the submission's answers hold no email")
    prospect = prospects.upsert(ctx, email=email, name=name, phone=phone)
    qualification.first_touch(prospect, utm or {})
    lead = insert_new(Lead, dict(
        org_id=ctx.org_id, provider=ctx.provider, submission_ref=submission_ref[:512], form_ref=(form_ref or "")[:512] or None,
        form_name=(form_name or "")[:255] or None, answers=answers, utm=utm or {}, prospect_id=prospect.id,
        event_id=ctx.event.id, created_at=ctx.received_at), ["org_id", "provider", "submission_ref"])
    if lead is None:  # a replay or a redelivery: the lead is there
        return Outcome.processed("lead already recorded")
    lines = [f"{form_name or 'Form'} submitted:"] + [f"{a['question']}: {a['answer']}" for a in answers]
    prospects.add_note(ctx, prospect, "\n".join(lines), purpose="lead")
    key = f"{EventType.LEAD_CREATED}:{ctx.provider}:{lead.submission_ref}"
    outbox.emit_keyed(ctx, EventType.LEAD_CREATED, {"lead": lead.to_dict(), "prospect": prospect.to_dict()}, key)
    moments.notify(ctx, NotificationKind.LEAD_CREATED, key, prospect=prospect, data={
        "form": form_name, "answers": answers[:20], "email": prospect.email, "name": prospect.name})
    db.session.flush()
    return Outcome.processed(f"lead from {form_name or 'a form'} recorded")
