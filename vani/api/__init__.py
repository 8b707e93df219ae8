"""The token API under /api/v1. Bearer tokens only, never a session cookie."""
from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, request

from vani.providers.safejson import TooDeep, load_json
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


@bp.before_request
def refuse_unusable_input():
    """What no route can use, refused once for all: a path id no BIGINT can hold (404, it names
    nothing), NUL characters in a query parameter (400, a database refuses them) and a JSON body
    nested deeper than any real one (400, the parser would run out of stack)."""
    from vani.errors import MAX_ID, InvalidField

    for key, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            abort(404, f"no {key.removesuffix('_id').replace('_', ' ')} {value}")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise InvalidField(name.replace("\x00", ""), "must not contain NUL characters")
    if request.is_json and request.content_length != 0:
        try:
            load_json(request.get_data(cache=True))
        except TooDeep as exc:
            raise InvalidField("body", f"the JSON body is {exc}") from None
        except ValueError:
            pass  # each route answers an unreadable body in its own words
    return None


from vani.api import calendly, conversations, events, prospects, webhooks  # noqa: E402,F401  (routes)
