"""Every blueprint, registered in one place, with the providers' own pages on them (a provider's
views live in its package and add their routes to the API's or the dashboard's blueprint)."""
from __future__ import annotations

from flask import Flask

from vani.api import bp as api_bp
from vani.extensions import csrf
from vani.health import bp as health_bp
from vani.inbound import Sessions
from vani.inbound import bp as inbound_bp
from vani.metrics_view import bp as metrics_bp
from vani.providers.calendly import api_views, views  # noqa: F401  (routes, before the blueprints register)
from vani.providers.gmail import views as gmail_views  # noqa: F401  (routes)
from vani.web import init_app as init_dashboard


def register(app: Flask) -> None:
    csrf.exempt(inbound_bp)  # providers sign their calls; they have no session
    app.session_interface = Sessions()
    app.register_blueprint(inbound_bp)
    csrf.exempt(api_bp)  # bearer-token auth, never a session cookie
    app.register_blueprint(api_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    init_dashboard(app)  # session-auth dashboard under /dashboard
