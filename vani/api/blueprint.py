"""The token API's blueprint: bearer tokens only (never a session cookie), the scope each route
needs, and the checks every route shares."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, current_app, g, jsonify, request

from vani import tenancy
from vani.models import Scope
from vani.payloads.safejson import TooDeep, load_json
from vani.accounts.tokens import authenticate

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Public paths under /api/v1 that authenticate otherwise (provider webhooks, the API description).
PUBLIC_ENDPOINTS: set[str] = set()


def needs(scope: Scope) -> Callable:
    """Declare the scope a route needs (GET routes need ``read`` unless they say otherwise;
    every other method must say)."""

    def mark(view):
        view.required_scope = scope
        return view

    return mark


def scope_of(view, method: str) -> Scope:
    """The scope ``view`` needs for ``method`` (also what the API description says)."""
    declared = getattr(view, "required_scope", None)
    if declared is not None:
        return declared
    return Scope.READ if method in ("GET", "HEAD", "OPTIONS") else Scope.ADMIN


def required_scope() -> Scope:
    return scope_of(current_app.view_functions.get(request.endpoint), request.method)


@bp.before_request
def require_token():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    row = authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if row is None:
        response = jsonify({"error": "unauthorized",
                            "detail": "send Authorization: Bearer <token> (a live token: not revoked or expired)"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="vani"'
        return response
    g.api_token = row
    tenancy.enter_request(row.org_id)  # the token's organisation: all this request may see
    scope = required_scope()
    if not row.allows(scope):
        return jsonify({"error": "insufficient_scope", "scope": str(scope),
                        "detail": f"this token lacks the {scope} scope"}), 403
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
