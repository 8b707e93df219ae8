"""Changes a person makes to prospects, in the dashboard or through the API: creating and editing
one, notes, the owner and the stage.

Each change commits and tells subscribers in the same transaction (``prospect.created``,
``prospect.updated``, ``note.created``). The stage moves forward freely; moving it back needs a
reason, and every move by hand is written on the prospect's timeline as a note naming who moved it
and why.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vani import tenancy
from vani.errors import MAX_ID, Conflict, InvalidField
from vani.extensions import db
from vani.models import (
    EventType, Membership, Prospect, ProspectNote, ProspectStage, ProspectStageChange, RollupMetric, User,
)
from vani.models.base import utcnow
from vani.outbound import fanout, outbox
from vani.payloads.coerce import as_email
from vani.payloads.phones import normalize_phone
from vani.payloads.safejson import clean_text
from vani.work import effects, rollups

EDITABLE = ("name", "email", "phone", "timezone", "owner_id")
MAX_NOTE = 10_000
MAX_REASON = 1000


class ReasonRequired(Conflict):
    code = "reason_required"


class InvalidFields(InvalidField):
    """Several refused fields: the first answers (the API), ``fields`` holds each reason (a form)."""

    def __init__(self, fields: dict[str, str]):
        field, reason = next(iter(fields.items()))
        super().__init__(field, reason)
        self.fields = fields


@dataclass(frozen=True)
class Actor:
    """Who made a change: a member in the dashboard, or an API token."""

    name: str  # what the timeline says: the member's email, or "API token <name>"
    source: str  # "dashboard" or "api": a note's source
    user_id: int | None = None

    def to_dict(self) -> dict:
        return {"source": self.source, "user_id": self.user_id, "name": self.name}


# -- checks ------------------------------------------------------------------------------------
def _text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string or null")
    value = clean_text(value).strip()
    if len(value) > limit:
        raise InvalidField(field, f"at most {limit} characters")
    return value or None


def _email(value: Any) -> str | None:
    text = _text(value, "email", 320)
    email = as_email(text)
    if email and ("@" not in email or email.startswith("@") or email.endswith("@") or " " in email):
        raise InvalidField("email", "must be an email address (name@example.com)")
    return email


def _phone(value: Any) -> str | None:
    text = _text(value, "phone", 64)
    if text is None:
        return None
    phone = normalize_phone(text)
    if phone is None:
        raise InvalidField("phone", "must be a phone number in international form (+15550100007)")
    return phone


def _timezone(value: Any) -> str | None:
    text = _text(value, "timezone", 64)
    if text is None:
        return None
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidField("timezone", "must be an IANA time zone (Europe/Berlin)") from None
    return text


def member_email(user_id: Any) -> str:
    """The email of ``user_id``, a member of the organisation in force; InvalidField otherwise."""
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id <= MAX_ID:
        raise InvalidField("owner_id", "must be the id of a member of this organisation, or null")
    email = db.session.execute(select(User.email).join(Membership, Membership.user_id == User.id).where(
        Membership.org_id == tenancy.require(), User.id == user_id)).scalar()
    if email is None:
        raise InvalidField("owner_id", "must be the id of a member of this organisation, or null")
    return email


def clean(fields: Mapping, prospect: Prospect | None = None) -> dict:
    """The editable fields sent, checked and in the form they are stored; ``owner_email`` comes
    with ``owner_id``. A new prospect needs an email or a phone number."""
    if not isinstance(fields, Mapping):
        raise InvalidField("body", "must be a JSON object")
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise InvalidField(unknown[0], f"unknown field; allowed: {', '.join(EDITABLE)}")
    out: dict[str, Any] = {}
    refused: dict[str, str] = {}
    checks = {"name": lambda v: _text(v, "name", 255), "email": _email, "phone": _phone, "timezone": _timezone,
              "owner_id": lambda v: member_email(v) if v is not None else None}
    for name, check in checks.items():
        if name in fields:
            try:
                out[name] = check(fields[name])
            except InvalidField as exc:
                refused[exc.field or name] = exc.detail
    if refused:
        raise InvalidFields(refused)
    if "owner_id" in fields:
        out["owner_id"], out["owner_email"] = fields["owner_id"], out["owner_id"]
    email = out.get("email", prospect.email if prospect else None)
    phone = out.get("phone", prospect.phone if prospect else None)
    if not email and not phone:
        raise InvalidField("email", "a prospect needs an email or a phone number")
    if out.get("email") and (prospect is None or out["email"] != prospect.email):
        taken = db.session.execute(select(Prospect.id).where(Prospect.email == out["email"])).scalar()
        if taken is not None:
            raise Conflict(f"prospect {taken} already has the email {out['email']}")
    return out


# -- changes -----------------------------------------------------------------------------------
def _emit(type_: EventType, data: dict, subject: object) -> None:
    """Tell subscribers, in this transaction (its deliveries wake when it commits)."""
    now = utcnow()
    key = f"hand:{type_}:{subject}:{uuid.uuid4().hex}"
    emitted = outbox.write([dict(org_id=tenancy.require(), type=outbox.catalogued(type_), emit_key=key[:255],
                                 data=data)], now)
    fanout.fan_out(emitted, now)


def _flush(email: str | None) -> None:
    """Write the change; two people giving one email at once: the second is told, not a 500."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"another prospect already has the email {email}") from None


