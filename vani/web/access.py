"""Who may see and do what: sign-in required everywhere, roles checked on every change."""
from __future__ import annotations

from functools import wraps

from flask import abort, request, session
from flask_login import current_user

from vani import tenancy
from vani.errors import MAX_ID
from vani.extensions import login_manager
from vani.web import bp

PUBLIC_ENDPOINTS = {"dash.login"}
# Pages for a signed-in account that belongs to no organisation yet (a new superuser's).
ORGLESS_ENDPOINTS = {"dash.logout", "dash.new_org", "dash.create_org"}
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


def _enter_organisation():
    """Work in the organisation chosen in this session (or the member's first one), with the
    member's role there. Every query of this request is then scoped to it."""
    chosen = session.get(ORG_KEY)
    mine = current_user.orgs  # loaded with the user (``orgs.load_member``)
    role = next((role for org, role in mine if org.id == chosen), None)
    if role is None:
        first = mine[:1]
        if not first:
            if request.endpoint in ORGLESS_ENDPOINTS and (current_user.is_superuser or request.endpoint == "dash.logout"):
                return
            abort(403, "Your account belongs to no organisation yet; ask an organisation's admin to add you.")
        chosen, role = first[0][0].id, first[0][1]
        session[ORG_KEY] = chosen
    tenancy.enter_request(chosen)
    current_user.current_role = role
    return


def role_required(role: str):
    """Allow the view only to users whose role is at least ``role`` (403 otherwise)."""

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
