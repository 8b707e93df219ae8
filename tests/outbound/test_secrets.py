"""Signing secrets are shown once (at creation and rotation) and never again: not in the
dashboard, the API, stored attempts or logs. Ids beyond 64 bits are 404s, not server errors."""
from __future__ import annotations

import logging
import re

import pytest

from tests.outbound.helpers import deliver, emit
from vani.extensions import db
from vani.models import DeliveryAttempt

BIG = 99999999999999999999


def _secret_in(html: str) -> str:
    match = re.search(r'id="new-secret">(whsec_[A-Za-z0-9+/=]+)<', html)
    assert match, "the new secret is shown once"
    return match.group(1)


def _everywhere(client, api, sub_id: int, delivery_id: int) -> str:
    """Every page and API answer that shows the subscription or its deliveries, concatenated."""
    pages = [client.get(p).get_data(as_text=True) for p in (
        "/dashboard/subscriptions", f"/dashboard/subscriptions/{sub_id}", "/dashboard/deliveries",
        f"/dashboard/deliveries/{delivery_id}", "/dashboard/")]
    answers = [api.get(p).get_data(as_text=True) for p in (
        "/api/v1/webhooks/subscriptions", f"/api/v1/webhooks/subscriptions/{sub_id}",
        "/api/v1/webhooks/deliveries", f"/api/v1/webhooks/deliveries/{delivery_id}")]
    return "\n".join(pages + answers)


def test_secret_shown_once_then_masked_everywhere(login, api, httpserver, caplog):
    httpserver.expect_request("/hook").respond_with_data("ok")
    client = login("admin")
    r = client.post("/dashboard/subscriptions", data={"url": httpserver.url_for("/hook"), "events": "*",
                                                      "csrf_token": client.csrf})
    assert r.status_code == 201
    secret = _secret_in(r.get_data(as_text=True))
    sub_id = int(re.search(r"/dashboard/subscriptions/(\d+)/rotate", r.get_data(as_text=True)).group(1))
    with caplog.at_level(logging.DEBUG):
        [delivery_id] = emit()
        deliver()
    core = secret[len("whsec_"):]
    assert core not in caplog.text
    [attempt] = db.session.query(DeliveryAttempt).filter_by(delivery_id=delivery_id).all()
    assert attempt.success and core not in repr(attempt.request_headers)
    shown = _everywhere(client, api, sub_id, delivery_id)
    assert core not in shown and core[:16] not in shown
    assert secret[:10] + "…" in shown  # the masked form is there to recognise it

    r = client.post(f"/dashboard/subscriptions/{sub_id}/rotate", data={"csrf_token": client.csrf})
    new = _secret_in(r.get_data(as_text=True))
    assert new != secret and secret[len("whsec_"):] not in r.get_data(as_text=True)
    shown = _everywhere(client, api, sub_id, delivery_id)
    for value in (secret, new):
        assert value[len("whsec_"):][:16] not in shown


@pytest.mark.parametrize("method, path", [
    ("get", f"/api/v1/webhooks/subscriptions/{BIG}"), ("patch", f"/api/v1/webhooks/subscriptions/{BIG}"),
    ("delete", f"/api/v1/webhooks/subscriptions/{BIG}"), ("post", f"/api/v1/webhooks/subscriptions/{BIG}/test"),
    ("post", f"/api/v1/webhooks/subscriptions/{BIG}/rotate-secret"), ("get", f"/api/v1/webhooks/deliveries/{BIG}"),
    ("post", f"/api/v1/webhooks/deliveries/{BIG}/retry"),
])
def test_api_ids_beyond_64_bits_are_404(api, method, path):
    kwargs = {"json": {"description": "x"}} if method == "patch" else {}
    r = getattr(api, method)(path, **kwargs)
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"


def test_api_out_of_range_numbers_are_400_or_404(api):
    r = api.get(f"/api/v1/webhooks/deliveries?subscription={BIG}")
    assert r.status_code == 400 and r.get_json()["field"] == "subscription"
    r = api.post("/api/v1/webhooks/deliveries/retry", json={"subscription": BIG})
    assert r.status_code == 404


def test_url_credentials_and_query_are_masked_for_viewers_and_in_listings(login, api, app, monkeypatch):
    import socket

    from tests.outbound.helpers import subscribe

    secret_url = "https://bot:hunter2@crm.example.com/hook?api_key=abc123"
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real("93.184.216.34", *a, **k))
    sub, _ = subscribe(secret_url)
    monkeypatch.undo()
    listed = api.get("/api/v1/webhooks/subscriptions").json["data"][0]["url"]
    assert listed == "https://•••@crm.example.com/hook?api_key=•••"
    assert api.get(f"/api/v1/webhooks/subscriptions/{sub.id}").json["url"] == secret_url  # its own page: whole
    viewer = login("viewer")
    for page in ("/dashboard/subscriptions", f"/dashboard/subscriptions/{sub.id}", "/dashboard/"):
        html = viewer.get(page).get_data(as_text=True)
        assert "hunter2" not in html and "abc123" not in html, page
    staff = login("staff")  # whole URLs are for admins, who manage subscriptions
    assert "hunter2" not in staff.get(f"/dashboard/subscriptions/{sub.id}").get_data(as_text=True)
    assert "hunter2" in login("admin").get(f"/dashboard/subscriptions/{sub.id}").get_data(as_text=True)