def _changed(prospect: Prospect) -> None:
    effects.publish(prospect.org_id, f"prospect:{prospect.id}")


def create(fields: Mapping, actor: Actor) -> Prospect:
    """A new prospect from the fields a person gave; commits."""
    values = clean(fields)
    now = utcnow()
    prospect = Prospect(org_id=tenancy.require(), source=actor.source, stage=ProspectStage.LEAD,
                        created_at=now, updated_at=now, owner_set_by_hand=values.get("owner_id") is not None, **values)
    db.session.add(prospect)
    _flush(prospect.email)
    rollups.move(RollupMetric.PROSPECT_STAGE, [(prospect.org_id, None, ProspectStage.LEAD)])  # the funnel
    _emit(EventType.PROSPECT_CREATED, {**prospect.to_dict(), "changed_by": actor.to_dict()}, prospect.id)
    _changed(prospect)
    db.session.commit()
    return prospect


def update(prospect: Prospect, fields: Mapping, actor: Actor) -> Prospect:
    """Change the fields given (an owner given is kept over the one bookings name); commits.
    Nothing changed, nothing is emitted."""
    values = clean(fields, prospect)
    changed = sorted(name for name, value in values.items() if getattr(prospect, name) != value)
    if "owner_id" in values:
        prospect.owner_set_by_hand = True
    for name in changed:
        setattr(prospect, name, values[name])
    if changed:
        prospect.updated_at = utcnow()
        _flush(prospect.email)
        _emit(EventType.PROSPECT_UPDATED, {**prospect.to_dict(), "changed": changed,
                                           "changed_by": actor.to_dict()}, prospect.id)
        _changed(prospect)
    db.session.commit()
    return prospect


def _note(prospect: Prospect, body: str, actor: Actor, key: str | None = None) -> ProspectNote:
    note = ProspectNote(org_id=prospect.org_id, prospect_id=prospect.id, body=body, source=actor.source,
                        author_id=actor.user_id, note_key=key[:255] if key else None, created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    return note


def add_note(prospect: Prospect, body: Any, actor: Actor, key: str | None = None) -> tuple[ProspectNote, bool]:
    """A note on the prospect's timeline; commits. Once per ``key`` (a form's nonce, an
    ``Idempotency-Key``): a repeat returns the first note. Returns (note, created)."""
    text = _text(body, "body", MAX_NOTE)
    if text is None:
        raise InvalidField("body", "write the note (1 to 10000 characters)")
    if key:
        first = db.session.execute(select(ProspectNote).where(ProspectNote.note_key == key[:255])).scalar()
        if first is not None:
            return first, False
    note = _note(prospect, text, actor, key)
    _emit(EventType.NOTE_CREATED, {"note": note.to_dict(), "prospect": prospect.to_dict(),
                                   "changed_by": actor.to_dict()}, note.id)
    _changed(prospect)
    db.session.commit()
    return note, True


def parse_stage(value: Any) -> ProspectStage:
    try:
        return ProspectStage(value)
    except ValueError:
        raise InvalidField("stage", f"must be one of {', '.join(ProspectStage)}") from None


def move_stage(prospect: Prospect, stage: Any, reason: Any, actor: Actor) -> bool:
    """Move the prospect to ``stage``: forward (or between ``met`` and ``no_show``) freely, back
    only with a reason. The move is written on the timeline; commits. False when it was there."""
    stage = parse_stage(stage)
    reason = _text(reason, "reason", MAX_REASON)
    before = ProspectStage(prospect.stage or ProspectStage.LEAD)
    if stage == before:
        return False
    if stage.rank < before.rank and not reason:
        raise ReasonRequired(f"moving {before} back to {stage} needs a reason", "reason")
    prospect.stage, prospect.updated_at = stage, utcnow()
    rollups.move(RollupMetric.PROSPECT_STAGE, [(prospect.org_id, before, stage)])  # the funnel
    db.session.add(ProspectStageChange(org_id=prospect.org_id, prospect_id=prospect.id, from_stage=before,
                                       to_stage=stage, event_id=None, created_at=prospect.updated_at))
    line = f"Stage moved from {before} to {stage} by {actor.name}"
    _note(prospect, f"{line}: {reason}" if reason else f"{line}.", actor)
    _emit(EventType.PROSPECT_UPDATED, {**prospect.to_dict(), "previous_stage": before, "stage_reason": reason,
                                       "changed": ["stage"], "changed_by": actor.to_dict()}, prospect.id)
    _changed(prospect)
    db.session.commit()
    return True
