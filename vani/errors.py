"""Errors: JSON under /api and for webhooks, never a bare 500 for client input."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz") \
        or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            code = (exc.name or "error").lower().replace(" ", "_")
            response = jsonify({"error": code, "detail": exc.description})
            response.status_code = exc.code or 500
            return response
        return render_template("error.html", error=exc), exc.code

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        from vani.extensions import db

        db.session.rollback()
        log.error("database error on %s: %s", request.path, exc)
        if wants_json():
            return jsonify({"error": "database_unavailable"}), 503
        return render_template("error.html", error=exc, code=503), 503
