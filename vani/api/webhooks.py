"""Outbound webhooks API under /api/v1/webhooks: subscriptions and deliveries."""
from __future__ import annotations

from flask import g, jsonify

from vani import outbound as svc
from vani.api.blueprint import bp, needs
from vani.api.openapi import bodies as b
from vani.api.openapi import documented
from vani.api.openapi import outbound as o
from vani.api.openapi import queries as q
from vani.api.openapi.parsing import request_body, request_query
from vani.api.pagination import paginated_response
from vani.models import Scope, WebhookDelivery
from vani.outbound import backfill


# -- subscriptions --------------------------------------------------------------------------------
@bp.post("/webhooks/subscriptions")
@needs(Scope.SUBSCRIPTIONS)
@documented("Create a subscription (its secret is shown this once)", "subscriptions", {201: o.Subscription},
            body=b.SubscriptionIn, errors=(409,),
            description="An organisation holds at most VANI_MAX_SUBSCRIPTIONS subscriptions (100 by default): "
                        "one more answers 409 limit_reached and stores nothing.")
def create_subscription():
    sub, _ = svc.create_subscription(**request_body().given())
    return jsonify(sub.to_dict(reveal_secret=True)), 201


@bp.get("/webhooks/subscriptions")
@needs(Scope.SUBSCRIPTIONS)
@documented("List subscriptions", "subscriptions", {200: o.SubscriptionList})
def list_subscriptions():
    return jsonify({"data": [s.to_dict(full_url=False) for s in svc.list_subscriptions()]})


@bp.get("/webhooks/subscriptions/<int:sub_id>")
@needs(Scope.SUBSCRIPTIONS)
@documented("Get a subscription", "subscriptions", {200: o.Subscription})
def get_subscription(sub_id: int):
    return jsonify(svc.get_subscription(sub_id).to_dict())


@bp.patch("/webhooks/subscriptions/<int:sub_id>")
@needs(Scope.SUBSCRIPTIONS)
@documented("Change a subscription", "subscriptions", {200: o.Subscription}, body=b.SubscriptionPatch)
def update_subscription(sub_id: int):
    body = request_body(look_up=lambda: svc.get_subscription(sub_id))
    return jsonify(svc.update_subscription(sub_id, **body.given()).to_dict())


@bp.delete("/webhooks/subscriptions/<int:sub_id>")
@needs(Scope.SUBSCRIPTIONS)
@documented("Delete a subscription", "subscriptions", {204: None})
def delete_subscription(sub_id: int):
    svc.delete_subscription(sub_id)
    return "", 204


@bp.post("/webhooks/subscriptions/<int:sub_id>/rotate-secret")
@needs(Scope.SUBSCRIPTIONS)
@documented("Rotate a subscription's secret (the old one stays valid for a day)", "subscriptions", {200: o.Subscription}, body=b.SecretIn, body_required=False)
def rotate_secret(sub_id: int):
    body = request_body(look_up=lambda: svc.get_subscription(sub_id))
    sub, _ = svc.rotate_secret(sub_id, body.secret)
    return jsonify(sub.to_dict(reveal_secret=True))


@bp.post("/webhooks/subscriptions/<int:sub_id>/test")
@needs(Scope.SUBSCRIPTIONS)
@documented("Send a test event to a subscription", "subscriptions", {202: o.Delivery}, errors=(409,))
def test_subscription(sub_id: int):
    delivery = svc.send_test(sub_id)
    return jsonify(delivery.to_dict()), 202


# -- backfills ------------------------------------------------------------------------------------
@bp.post("/webhooks/subscriptions/<int:sub_id>/backfills")
@needs(Scope.SUBSCRIPTIONS)
@documented("Send every event since a time that matches the subscription (a job with progress)", "subscriptions",
            {202: o.BackfillOut}, body=b.BackfillIn, errors=(409,),
            description="Makes the deliveries the subscription lacks for the organisation's events from since "
                        "until now; events it already has a delivery for are not sent again.")
