"""Members of an organisation, for its admins: change role, remove; enable/disable and reset the
password of accounts that belong to this organisation alone. New accounts, for invitations and
the command line."""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import delete, func, select

from vani.accounts import memberships
from vani import orgs, tenancy
from vani.errors import Conflict, InvalidField, NotFound
from vani.extensions import db
from vani.models import ROLES, Membership, Role, User
from vani.models.base import utcnow

MIN_PASSWORD = 8


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise InvalidField("email", "Enter a valid email address.")
    return email


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidField("password", f"Passwords need at least {MIN_PASSWORD} characters.")


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidField("role", f"Role must be one of {', '.join(ROLES)}.")
    return Role(role)


def find_by_email(email: str) -> User | None:
    email = (email or "").strip().lower()
    return db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def member(user_id: int) -> User:
    """A member of the organisation in force (404 for anyone else: other organisations' people
    are not revealed)."""
    user = db.session.get(User, user_id)
    role = memberships.role_of(user_id, tenancy.require()) if user else None
    if role is None:
        raise NotFound(f"There is no user {user_id}.")
    user.member_role = role
    return user


def list_members() -> list[User]:
    found = []
    for user, role in memberships.members(tenancy.require()):
        user.member_role = role
        found.append(user)
    return found


def new_account(email: str, password: str) -> User:
    """A new account (no organisation yet); its email and password checked. No commit."""
    email = normalize_email(email)
    check_password(password)
    if find_by_email(email) is not None:
        raise Conflict(f"There is an account for {email} already.")
    user = User(email=email, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def create_user(email: str, password: str | None, role: str, org_id: int,
                superuser: bool = False) -> tuple[User, bool]:
    """The operator's direct way (the command line): give ``email`` ``role`` in the organisation,
    creating the account (with ``password``) when there is none, else setting its password when
    one is given. Returns (user, created). Commits."""
    email = normalize_email(email)
    role = check_role(role)
    user = find_by_email(email)
    created = user is None
    if created:
        user = new_account(email, password or "")
    elif password is not None:
        check_password(password)
        user.set_password(password)
    user.is_superuser = user.is_superuser or superuser
    memberships.set_member(user, org_id, role)
    db.session.commit()
    user.member_role = role
    return user, created


def _active_admins(org_id: int) -> int:
    return db.session.execute(select(func.count()).select_from(Membership).join(User, User.id == Membership.user_id)
                              .where(Membership.org_id == org_id, Membership.role == Role.ADMIN,
                                     User.active.is_(True))).scalar_one()


def _keep_an_admin(user: User, acting: User, org_id: int) -> None:
    if user.member_role != Role.ADMIN or not user.active:
        return
    if user.id == acting.id:
        raise Conflict("You cannot remove your own admin access; ask another admin.")
    if _active_admins(org_id) <= 1:
        raise Conflict("This is the last active admin.")


def _only_here(user: User, org_id: int, what: str) -> None:
    """Account-wide changes are for accounts that belong to this organisation alone."""
    if memberships.other_orgs(user.id, org_id):
        raise Conflict(f"{user.email} also belongs to other organisations, so only they can {what}; "
                       "remove them from this organisation instead.")


def update_user(user: User, acting: User, role: str | None = None, active: bool | None = None) -> None:
    """Change the member's role here and/or (for accounts only this organisation has) the
    active flag; admins cannot lock themselves out or remove the last admin."""
    org_id = tenancy.require()
    new_role = check_role(role) if role is not None else None
    if (new_role is not None and new_role != Role.ADMIN) or active is False:
        _keep_an_admin(user, acting, org_id)
    if active is not None and active != user.active:
        _only_here(user, org_id, "enable or disable the account")
        user.active = active
    if new_role is not None:
        memberships.set_member(user, org_id, new_role)
    db.session.commit()


def remove_member(user: User, acting: User) -> None:
    org_id = tenancy.require()
    _keep_an_admin(user, acting, org_id)
    db.session.execute(delete(Membership).where(Membership.user_id == user.id, Membership.org_id == org_id))
    db.session.commit()


def reset_password(user: User, password: str) -> None:
    check_password(password)
    _only_here(user, tenancy.require(), "change the password")
    user.set_password(password)
    db.session.commit()


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    db.session.commit()


def password_stamp(user: User) -> str:
    """A short keyed digest of the password hash, kept in the session at sign-in: a password
    change alters it, which signs out every other session of that user."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def remember_org(user: User, org_id: int) -> None:
    """Where ``user`` works now: their next sign-in lands there."""
    if user.last_org_id != org_id:
        user.last_org_id = org_id
        db.session.commit()
