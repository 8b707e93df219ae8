"""Schemathesis over every operation of the OpenAPI document, against the app on a real HTTP
server with a valid admin token and data in every table the API reads: no answer is a server
error, and every answer (status, content type, headers, body) is what the document says.

``bench/schemathesis.py`` is the full-length run (more examples, against gunicorn)."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.bookings import cal_booking, calendly  # noqa: E402
from tests.outbound.helpers import emit, subscribe  # noqa: E402
from tests.conversations.helpers import receive_kapso, use_kapso  # noqa: E402
from tests.signing import post_cal_com, post_calendly  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture
def api_schema(app, client, live_server, api_token, run_worker, httpserver):
    """The document, and a little of everything for the operations to find."""
    from vani.api.openapi.document import build
    from vani.conversations.rules import create as create_rule
    from vani.models.base import utcnow
    from vani.outbound.backfill import start as start_backfill

    use_kapso(app, httpserver)
    post_calendly(client, calendly("invitee.created", 1, start="2026-01-05T10:00:00Z"))
    post_cal_com(client, cal_booking("BOOKING_CREATED", "c1"))
    receive_kapso(client, "Hello", "wamid.1")
    run_worker()
    subscribe(httpserver.url_for("/hook"))
    emit("deal.won", {"amount": 3})
    create_rule({"name": "Hello", "trigger": "keyword", "match": "price", "reply_text": "Our prices: …"})
    start_backfill(known_ids()["sub_id"], utcnow() - timedelta(days=1))
    schema = schemathesis.openapi.from_dict(build(app))
    schema.config.update(base_url=live_server, headers={"Authorization": f"Bearer {api_token}"})
    return schema, known_ids()


def known_ids() -> dict[str, int]:
    """A seeded row of each kind a path names (ids differ between databases and runs)."""
    from sqlalchemy import func, select

    from vani.extensions import db
    from vani.models import (
        AutoReplyRule,
        Backfill,
        Conversation,
        Message,
        Prospect,
        WebhookDelivery,
        WebhookEvent,
        WebhookSubscription,
    )

    models = {"event_id": WebhookEvent, "prospect_id": Prospect, "conversation_id": Conversation,
              "message_id": Message, "delivery_id": WebhookDelivery, "sub_id": WebhookSubscription,
              "rule_id": AutoReplyRule, "backfill_id": Backfill}
    return {name: db.session.execute(select(func.min(model.id))).scalar_one() for name, model in models.items()}


def test_every_operation_answers_as_documented(api_schema):
    schema, known = api_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 45
    statuses: dict[str, set[int]] = {}
    failures: dict[str, str] = {}
    turns = itertools.count()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case):
            turn = next(turns)
            if case.path_parameters and turn % 2:  # every other case names rows that exist
                case.path_parameters.update({k: known[k] for k in case.path_parameters if k in known})
            response = case.call_and_validate(checks=CHECKS)
            statuses.setdefault(operation.label, set()).add(response.status_code)

        try:
            run()
        except Exception as exc:  # every operation runs; all failures are reported together
            failures[operation.label] = str(exc)
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert all(code < 500 for codes in statuses.values() for code in codes)
    assert set(statuses) == {op.label for op in operations}
    # The seeded rows were found, and creating requests went through.
    for label in ("GET /api/v1/events/{event_id}", "GET /api/v1/prospects/{prospect_id}",
                  "GET /api/v1/conversations/{conversation_id}", "GET /api/v1/webhooks/deliveries/{delivery_id}"):
        assert 200 in statuses[label], label
    assert 202 in statuses["POST /api/v1/webhooks/deliveries"]
