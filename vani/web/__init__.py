"""The dashboard: server-rendered pages for the team, behind Flask-Login sessions.

Session cookies only: no route here reads a bearer token (the token API is separate and reads
nothing else). Every state-changing route is a POST carrying the CSRF token and checks the
user's role on the server.
"""
from __future__ import annotations

import hmac

from flask import Flask, redirect, session, url_for

from vani.web.blueprint import PASSWORD_STAMP_KEY, bp


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint, the login manager settings and template filters and globals."""

    login_manager.login_view = "dash.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):
        if not user_id.isdigit() or len(user_id) > 18:
            return None
        user = memberships.load_member(int(user_id))  # with the organisations they belong to
        if user is None or not user.active:
            return None
        # Signed in before the password last changed: that session ends.
        if not hmac.compare_digest(session.get(PASSWORD_STAMP_KEY, ""), password_stamp(user)):
            return None
        return user

    template_filters.init_app(app)
    app.register_blueprint(bp)
    app.add_url_rule("/", "index", lambda: redirect(url_for("dash.overview")))


from vani.accounts import memberships
from vani.accounts.users import password_stamp
from vani.extensions import login_manager
from vani.web import (  # noqa: E402,F401  (routes)
    access,
    auth,
    deliveries,
    events,
    invitations,
    mailboxes,
    messages,
    org_settings,
    orgs,
    people,
    processes,
    prospect_forms,
    replies,
    subscriptions,
    template_filters,
    tokens,
    users,
)
