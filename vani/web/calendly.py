"""The Calendly page: connect the organisation's Calendly (OAuth), see the account and the webhook
subscription as Calendly reports it, repair it, sync now, disconnect."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for

from vani.dashboard.urls import public_base
from vani.errors import VaniError
from vani.models import Role
from vani.providers.calendly import connection as service
from vani.providers.calendly.oauth import missing_settings
from vani.providers.calendly.sync import last_sync
from vani.registration.http import ApiError
from vani.web.access import role_required
from vani.web.blueprint import bp

PENDING_KEY = "calendly_oauth"  # session key: the sign-in started, until Calendly's redirect


def _back():
    return redirect(url_for("dash.calendly"), 303)


def _flash_report(report: service.Report) -> None:
    if report.done:
        flash("Calendly: " + "; ".join(report.done) + ".", "success")
    if report.failed:
        flash("Not done: " + "; ".join(report.failed) + ".", "error")


@bp.get("/calendly")
def calendly():
    conn = service.current()
    subscription = service.check_subscription(conn, quick=True) if conn else None
    return render_template("calendly.html", conn=conn, subscription=subscription, setup_problem=missing_settings(),
                           last_event=service.last_event(), last_sync=last_sync())


@bp.post("/calendly/connect")
@role_required(Role.ADMIN)
def calendly_connect():
    redirect_uri = current_app.config.get("CALENDLY_REDIRECT_URI") or public_base() + url_for("dash.calendly_callback")
    try:
        url, pending = service.start(redirect_uri)
    except (VaniError, ApiError) as exc:
        flash(str(exc), "error")
        return _back()
    session[PENDING_KEY] = pending
    return redirect(url, 302)


@bp.get("/calendly/callback")
@role_required(Role.ADMIN)
def calendly_callback():
    pending = session.pop(PENDING_KEY, None)  # one use, whatever the outcome
    try:
        _, report = service.complete(pending, request.args, public_base())
    except ApiError as exc:
        flash(f"Connecting Calendly did not finish: {exc}", "error")
        return _back()
    _flash_report(report)
    return _back()


@bp.post("/calendly/repair")
@role_required(Role.ADMIN)
def calendly_repair():
    try:
        _flash_report(service.repair(public_base()))
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
        _flash_report(service.disconnect())
    except VaniError as exc:
        flash(exc.detail, "error")
    return _back()
