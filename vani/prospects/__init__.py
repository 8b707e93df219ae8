"""Prospects: found by email (else phone) or created, and their notes.

Everything runs inside an event's transaction (see ``processing``) and is idempotent: running the
same event twice creates nothing the second time.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from vani.extensions import db
from vani.models import EventType, Meeting, NotificationKind, Prospect, ProspectNote, ProspectStage
from vani.models.dbutil import fit, insert_ignore, insert_new
from vani.notifications import moments
from vani.outbound import outbox
from vani.payloads.coerce import as_email
from vani.processing.context import EventContext
from vani.prospects import known
from vani.prospects.qualification import record_stage


def find(email: str | None = None, phone: str | None = None) -> Prospect | None:
    email = as_email(email)
    if email:
        found = db.session.execute(select(Prospect).where(Prospect.email == email)).scalar_one_or_none()
        if found:
            return found
    if phone:
        return db.session.execute(
            select(Prospect).where(Prospect.phone == phone).order_by(Prospect.id).limit(1)).scalar_one_or_none()
    return None


def upsert(ctx: EventContext, email: str | None = None, name: str | None = None, phone: str | None = None,
           timezone: str | None = None, source: str | None = None, initial: dict | None = None) -> Prospect:
    """Find the prospect by email (else phone) or create it (with ``initial`` too: a booking's
    stage, source and owner, so a new prospect needs no UPDATE after its INSERT); fill in fields
    it lacks.

    Concurrent workers may race to create the same email: the unique index decides and the
    loser reads the winner's row."""
    email = as_email(email)
    sizes = fit(Prospect, {"name": name, "phone": phone, "timezone": timezone, "source": source})
    name, phone, timezone, source = sizes["name"], sizes["phone"], sizes["timezone"], sizes["source"]
    new = dict(org_id=ctx.org_id, email=email, name=name, phone=phone, timezone=timezone,
               source=source or ctx.provider, created_at=ctx.received_at, updated_at=ctx.received_at,
               **(initial or {}))
    prospect, created = None, False
    if email and not phone:  # a booking: its prospect is often read with the batch (``known``)
        key = known.prospect_key(ctx.org_id, email)
        prospect, created = known.get_or_add(Prospect, key, new)
        if prospect is None:
            prospect = insert_new(Prospect, new, ["org_id", "email"])  # a first booking
            created = prospect is not None
            known.remember(Prospect, key, prospect)
    if prospect is None:
        prospect = find(email, phone)
        if prospect is not None and email and prospect.email and prospect.email != email:
            prospect = None  # a shared phone number does not make two people one prospect
    if prospect is None and email:
        prospect = insert_new(Prospect, new, ["org_id", "email"])
        created = prospect is not None
        if prospect is None:  # another worker created it just now
            prospect = db.session.execute(select(Prospect).where(Prospect.email == email)).scalar_one()
    elif prospect is None:
        prospect = Prospect(**new)
        db.session.add(prospect)
        db.session.flush()
        created = True
    changed = False
    if not created:
        for attr, value in (("name", name), ("phone", phone), ("timezone", timezone), ("email", email)):
            if value and getattr(prospect, attr) in (None, ""):
                setattr(prospect, attr, value)
                changed = True
        if changed:
            db.session.flush()
    if created:
        record_stage(ctx, prospect, None, ProspectStage(prospect.stage or ProspectStage.LEAD))
        outbox.emit(ctx, EventType.PROSPECT_CREATED, prospect.to_dict(), prospect.id)
        kind = NotificationKind.PROSPECT_CREATED
        moments.notify(ctx, kind, f"{kind}:{prospect.id}", prospect=prospect,
                       data={"name": prospect.name, "email": prospect.email, "phone": prospect.phone})
    elif changed:
        outbox.emit(ctx, EventType.PROSPECT_UPDATED, prospect.to_dict(), prospect.id)
    ctx.use_prospect(prospect)
    return prospect


def fill_name(ctx: EventContext, prospect: Prospect, name: str | None) -> None:
    """Give a nameless prospect ``name`` (a messaging profile name, say)."""
    if name and not prospect.name:
        prospect.name = fit(Prospect, {"name": name})["name"]
        db.session.flush()
        outbox.emit(ctx, EventType.PROSPECT_UPDATED, prospect.to_dict(), prospect.id)


def add_note(ctx: EventContext, prospect: Prospect, body: str, purpose: str = "note",
             meeting: Meeting | None = None) -> None:
    """A note on the prospect's timeline, once per (event, purpose); written with the batch."""
    ctx.notes.append(dict(prospect_id=prospect.id, note_key=ctx.key(purpose), body=body, source=ctx.provider,
                          meeting_id=meeting.id if meeting else None, created_at=ctx.received_at))


def write_notes(rows: list[dict]) -> None:
    """Insert a batch's notes (each names its ``org_id``), skipping those a replay already wrote."""
    if rows:
        db.session.execute(insert_ignore(ProspectNote, None, ["org_id", "note_key"], returning=False), rows)


def summary(prospect: Prospect | None) -> dict[str, Any] | None:
    """The short form outbound payloads embed."""
    if prospect is None:
        return None
    return {"id": prospect.id, "email": prospect.email, "name": prospect.name, "phone": prospect.phone}
