"""The token API under /api/v1. Bearer tokens only, never a session cookie."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from vani.services.tokens import authenticate

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Public paths under /api/v1 that authenticate otherwise (provider webhooks).
PUBLIC_ENDPOINTS: set[str] = set()


@bp.before_request
def require_token():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    row = authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if row is None:
        response = jsonify({"error": "unauthorized", "detail": "send Authorization: Bearer <token>"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="vani"'
        return response
    g.api_token = row
    return None


from vani.api import calendly, conversations, events, prospects, webhooks  # noqa: E402,F401  (routes)
