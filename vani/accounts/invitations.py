"""Invitations to an organisation: an admin invites an address with a role; whoever answers holds
the invitation's link: an account signed in as the address accepts or declines there, someone new
signs up through it. Neither the admin's answer nor the link's tells a short password apart by
whether an account exists for the address."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from vani.accounts import memberships
from vani import orgs, tenancy
from vani.accounts import users
from vani.errors import Conflict, Forbidden, NotFound
from vani.extensions import db
from vani.models import Invitation, InvitationStatus, Membership, Role, User
from vani.models.base import utcnow

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
    """Invitations that may still be answered: pending, unexpired, and their inviter still an
    active admin of the organisation (an invitation never outlives its inviter's rights)."""
    inviter_is_admin = exists(select(Membership.id).join(User, User.id == Membership.user_id).where(
        Membership.user_id == Invitation.invited_by_id, Membership.org_id == Invitation.org_id,
        Membership.role == Role.ADMIN, User.active.is_(True))).correlate(Invitation)
    return (Invitation.status == InvitationStatus.PENDING, Invitation.expires_at > utcnow(), inviter_is_admin)


def invite(email: str, role: str, acting: User) -> Sent:
    """Invite ``email`` to the organisation in force with ``role`` (an earlier invitation of the
    address there is revoked: its link stops working). Commits."""
    org_id = tenancy.require()
    email = users.normalize_email(email)
    role = users.check_role(role)
    account = users.find_by_email(email)
    if account is not None and memberships.role_of(account.id, org_id) is not None:
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


# -- the invited person: always through the link -----------------------------------------------
EXISTING = "There is an account for this address: sign in as this address, then open the link again to accept."


def by_token(token: str) -> Invitation:
    """The invitation a link carries, while it may be answered (404 otherwise, whatever the reason)."""
    if not token or len(token) > 128:
        raise NotFound(GONE)
    row = db.session.execute(select(Invitation).where(Invitation.token_hash == hash_token(token), *_open())
                             .execution_options(unscoped=True)).scalar_one_or_none()
    if row is None:
        raise NotFound(GONE)
    return row


def _claim(row: Invitation, status: InvitationStatus) -> None:
    """Answer ``row`` once: a parallel answer (or a second use of the link) finds it answered."""
    won = db.session.execute(update(Invitation).where(Invitation.id == row.id, *_open())
                             .values(status=status, answered_at=utcnow())
                             .execution_options(synchronize_session=False, unscoped=True)).rowcount
    if not won:
        db.session.rollback()
        raise NotFound(GONE)


def _join(user: User, row: Invitation) -> Joined:
    if memberships.role_of(user.id, row.org_id) is None:  # a member already keeps their role
        memberships.set_member(user, row.org_id, row.role)
    user.last_org_id = row.org_id
    return Joined(row.org_id, str(row.role), row.email)


def _mine(token: str, user: User) -> Invitation:
    """The link's invitation, for ``user`` signed in as its address: the address alone is not
    enough (it is never verified), the link is the proof."""
    row = by_token(token)
    if row.email != user.email.strip().lower():
        raise Forbidden(f"This invitation is for {row.email}; you are signed in as {user.email}. "
                        "Sign out first to use it.")
    return row


def accept(token: str, user: User) -> Joined:
    """``user``, signed in as the invited address and holding the link, joins. Commits."""
    row = _mine(token, user)
    _claim(row, InvitationStatus.ACCEPTED)
    joined = _join(user, row)
    db.session.commit()
    return joined


def decline(token: str, user: User) -> None:
    _claim(_mine(token, user), InvitationStatus.DECLINED)
    db.session.commit()


def sign_up(token: str, password: str) -> tuple[User, Joined]:
    """Someone new creates their account through the link and joins. Commits. Every input is
    checked before the account is looked for, and an existing account gets one neutral answer
    (also when a parallel sign-up created it a moment ago)."""
    row = by_token(token)
    users.check_password(password)
    if users.find_by_email(row.email) is not None:
        raise Conflict(EXISTING)
    try:
        user = users.new_account(row.email, password)
    except IntegrityError:  # created meanwhile, through this link or another way
        db.session.rollback()
        raise Conflict(EXISTING) from None
    _claim(row, InvitationStatus.ACCEPTED)
    joined = _join(user, row)
    db.session.commit()
    return user, joined
