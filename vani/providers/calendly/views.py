"""The Calendly page: connect the organisation's Calendly (OAuth), see the account and the webhook
subscription as Calendly reports it, repair it, sync now, disconnect."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from vani.dashboard.urls import public_base
from vani.errors import VaniError
from vani.models import Role
from vani.plugins.oauth import missing_settings
from vani.providers.calendly import connection as service
from vani.providers.calendly.connection import CONNECTOR
from vani.providers.calendly.sync import last_sync
from vani.registration.http import ApiError
from vani.web import connecting
from vani.web.access import role_required
from vani.web.blueprint import bp


def _back():
    return redirect(url_for("dash.calendly"), 303)


@bp.get("/calendly")
def calendly():
    conn = service.current()
    subscription = service.check_subscription(conn, quick=True) if conn else None
    return render_template("calendly.html", conn=conn, subscription=subscription,
                           setup_problem=missing_settings(CONNECTOR), last_event=service.last_event(),
                           last_sync=last_sync())


@bp.post("/calendly/connect")
@role_required(Role.ADMIN)
def calendly_connect():
    return connecting.begin(CONNECTOR, "CALENDLY_REDIRECT_URI", "dash.calendly_callback", _back,
                            refused=(VaniError, ApiError))


@bp.get("/calendly/callback")
@role_required(Role.ADMIN)
def calendly_callback():
    return connecting.finish(CONNECTOR, _back, ApiError, base_url=public_base())


@bp.post("/calendly/repair")
@role_required(Role.ADMIN)
def calendly_repair():
    try:
        connecting.flash_report(service.repair(public_base()))
    except (VaniError, ApiError) as exc:
        flash(f"The webhook subscription was not repaired: {exc}", "error")
    return _back()


@bp.post("/calendly/sync")
@role_required(Role.STAFF)
def calendly_sync_now():
    try:
        result = service.sync()
    except ApiError as exc:
        flash(f"Sync failed: {exc}", "error")
        return _back()
    flash(f"Synced {result.scheduled_events} scheduled event(s) and {result.invitees} invitee(s): "
          f"{result.stored} new event(s), {result.already_known} already known, {result.failed} failed.", "success")
    return _back()


@bp.post("/calendly/disconnect")
@role_required(Role.ADMIN)
def calendly_disconnect():
    try:
        connecting.flash_report(service.disconnect())
    except VaniError as exc:
        flash(exc.detail, "error")
    return _back()
