"""Every blueprint, registered in one place."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from vani.api import bp as api_bp
    from vani.extensions import csrf
    from vani.health import bp as health_bp
    from vani.providers.registry import all_providers

    for provider in all_providers():
        bp = provider.make_blueprint()
        csrf.exempt(bp)  # providers sign their calls; they have no session
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # bearer-token auth, never a session cookie
    app.register_blueprint(api_bp)
    app.register_blueprint(health_bp)
    from vani.web import init_app as init_dashboard

    init_dashboard(app)  # session-auth dashboard under /dashboard
