"""An organisation's own settings, for its admins: where notifications go, the webhook signing
secret of each provider, and provider API keys. Secrets are write-only: the page says whether
one is set, never what it is."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user

from vani import orgs
from vani.conversations import templates
from vani.errors import InvalidField, VaniError
from vani.models import Role
from vani.notifications import grid
from vani.orgs.provider_settings import ORG_SETTINGS, store_setting
from vani.orgs.secrets import store_secret
from vani.providers.registry import webhook_providers
from vani.web.access import role_required
from vani.web.blueprint import bp

MIN_SECRET = 8


def _done(action, message: str):
    try:
        action()
    except VaniError as exc:
        flash(exc.detail, "error")
    else:
        flash(message, "success")
    return redirect(url_for("dash.organisation"), 303)


@bp.post("/organisation/notifications")
@role_required(Role.ADMIN)
def set_org_notifications():
    form = request.form
    slack = form.get("slack_url") or ("" if form.get("clear_slack") else None)  # empty: keep the stored one
    try:
        routes = grid.routes_from(form.getlist("route")) if form.get("grid") else form.get("routes", "")
        orgs.set_notifications(routes=routes, slack_url=slack, email_to=form.get("email_to", ""))
    except VaniError as exc:  # nothing saved: the page again, with the reason
        from vani.web.orgs import organisation

        flash(f"{exc.field}: {exc.detail}" if exc.field else exc.detail, "error")
        return organisation(), exc.status
    flash("Notification settings saved.", "success")
    return redirect(url_for("dash.organisation"), 303)


@bp.post("/organisation/notifications/test")
@role_required(Role.ADMIN)
def test_org_notification():
    channel = request.form.get("channel", "")
    try:
        answer = grid.send_test(channel, current_user.email)
    except VaniError as exc:
        flash(exc.detail, "error")
        return redirect(url_for("dash.organisation", _anchor="notifications"), 303)
    flash(f"Test notification sent through {channel}: {answer}.", "success")
    return redirect(url_for("dash.organisation", _anchor="notifications"), 303)


@bp.post("/organisation/secrets")
@role_required(Role.ADMIN)
def set_org_secret():
    provider, secret = request.form.get("provider", ""), request.form.get("secret", "")

    def store() -> None:
        if provider not in {p.name for p in webhook_providers()}:
            raise InvalidField("provider", "choose one of the providers listed")
        if len(secret) < MIN_SECRET or len(secret) > 4000:
            raise InvalidField("secret", f"use {MIN_SECRET} to 4000 characters")
        store_secret(provider, secret)
        templates.forget()

    return _done(store, f"{provider} signing secret stored; the one it replaces is accepted for 24 hours.")


@bp.post("/organisation/keys")
@role_required(Role.ADMIN)
def set_org_key():
    form = request.form
    setting = form.get("setting", "")
    provider = next((name for name, settings in ORG_SETTINGS.items() if setting in settings), "")

    def store() -> None:
        store_setting(provider, setting, form.get("value", ""))
        templates.forget()  # the approved templates may now be another account's

    return _done(store, f"{setting} stored.")


@bp.post("/organisation/messaging")
@role_required(Role.ADMIN)
def set_org_messaging():
    on = request.form.get("mark_read_on_arrival") == "on"
    orgs.set_read_on_arrival(on)
    flash("Inbound messages are now marked read as they arrive." if on
          else "Inbound messages are now marked read when someone opens the conversation.", "success")
    return redirect(url_for("dash.organisation"), 303)
