"""Outbound webhook subscriptions: list with health, create, edit, enable/disable, rotate, test."""
from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for

from vani import outbound
from vani.dashboard.deliveries import health_label
from vani.errors import VaniError
from vani.models import Role, SignatureScheme
from vani.models.base import as_utc
from vani.models.masking import conceal
from vani.outbound import backfill, shaping
from vani.web.access import role_required
from vani.web.blueprint import bp
from vani.web.template_filters import sees_secrets


def subscription_or_404(sub_id: int):
    """The subscription, or a 404 page."""
    try:
        return outbound.get_subscription(sub_id)
    except outbound.NotFound:
        abort(404, f"There is no subscription {sub_id}.")


def _events_field(raw: str | None) -> list[str]:
    """"*", or event types separated by commas, spaces or new lines."""
    return [part for part in (raw or "").replace(",", " ").split() if part]


def _filter_field(raw: str | None) -> list[str]:
    """One condition per line, as text (``data.provider in ["calendly"]``)."""
    return [line.strip() for line in (raw or "").splitlines() if line.strip()]


def _headers_field(raw: str | None) -> dict[str, str]:
    """``Name: value`` per line (a masked value as shown keeps the stored one)."""
    out: dict[str, str] = {}
    for line in (raw or "").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise outbound.InvalidField("headers", f"write Name: value on each line ({line.strip()[:40]!r})")
        out[name.strip()] = value.strip()
    return out


def _rate_field(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise outbound.InvalidField("rate_limit", "deliveries per second: a whole number, or empty for no limit")
    return int(raw)


def _detail(sub, status: int = 200, secret: str | None = None, form=None):
    counts = outbound.delivery_counts([sub.id]).get(sub.id, {})
    headers = shaping.masked(sub.custom_headers) if sees_secrets() else conceal("headers", sub.custom_headers)
    return render_template("subscriptions/detail.html", s=sub, counts=counts, secret=secret,
                           health=health_label(sub), form=form, conditions=[shaping.describe(c) for c in sub.filter or []],
                           headers=headers, backfills=backfill.recent(sub.id, 5), schemes=SignatureScheme), status


def _list(form=None, status: int = 200):
    subs = outbound.list_subscriptions()
    counts = outbound.delivery_counts([s.id for s in subs]) if subs else {}
    return render_template("subscriptions/list.html", subs=subs, counts=counts, health=health_label,
                           form=form or {}, test_event=outbound.TEST_EVENT, schemes=SignatureScheme), status


@bp.get("/subscriptions")
def subscriptions():
    return _list()


@bp.post("/subscriptions")
@role_required(Role.ADMIN)
def create_subscription():
    form = request.form
    try:
        sub, secret = outbound.create_subscription(form.get("url", "").strip(), _events_field(form.get("events")),
                                                   form.get("description") or None,
                                                   signature=form.get("signature") or None)
    except (outbound.InvalidField, outbound.Conflict) as exc:
        flash(str(exc), "error")
        return _list(form, 400 if isinstance(exc, outbound.InvalidField) else 409)
    flash("Subscription created. Copy the signing secret now: it is not shown again.", "secret")
    return _detail(sub, 201, secret=secret)


@bp.get("/subscriptions/<int:sub_id>")
def subscription_detail(sub_id: int):
    return _detail(subscription_or_404(sub_id))


@bp.post("/subscriptions/<int:sub_id>")
@role_required(Role.ADMIN)
def update_subscription(sub_id: int):
    sub = subscription_or_404(sub_id)
    form = request.form
    signed = {"signature": form["signature"]} if form.get("signature") else {}
    try:
        outbound.update_subscription(sub.id, **signed, url=form.get("url", "").strip(),
                                     events=_events_field(form.get("events")),
                                     description=form.get("description") or None,
                                     filter=_filter_field(form.get("filter")),
                                     headers=_headers_field(form.get("headers")),
                                     rate_limit=_rate_field(form.get("rate_limit")),
                                     ordered=form.get("ordered") == "1")
    except outbound.InvalidField as exc:
        flash(str(exc), "error")
        return _detail(subscription_or_404(sub_id), 400, form=form)
    flash("Subscription saved.", "success")
    return redirect(url_for("dash.subscription_detail", sub_id=sub_id), 303)


@bp.post("/subscriptions/<int:sub_id>/active")
@role_required(Role.ADMIN)
def set_subscription_active(sub_id: int):
    subscription_or_404(sub_id)
    active = request.form.get("active") == "1"
    outbound.update_subscription(sub_id, active=active)
    flash("Subscription enabled." if active else "Subscription disabled; its waiting deliveries were cancelled.",
          "success")
    return redirect(url_for("dash.subscription_detail", sub_id=sub_id), 303)


@bp.post("/subscriptions/<int:sub_id>/pause")
@role_required(Role.ADMIN)
def pause_subscription(sub_id: int):
    subscription_or_404(sub_id)
    paused = request.form.get("paused") == "1"
    outbound.update_subscription(sub_id, paused=paused)
    flash("Paused: new deliveries wait until you resume." if paused else "Resumed: waiting deliveries are being sent, "
          "oldest first.", "success")
    return redirect(url_for("dash.subscription_detail", sub_id=sub_id), 303)


@bp.post("/subscriptions/<int:sub_id>/backfill")
@role_required(Role.ADMIN)
def backfill_subscription(sub_id: int):
    subscription_or_404(sub_id)
    raw = (request.form.get("since") or "").strip()
    try:
        since = as_utc(datetime.fromisoformat(raw)) if raw else None
    except ValueError:
        since = None
    try:
        if since is None:
            raise outbound.InvalidField("since", "give the time to start from (UTC)")
        started = backfill.start(sub_id, since)
    except (outbound.InvalidField, outbound.Conflict) as exc:
        flash(str(exc), "error")
        return _detail(subscription_or_404(sub_id), 400 if isinstance(exc, outbound.InvalidField) else 409)
    flash(f"Backfill started: {started.total} event(s) since {raw} UTC to look at.", "success")
    return redirect(url_for("dash.subscription_detail", sub_id=sub_id), 303)


@bp.post("/subscriptions/<int:sub_id>/rotate")
@role_required(Role.ADMIN)
def rotate_subscription_secret(sub_id: int):
    subscription_or_404(sub_id)
    sub, secret = outbound.rotate_secret(sub_id)
    flash("New signing secret below; the previous one keeps signing for 24 hours. Copy it now.", "secret")
    return _detail(sub, secret=secret)


@bp.post("/subscriptions/<int:sub_id>/test")
@role_required(Role.STAFF)
def test_subscription(sub_id: int):
    subscription_or_404(sub_id)
    try:
        delivery = outbound.send_test(sub_id)
    except VaniError as exc:
        flash(f"Could not send a test event: {exc}", "error")
        return redirect(url_for("dash.subscription_detail", sub_id=sub_id), 303)
    flash(f"Test event queued as delivery {delivery.id}.", "success")
    return redirect(url_for("dash.delivery_detail", delivery_id=delivery.id), 303)


@bp.post("/subscriptions/<int:sub_id>/delete")
@role_required(Role.ADMIN)
def delete_subscription(sub_id: int):
    sub = subscription_or_404(sub_id)
    if request.form.get("confirm") != "1":
        abort(400, "Tick the confirmation box to delete a subscription.")
    url = sub.url
    outbound.delete_subscription(sub_id)
    flash(f"Deleted the subscription to {url} and its delivery history.", "success")
    return redirect(url_for("dash.subscriptions"), 303)
