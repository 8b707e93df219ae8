"""Memberships: who belongs to which organisation, and in which role.

A ``Membership`` row joins a user to an organisation with a ``Role``; the dashboard loads a user
with all their organisations in one query (``load_member``) on every request.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import bindparam, func, select

from vani import orgs
from vani.errors import InvalidField
from vani.extensions import db
from vani.models import Membership, Organisation, Role, User


@lru_cache(maxsize=1)
def _member_statement():
    return (select(User, Membership.org_id, Membership.role)
            .outerjoin(Membership, Membership.user_id == User.id)
            .where(User.id == bindparam("user_id"))
            .execution_options(unscoped=True))  # people and memberships: not one organisation's rows


def load_member(user_id: int) -> User | None:
    """The user with their organisations and roles (``user.orgs``: [(OrgRef, Role)], by name),
    in one query as cheap as loading the user alone: what every dashboard request needs to
    choose its organisation."""
    rows = db.session.execute(_member_statement(), {"user_id": user_id}).all()
    if not rows:
        return None
    user, known = rows[0][0], orgs.refs()
    if any(org_id is not None and org_id not in known for _, org_id, _ in rows):
        orgs.forget_cache()  # an organisation made by another process since
        known = orgs.refs()
    mine = [(known[org_id], role) for _, org_id, role in rows if org_id in known]
    user.orgs = sorted(mine, key=lambda pair: (pair[0].name, pair[0].id))
    return user


def memberships(user: User) -> list[tuple[Organisation, Role]]:
    """The organisations ``user`` belongs to, with the role in each (by name)."""
    rows = db.session.execute(select(Organisation, Membership.role).join(
        Membership, Membership.org_id == Organisation.id).where(Membership.user_id == user.id)
        .order_by(Organisation.name, Organisation.id)).all()
    return [(org, role) for org, role in rows]


def role_of(user_id: int, org_id: int) -> Role | None:
    return db.session.execute(select(Membership.role).where(
        Membership.user_id == user_id, Membership.org_id == org_id)).scalar()


def set_member(user: User, org_id: int, role: str) -> Membership:
    """Give ``user`` ``role`` in the organisation (adding them). No commit."""
    try:
        role = Role(role)
    except ValueError:
        raise InvalidField("role", f"Role must be one of {', '.join(Role)}.") from None
    row = db.session.execute(select(Membership).where(Membership.user_id == user.id,
                                                      Membership.org_id == org_id)).scalar_one_or_none()
    if row is None:
        row = Membership(user_id=user.id, org_id=org_id, role=role)
        db.session.add(row)
    row.role = role
    return row


def members(org_id: int) -> list[tuple[User, Role]]:
    return [(u, r) for u, r in db.session.execute(select(User, Membership.role).join(
        Membership, Membership.user_id == User.id).where(Membership.org_id == org_id).order_by(User.email)).all()]


def other_orgs(user_id: int, org_id: int) -> int:
    """How many organisations besides ``org_id`` the user belongs to."""
    return db.session.execute(select(func.count()).select_from(Membership).where(
        Membership.user_id == user_id, Membership.org_id != org_id)).scalar_one()
