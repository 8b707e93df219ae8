"""Invitations to an organisation: an admin invites an address with a role; an existing account
joins only when it accepts, someone new signs up through the invitation's link. The admin's
answer never tells whether an account exists for the address."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from vani import tenancy
from vani.errors import Conflict, NotFound
from vani.extensions import db
from vani.models import Invitation, InvitationStatus, User
from vani.models.base import utcnow
from vani.services import orgs
from vani.services.dashboard import users

INVITATION_DAYS = 7
GONE = "This invitation is no longer valid (used, declined, revoked or expired); ask the admin for a new one."


@dataclass(frozen=True)
class Sent:
    invitation: Invitation
    token: str  # in the link; shown once, only its hash is kept


@dataclass(frozen=True)
class Joined:
    """Where an accepted invitation took its account."""
    org_id: int
    role: str
    email: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _open():
    """Invitations that may still be answered."""
    return (Invitation.status == InvitationStatus.PENDING, Invitation.expires_at > utcnow())


def invite(email: str, role: str, acting: User) -> Sent:
    """Invite ``email`` to the organisation in force with ``role`` (an earlier invitation of the
    address there is revoked: its link stops working). Commits."""
    org_id = tenancy.require()
    email = users.normalize_email(email)
    role = users.check_role(role)
    account = users.find_by_email(email)
    if account is not None and orgs.role_of(account.id, org_id) is not None:
        raise Conflict(f"{email} is a member already.")  # this organisation's members are no secret here
    now = utcnow()
    db.session.execute(update(Invitation).where(Invitation.org_id == org_id, Invitation.email == email,
                                                Invitation.status == InvitationStatus.PENDING)
                       .values(status=InvitationStatus.REVOKED, answered_at=now)
                       .execution_options(synchronize_session=False))
    token = secrets.token_urlsafe(32)
    row = Invitation(org_id=org_id, email=email, role=role, token_hash=hash_token(token), invited_by_id=acting.id,
                     created_at=now, expires_at=now + timedelta(days=INVITATION_DAYS))
    db.session.add(row)
    db.session.commit()
    return Sent(row, token)


def pending() -> list[Invitation]:
    """The organisation's invitations still waiting for an answer, newest first."""
    return list(db.session.execute(select(Invitation).where(*_open())
                                   .order_by(Invitation.created_at.desc(), Invitation.id.desc())).scalars())


def revoke(invitation_id: int) -> Invitation:
    row = db.session.execute(select(Invitation).where(Invitation.id == invitation_id, *_open())).scalar_one_or_none()
    if row is None:
        raise NotFound(f"There is no pending invitation {invitation_id}.")
    row.status, row.answered_at = InvitationStatus.REVOKED, utcnow()
    db.session.commit()
    return row


# -- the invited person --------------------------------------------------------------------------
def _for(user: User, *columns):
    return select(*(columns or (Invitation,))).where(Invitation.email == user.email.strip().lower(), *_open()) \
        .execution_options(unscoped=True)  # invitations from every organisation


def mine(user: User) -> list[tuple[Invitation, orgs.OrgRef]]:
    """The invitations waiting for ``user``'s answer, with their organisations."""
    known = orgs.refs()
    rows = db.session.execute(_for(user).order_by(Invitation.created_at, Invitation.id)).scalars()
    return [(row, known[row.org_id]) for row in rows if row.org_id in known]


def count_mine(user: User) -> int:
    return db.session.execute(_for(user, func.count(Invitation.id))).scalar_one()


def _claim(row: Invitation, status: InvitationStatus) -> None:
    """Answer ``row`` once: a parallel answer (or a second use of the link) finds it answered."""
    won = db.session.execute(update(Invitation).where(Invitation.id == row.id, *_open())
                             .values(status=status, answered_at=utcnow())
                             .execution_options(synchronize_session=False, unscoped=True)).rowcount
    if not won:
        db.session.rollback()
        raise NotFound(GONE)


def _join(user: User, row: Invitation) -> Joined:
    if orgs.role_of(user.id, row.org_id) is None:  # a member already keeps their role
        orgs.set_member(user, row.org_id, row.role)
    user.last_org_id = row.org_id
    return Joined(row.org_id, str(row.role), row.email)


def _mine(invitation_id: int, user: User) -> Invitation:
    row = db.session.execute(_for(user).where(Invitation.id == invitation_id)).scalar_one_or_none()
    if row is None:  # someone else's, answered or expired: nothing to tell
        raise NotFound(f"There is no invitation {invitation_id} for you.")
    return row


def accept(invitation_id: int, user: User) -> Joined:
    """``user`` (signed in as the invited address) joins the organisation. Commits."""
    row = _mine(invitation_id, user)
    _claim(row, InvitationStatus.ACCEPTED)
    joined = _join(user, row)
    db.session.commit()
    return joined


def decline(invitation_id: int, user: User) -> None:
    _claim(_mine(invitation_id, user), InvitationStatus.DECLINED)
    db.session.commit()


def by_token(token: str) -> Invitation:
    """The invitation a link carries, while it may be answered (404 otherwise, whatever the reason)."""
    if not token or len(token) > 128:
        raise NotFound(GONE)
    row = db.session.execute(select(Invitation).where(Invitation.token_hash == hash_token(token), *_open())
                             .execution_options(unscoped=True)).scalar_one_or_none()
    if row is None:
        raise NotFound(GONE)
    return row


def sign_up(token: str, password: str) -> tuple[User, Joined]:
    """Someone new creates their account through the link and joins. Commits."""
    row = by_token(token)
    if users.find_by_email(row.email) is not None:
        raise Conflict(f"There is an account for {row.email} already: sign in, then accept the invitation "
                       "from your dashboard.")
    user = users.new_account(row.email, password)
    _claim(row, InvitationStatus.ACCEPTED)
    joined = _join(user, row)
    db.session.commit()
    return user, joined
