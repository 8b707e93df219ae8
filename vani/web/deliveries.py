"""Outbound deliveries: filtered list, detail with attempts, retry one, retry all failed."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from vani import outbound
from vani.dashboard import deliveries as service
from vani.errors import VaniError
from vani.extensions import db
from vani.models import DeliveryStatus, OutboundEvent, Role, WebhookDelivery
from vani.web.access import back_to, role_required
from vani.web.blueprint import bp
from vani.web.subscriptions import subscription_or_404
from vani.web.template_filters import sees_secrets


def _delivery(delivery_id: int) -> WebhookDelivery:
    return db.session.get(WebhookDelivery, delivery_id) or abort(404, f"There is no delivery {delivery_id}.")


@bp.get("/deliveries")
def deliveries():
    filters = service.DeliveryFilters.from_args(request.args)
    cursor = request.args.get("cursor") or None
    rows, next_cursor = service.list_deliveries(filters, cursor, current_app.config["VANI_DASHBOARD_PAGE_SIZE"])
    if request.args.get("partial"):
        return render_template("deliveries/_rows.html", rows=rows)
    return render_template(
        "deliveries/list.html", rows=rows, cursor=cursor, next_cursor=next_cursor, filters=filters,
        statuses=list(DeliveryStatus), types=service.event_types(), subscription_choices=service.subscription_choices(masked=not sees_secrets()),
        failed_count=service.failed_matching(filters))


@bp.get("/deliveries/<int:delivery_id>")
def delivery_detail(delivery_id: int):
    delivery = _delivery(delivery_id)
    context = dict(d=delivery, attempts=service.delivery_attempts(delivery_id),
                   event=db.session.get(OutboundEvent, delivery.outbound_event_id))
    if request.args.get("partial"):
        return render_template("deliveries/_detail_live.html", **context)
    return render_template("deliveries/detail.html", **context)


@bp.post("/deliveries/<int:delivery_id>/retry")
@role_required(Role.STAFF)
def retry_delivery(delivery_id: int):
    _delivery(delivery_id)
    try:
        outbound.retry_delivery(delivery_id)
        flash(f"Delivery {delivery_id} queued for another attempt now.", "success")
    except VaniError as exc:
        flash(f"Could not retry delivery {delivery_id}: {exc}", "error")
    return redirect(back_to(url_for("dash.delivery_detail", delivery_id=delivery_id)), 303)


@bp.route("/deliveries/retry-failed", methods=["GET", "POST"])
@role_required(Role.STAFF)
def retry_failed():
    """GET asks for confirmation with the count; POST with ``confirm=1`` re-queues them."""
    source = request.form if request.method == "POST" else request.args
    filters = service.DeliveryFilters.from_args(source)
    subscription = None
    if filters.subscription_id is not None:
        subscription = subscription_or_404(filters.subscription_id)
    if request.method == "POST" and source.get("confirm") == "1":
        done = service.retry_all_failed(filters)
        flash(f"Queued {done} failed deliver{'y' if done == 1 else 'ies'} for another attempt.", "success")
        return redirect(url_for("dash.deliveries", **filters.as_args()), 303)
    return render_template("deliveries/confirm_retry.html", filters=filters, count=service.failed_matching(filters),
                           subscription=subscription)