def start_backfill(sub_id: int):
    svc.get_subscription(sub_id)  # 404 before validation errors
    return jsonify(backfill.start(sub_id, request_body().since).to_dict()), 202


@bp.get("/webhooks/subscriptions/<int:sub_id>/backfills")
@needs(Scope.SUBSCRIPTIONS)
@documented("List a subscription's backfills, newest first", "subscriptions", {200: o.BackfillList})
def list_backfills(sub_id: int):
    svc.get_subscription(sub_id)
    return jsonify({"data": [b.to_dict() for b in backfill.recent(sub_id)]})


@bp.get("/webhooks/subscriptions/<int:sub_id>/backfills/<int:backfill_id>")
@needs(Scope.SUBSCRIPTIONS)
@documented("Get a backfill and its progress", "subscriptions", {200: o.BackfillOut})
def get_backfill(sub_id: int, backfill_id: int):
    return jsonify(backfill.get(sub_id, backfill_id).to_dict())


# -- deliveries -----------------------------------------------------------------------------------
def _sees_secrets() -> bool:
    """Subscriber URLs, headers and replies in full take the subscriptions scope; a token with
    only read gets them masked (``models.masking``)."""
    return g.api_token.allows(Scope.SUBSCRIPTIONS)


@bp.post("/webhooks/deliveries")
@needs(Scope.EMIT)
@documented("Send a custom event to the matching subscriptions", "deliveries", {202: o.Emitted}, body=b.CustomEvent,
            errors=(429,),
            description="An organisation emits at most VANI_EMITS_PER_MINUTE custom events a minute (600 by "
                        "default): past that the answer is 429 too_many_requests with Retry-After, and nothing "
                        "is stored.")
def emit_event():
    body = request_body()
    event, ids = svc.emit_custom(body.event, body.payload)
    return jsonify({"msg_id": event["msg_id"], "event": event["type"], "delivery_ids": ids}), 202


@bp.get("/webhooks/deliveries")
@documented("List deliveries", "deliveries", {200: o.DeliveryPage}, query=q.DeliveryQuery, description=o.MASKED)
def list_deliveries():
    query = request_query()
    stmt = svc.delivery_query(event=query.event or None, status=query.status, subscription_id=query.subscription)
    masked = not _sees_secrets()
    return paginated_response(stmt, WebhookDelivery.created_at, WebhookDelivery.id, query,
                              serialize=lambda row: row.to_dict(masked=masked))


@bp.get("/webhooks/deliveries/<int:delivery_id>")
@documented("Get a delivery with its attempts", "deliveries", {200: o.DeliveryDetail}, description=o.MASKED)
def get_delivery(delivery_id: int):
    delivery = svc.get_delivery(delivery_id)
    sub = delivery.subscription
    known = None if _sees_secrets() else (sub.known_secrets() if sub else ())
    data = delivery.to_dict(masked=known is not None)
    data["attempt_log"] = [a.to_dict(known) for a in svc.list_attempts(delivery_id)]
    return jsonify(data)


@bp.post("/webhooks/deliveries/<int:delivery_id>/retry")
@needs(Scope.SUBSCRIPTIONS)
@documented("Send a delivery again", "deliveries", {202: o.Delivery}, errors=(409,))
def retry_delivery(delivery_id: int):
    return jsonify(svc.retry_delivery(delivery_id).to_dict()), 202


@bp.post("/webhooks/deliveries/retry")
@needs(Scope.SUBSCRIPTIONS)
@documented("Send failed (or cancelled) deliveries again", "deliveries", {202: o.Requeued}, body=b.BulkRetry, errors=(404,))
def retry_deliveries():
    body = request_body()
    count = svc.retry_failed(status=body.status, since=body.since, subscription_id=body.subscription)
    return jsonify({"status": body.status, "requeued": count}), 202
