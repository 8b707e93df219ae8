"""Organisations in the dashboard: the switcher, the organisation's page (its webhook URLs) and,
for superusers, creating one."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from vani import orgs, tenancy
from vani.accounts import users
from vani.dashboard.urls import provider_urls
from vani.errors import VaniError
from vani.orgs.provider_settings import ORG_SETTINGS, configured_settings
from vani.notifications import grid
from vani.notifications.routing import CHANNELS, missing_setting, settings_for
from vani.orgs.secrets import unreadable_credentials
from vani.web.access import ORG_KEY
from vani.web.blueprint import bp


@bp.app_context_processor
def organisation_context() -> dict:
    """The organisation in force and the others this member may switch to (for the top bar)."""
    if not getattr(current_user, "is_authenticated", False) or tenancy.current() is None:
        return {"org": None, "my_orgs": []}
    mine = getattr(current_user, "orgs", [])
    org = next((o for o, _ in mine if o.id == tenancy.current()), None)
    return {"org": org, "my_orgs": [o for o, _ in mine]}


@bp.post("/orgs/switch")
def switch_org():
    slug = request.form.get("org", "")
    mine = {o.slug: o for o, _ in current_user.orgs}
    if slug not in mine:
        abort(404, "You are not a member of that organisation.")
    session[ORG_KEY] = mine[slug].id
    users.remember_org(current_user, mine[slug].id)
    flash(f"Now working in {mine[slug].name}.", "info")
    return redirect(url_for("dash.overview"), 303)


@bp.get("/organisation")
def organisation():
    org = orgs.in_force()
    cfg = settings_for(org.id)
    return render_template("orgs/settings.html", org=org, urls=provider_urls(), key_settings=ORG_SETTINGS,
                           keys_set=configured_settings(), unreadable=unreadable_credentials(org.id),
                           grid=grid.checked(cfg), grid_kinds=grid.ROWS, grid_channels=CHANNELS,
                           not_set_up={c: missing_setting(c, cfg) for c in CHANNELS})


def _superuser() -> None:
    if not current_user.is_superuser:
        abort(403, "Only superusers create organisations.")


@bp.get("/orgs/new")
def new_org():
    _superuser()
    return render_template("orgs/new.html", form={})


@bp.post("/orgs")
def create_org():
    _superuser()
    form = request.form
    try:
        org = orgs.create(form.get("name", ""), form.get("slug") or None, form.get("timezone") or "UTC",
                          admin=current_user)
    except VaniError as exc:
        flash(exc.detail, "error")
        return render_template("orgs/new.html", form=form), exc.status
    session[ORG_KEY] = org.id
    users.remember_org(current_user, org.id)
    flash(f"Created {org.name}; you are its admin. Point providers at the URLs below.", "success")
    return redirect(url_for("dash.organisation"), 303)
