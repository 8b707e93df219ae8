"""One error vocabulary, and the app-level handlers that answer it.

Services raise ``InvalidField`` (400), ``NotFound`` (404), ``Conflict`` (409), ``TooManyRequests``
(429, with ``Retry-After``), ``ProviderUnavailable`` (502) and the rest; the
API and the webhooks answer JSON ``{"error": code, "detail": …}`` (with ``field`` for a bad
field), the dashboard an error page. Client input never becomes a bare 500.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)

MAX_ID = 2 ** 63 - 1  # ids are 64-bit: a larger number names no row (and must not reach the database)


class VaniError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str = "", field: str | None = None):
        super().__init__(f"{field}: {detail}" if field else detail)
        self.detail = detail
        self.field = field

    @property
    def reason(self) -> str:
        return self.detail

    def to_dict(self) -> dict:
        body = {"error": self.code}
        if self.field is not None:
            body["field"] = self.field
        if self.detail:
            body["detail"] = self.detail
        return body


class InvalidField(VaniError):
    """Bad input: ``field`` names what was wrong, ``reason`` says why."""

    code = "invalid_parameter"

    def __init__(self, field: str, reason: str):
        super().__init__(reason, field)


class Unauthorized(VaniError):
    status, code = 401, "unauthorized"


class Forbidden(VaniError):
    status, code = 403, "forbidden"


class NotFound(VaniError):
    status, code = 404, "not_found"


class Conflict(VaniError):
    status, code = 409, "conflict"


class LimitReached(Conflict):
    """The organisation holds as many of something as it may (delete one first)."""
    code = "limit_reached"


class ProviderUnavailable(VaniError):
    """A provider Vani asked on the caller's behalf failed or did not answer: nothing is wrong
    with the request, and asking again later may work."""
    status, code = 502, "provider_unavailable"


class TooManyRequests(VaniError):
    """Over a rate: try again after ``retry_after`` seconds (sent as ``Retry-After``)."""
    status, code = 429, "too_many_requests"

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = max(int(retry_after), 1)


def check_id(value: int, what: str) -> int:
    """``value`` when it can be a row id; NotFound otherwise."""
    if not 0 <= value <= MAX_ID:
        raise NotFound(f"no {what} {value}")
    return value


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz", "/metrics", "/metrics/state") \
        or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    @app.errorhandler(VaniError)
    def vani_error(exc: VaniError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
        if wants_json():
            return jsonify(exc.to_dict()), exc.status, headers
        message = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
        return render_template("error.html", code=exc.status, title=HTTP_STATUS_CODES.get(exc.status, "Error").capitalize(),
                               message=message), exc.status, headers

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
        log.error("database error on %s: %s", request.path, type(exc.orig).__name__ if exc.orig else exc)
        if wants_json():
            return jsonify({"error": "database_unavailable"}), 503
        return render_template("error.html", error=exc, code=503, title="Database unavailable",
                               message="The database could not be reached; try again in a moment."), 503
