"""The dashboard's side of "Connect <provider>" (``vani.plugins.oauth``), for every provider's
pages: start the sign-in (the pending sign-in kept in the session, one use), finish it on the
provider's redirect, and say what connecting or disconnecting did."""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, redirect, request, session, url_for
from werkzeug import Response

from vani.dashboard.urls import public_base
from vani.errors import VaniError
from vani.plugins import oauth


def begin(connector: oauth.Connector, redirect_setting: str, callback: str, back: Callable[[], Response],
          refused: tuple[type[Exception], ...] = (VaniError,)) -> Response:
    """Send the admin to the provider's sign-in. The redirect URI is ``redirect_setting`` when set
    (it must match the one registered at the provider), else this install's ``callback`` page."""
    redirect_uri = current_app.config.get(redirect_setting) or public_base() + url_for(callback)
    try:
        url, pending = oauth.start(connector, redirect_uri)
    except refused as exc:
        flash(str(exc), "error")
        return back()
    session[connector.pending_key] = pending
    return redirect(url, 302)


def finish(connector: oauth.Connector, back: Callable[[], Response], failed: type[Exception],
           **context) -> Response:
    """The provider's redirect: finish the sign-in it answers (``failed``: the provider's error,
    shown; a sign-in that does not match raises and is answered as an error page)."""
    pending = session.pop(connector.pending_key, None)  # one use, whatever the outcome
    try:
        report = oauth.complete(connector, pending, request.args, **context)
    except failed as exc:
        flash(f"Connecting {connector.title} did not finish: {exc}", "error")
        return back()
    flash_report(report)
    return back()


def flash_report(report: oauth.Report) -> None:
    if report.done:
        flash(f"{report.subject}: " + "; ".join(report.done) + ".", "success")
    if report.failed:
        flash("Not done: " + "; ".join(report.failed) + ".", "error")
