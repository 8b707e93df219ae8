"""``Idempotency-Key`` on every POST and PATCH of the token API (the store: ``vani.models.idempotency``)."""
from __future__ import annotations

from flask import Response, g, request

from vani.api.blueprint import PUBLIC_ENDPOINTS, bp
from vani.api.openapi.document import IDEMPOTENT
from vani.models import idempotency

REPLAYED = "Idempotent-Replayed"


@bp.before_request
def replay_or_claim():
    if request.method not in IDEMPOTENT or request.endpoint in PUBLIC_ENDPOINTS or "api_token" not in g:
        return None
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = idempotency.checked_key(raw)
    token = g.api_token
    print_ = idempotency.fingerprint(request.method, request.path, request.get_data(cache=True))
    outcome = idempotency.begin(token.org_id, token.id, key, print_)
    if isinstance(outcome, idempotency.Answer):
        response = Response(outcome.body, status=outcome.status, content_type=outcome.content_type)
        response.headers[REPLAYED] = "true"
        return response
    g.idempotency_claim = outcome
    return None


@bp.after_request
def remember_answer(response: Response) -> Response:
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        idempotency.finish(claim, response.status_code, response.content_type, response.get_data())
    return response


@bp.teardown_request
def release_unanswered(exc: BaseException | None) -> None:
    claim = g.pop("idempotency_claim", None)
    if claim is not None:
        idempotency.release(claim)
