"""Who may see and do what: sign-in required everywhere, roles checked on every change."""
from __future__ import annotations

from functools import wraps

from flask import abort, request, session
from flask_login import current_user

from vani import tenancy
from vani.errors import MAX_ID
from vani.extensions import login_manager
from vani.models import Role
from vani.web.blueprint import bp

PUBLIC_ENDPOINTS = {"dash.login", "dash.join"}
# Pages for a signed-in account that belongs to no organisation yet: answering an invitation (its
# link), and for a new superuser creating one.
ORGLESS_ENDPOINTS = {"dash.logout", "dash.invitations", "dash.accept_invitation", "dash.decline_invitation"}
SUPERUSER_ORGLESS_ENDPOINTS = {"dash.new_org", "dash.create_org"}
ORG_KEY = "org"  # session key: the organisation the user works in


@bp.before_request
def require_login():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:  # no row can have it (ids are 64-bit)
            abort(404, f"There is no record {value}.")
    return _enter_organisation()


def _role_in(mine, org_id: int | None) -> Role | None:
    return next((role for org, role in mine if org.id == org_id), None)


def _enter_organisation():
    """Work in the organisation chosen in this session (else the one the member used last, else
    their first by name), with the member's role there. Every query of this request is then
    scoped to it."""
    chosen = session.get(ORG_KEY)
    mine = current_user.orgs  # loaded with the user (``memberships.load_member``)
    role = _role_in(mine, chosen)
    if role is None:
        chosen = current_user.last_org_id
        role = _role_in(mine, chosen)
        if role is None:
            if not mine:
                return _without_organisation()
            chosen, role = mine[0][0].id, mine[0][1]
        session[ORG_KEY] = chosen
    tenancy.enter_request(chosen)
    current_user.current_role = role
    return None


def _without_organisation():
    """An account in no organisation: it answers invitations through their links (and a superuser
    may create an organisation)."""
    if request.endpoint in ORGLESS_ENDPOINTS or (request.endpoint in SUPERUSER_ORGLESS_ENDPOINTS
                                                 and current_user.is_superuser):
        return None
    abort(403, "Your account belongs to no organisation yet: open the invitation link an organisation's admin "
               "sent you, or ask one to invite you.")


def role_required(role: Role):
    """Allow the view only to users whose role is at least ``role`` (403 otherwise). Only a ``Role``
    is accepted, so a misspelt role fails when the view is defined rather than on a request."""
    if not isinstance(role, Role):
        raise TypeError(f"role_required takes a Role, not {role!r}.")

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(role):
                abort(403, f"This action needs the {role} role; you are signed in as {current_user.role}.")
            return view(*args, **kwargs)

        wrapped.required_role = role
        return wrapped

    return decorate


def back_to(default: str) -> str:
    """The form's ``back`` field when it is a dashboard path (never another site), else ``default``."""
    back = request.form.get("back") or ""
    if back.startswith(bp.url_prefix + "/") and "//" not in back and "\\" not in back:
        return back
    return default
