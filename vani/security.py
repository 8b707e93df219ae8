"""Security headers on every answer: a strict CSP, no framing, no sniffing, a same-origin
referrer, no caching of pages; HSTS in production. Error pages get them too."""
from __future__ import annotations

from flask import Flask, Response, current_app, request

# Scripts, styles and connections from this site only, no inline code: a payload that slipped
# through escaping still could not run.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"


def add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cache-Control", "no-store")
    elif request.path.startswith("/dashboard/"):
        headers.setdefault("Cache-Control", "no-store")  # live fragments and streams hold private data
    if current_app.config.get("VANI_HSTS"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
