"""Subscriptions that fit the receiver: payload filters, custom headers, pause and resume, and a
rate limit, against a real loopback receiver."""
from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import text

from tests.outbound.helpers import attempts, deliver, delivery
from vani.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

SUBS = "/api/v1/webhooks/subscriptions"
EMIT = "/api/v1/webhooks/deliveries"


def create(api, url: str, **fields) -> dict:
    r = api.post(SUBS, json={"url": url, "events": ["*"], **fields})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def emit(api, event: str, payload: dict) -> list[int]:
    r = api.post(EMIT, json={"event": event, "payload": payload})
    assert r.status_code == 202, r.get_json()
    return r.get_json()["delivery_ids"]


@pytest.mark.parametrize("condition, field", [
    ("data.provider", "filter[0]"),
    ('data.provider in "calendly"', "filter[0]"),
    ("data.provider = calendly", "filter[0]"),
    ({"path": "data..x", "op": "eq", "value": 1}, "filter[0]"),
    ({"path": "data.x", "op": "like", "value": 1}, "filter[0]"),
    ({"path": "data.x", "op": "exists", "value": "yes"}, "filter[0]"),
    ({"path": "data.x", "op": "in", "value": []}, "filter[0]"),
])
def test_filters_are_checked_when_saved(api, db, httpserver, condition, field):
    r = api.post(SUBS, json={"url": httpserver.url_for("/h"), "events": ["*"], "filter": [condition]})
    assert r.status_code == 400 and r.get_json()["field"] == field, r.get_json()
    refused = api.post(SUBS, json={"url": httpserver.url_for("/h"), "events": ["*"], "filter": "x"})
    assert refused.status_code == 400
    assert refused.json["error"] == "invalid_parameter" and refused.json["field"] == "filter"
    assert db.session.query(WebhookSubscription).count() == 0


def test_a_delivery_is_made_only_when_the_filter_matches(api, db, httpserver):
    httpserver.expect_request("/cal").respond_with_data("ok")
    httpserver.expect_request("/big").respond_with_data("ok")
    cal = create(api, httpserver.url_for("/cal"), filter=['data.provider in ["calendly", "cal_com"]'])
    assert cal["filter"] == [{"path": "data.provider", "op": "in", "value": ["calendly", "cal_com"]}]
    big = create(api, httpserver.url_for("/big"), filter=[
        {"path": "data.amount", "op": "eq", "value": 10}, "data.refund missing", "type != \"deal.lost\""])
    assert len(emit(api, "deal.won", {"provider": "calendly", "amount": 10})) == 2
    assert len(emit(api, "deal.won", {"provider": "kapso", "amount": 10.0})) == 1       # 10.0 is 10
    assert len(emit(api, "deal.won", {"provider": "calendly", "amount": True})) == 1    # true is not 1
    assert len(emit(api, "deal.won", {"provider": "x", "amount": 10, "refund": None})) == 0
    assert len(emit(api, "deal.lost", {"provider": "x", "amount": 10})) == 0
    deliver()
    got = Counter(req.path for req, _ in httpserver.log)
    assert got == {"/cal": 2, "/big": 2}
    one = api.get(f"{SUBS}/{big['id']}").get_json()
    assert one["filter"][1] == {"path": "data.refund", "op": "exists", "value": False}
    # Editing the filter changes what later events reach.
    assert api.patch(f"{SUBS}/{cal['id']}", json={"filter": []}).get_json()["filter"] == []
    assert len(emit(api, "deal.won", {"provider": "kapso"})) == 1


def test_custom_headers_are_sent_stored_encrypted_and_shown_masked(api, db, httpserver):
    httpserver.expect_request("/crm", headers={"X-Api-Key": "crm-key-0123456789", "X-Team": "emea"}) \
        .respond_with_data("ok")
    sub = create(api, httpserver.url_for("/crm"), headers={"X-Api-Key": "crm-key-0123456789", "X-Team": "emea"})
    assert sub["headers"] == {"X-Api-Key": "••••6789", "X-Team": "••••"}
    stored = db.session.execute(text("SELECT headers FROM webhook_subscriptions")).scalar_one()
    assert "crm-key" not in stored and "emea" not in stored
    [delivery_id] = emit(api, "deal.won", {"a": 1})
    deliver()
    assert delivery(delivery_id).status == DeliveryStatus.DELIVERED  # the receiver matched both headers
    request = httpserver.log[0][0]
    assert request.headers["webhook-signature"].startswith("v1,")
    logged = attempts(delivery_id)[0].request_headers
    assert logged["X-Api-Key"] == "••••6789" and "webhook-signature" in logged
    # Sending the masked value back keeps the stored one; a new value replaces it.
    kept = api.patch(f"{SUBS}/{sub['id']}", json={"headers": {"X-Api-Key": "••••6789", "X-Team": "apac"}})
    assert kept.status_code == 200
    from vani.models import WebhookSubscription

    db.session.expire_all()
    assert db.session.get(WebhookSubscription, sub["id"]).custom_headers == {
        "X-Api-Key": "crm-key-0123456789", "X-Team": "apac"}


@pytest.mark.parametrize("headers", [
    {"webhook-id": "x"}, {"Webhook-Signature": "x"}, {"Host": "evil.test"}, {"Content-Length": "1"},
    {"Transfer-Encoding": "chunked"}, {"X-A": "line\r\nbreak"}, {"X-A": ""}, {"bad name": "x"},
    {"X-A": "caf\u00e9\u2603"}, {f"X-{n}": "v" for n in range(21)},
])
def test_headers_that_would_break_signing_or_http_are_refused(api, db, httpserver, headers):
    r = api.post(SUBS, json={"url": httpserver.url_for("/h"), "events": ["*"], "headers": headers})
    assert r.status_code == 400 and r.get_json()["field"] == "headers", r.get_json()
    assert db.session.query(WebhookSubscription).count() == 0


def test_a_paused_subscription_keeps_its_deliveries_and_sends_them_all_on_resume(api, db, httpserver):
    httpserver.expect_request("/p").respond_with_data("ok")
    sub = create(api, httpserver.url_for("/p"))
    paused = api.patch(f"{SUBS}/{sub['id']}", json={"paused": True}).get_json()
    assert paused["paused"] is True and paused["paused_at"]
    ids = [emit(api, "deal.won", {"n": n})[0] for n in range(4)]
    assert deliver() == 0 and not httpserver.log
    assert {delivery(i).status for i in ids} == {DeliveryStatus.PENDING}
    assert api.patch(f"{SUBS}/{sub['id']}", json={"paused": False}).get_json()["paused"] is False
    deliver()
    # Several are in flight at once (an ``ordered`` subscription is what keeps a prospect's in order).
    assert sorted(req.get_json()["data"]["n"] for req, _ in httpserver.log) == [0, 1, 2, 3]
    assert {delivery(i).status for i in ids} == {DeliveryStatus.DELIVERED}


def test_a_rate_limit_paces_deliveries_and_drops_none(api, db, httpserver):
    seen: list[tuple[float, int]] = []

    def receive(request):
        from werkzeug import Response

        seen.append((time.time(), request.get_json()["data"]["n"]))
        return Response("ok")

    httpserver.expect_request("/slow").respond_with_handler(receive)
    sub = create(api, httpserver.url_for("/slow"), rate_limit=2)
    assert sub["rate_limit"] == 2
    ids = [emit(api, "deal.won", {"n": n})[0] for n in range(6)]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(seen) < 6:
        deliver()
        time.sleep(0.05)
    assert len(seen) == 6 and {delivery(i).status for i in ids} == {DeliveryStatus.DELIVERED}
    per_second = Counter(int(t) for t, _ in seen)
    assert max(per_second.values()) <= 2 and len(per_second) >= 3, per_second
    assert all(delivery(i).attempts == 1 for i in ids)  # waiting for a slot is not an attempt
    # Sent in order, second by second (the sends of one second are in flight together: either may land first).
    seconds = sorted({int(t) for t, _ in seen})
    sent = [sorted(n for t, n in seen if int(t) == second) for second in seconds]
    assert sorted(n for _, n in seen) == list(range(6))
    assert all(earlier[-1] < later[0] for earlier, later in zip(sent, sent[1:])), sent
    bad = api.patch(f"{SUBS}/{sub['id']}", json={"rate_limit": 0})
    assert bad.status_code == 400 and bad.get_json()["field"] == "rate_limit"
    assert db.session.query(WebhookDelivery).count() == 6


def test_the_dashboard_shows_and_edits_filter_headers_rate_and_pause(api, login, db, httpserver):
    from vani.models import WebhookSubscription

    sub = create(api, httpserver.url_for("/d"), filter=['data.provider = "calendly"'],
                 headers={"X-Api-Key": "dash-key-0123456789"}, rate_limit=5)
    client = login("admin")
    page = client.get(f"/dashboard/subscriptions/{sub['id']}").get_data(as_text=True)
    assert 'data.provider = &#34;calendly&#34;' in page and "X-Api-Key: ••••6789" in page
    assert "dash-key" not in page and "5 a second" in page
    form = {"url": httpserver.url_for("/d"), "events": "deal.*", "description": "",
            "filter": 'data.amount in [10, 20]\ndata.refund missing', "headers": "X-Api-Key: ••••6789\nX-Team: emea",
            "rate_limit": "3", "ordered": "1", "csrf_token": client.csrf}
    assert client.post(f"/dashboard/subscriptions/{sub['id']}", data=form).status_code == 303
    db.session.expire_all()
    row = db.session.get(WebhookSubscription, sub["id"])
    assert row.filter == [{"path": "data.amount", "op": "in", "value": [10, 20]},
                          {"path": "data.refund", "op": "exists", "value": False}]
    assert row.custom_headers == {"X-Api-Key": "dash-key-0123456789", "X-Team": "emea"} and row.rate_limit == 3
    assert row.ordered is True
    bad = client.post(f"/dashboard/subscriptions/{sub['id']}", data={**form, "filter": "data.amount in 10"})
    assert bad.status_code == 400 and "filter[0]" in bad.get_data(as_text=True)
    paused = client.post(f"/dashboard/subscriptions/{sub['id']}/pause", data={"paused": "1", "csrf_token": client.csrf})
    assert paused.status_code == 303
    db.session.expire_all()
    assert db.session.get(WebhookSubscription, sub["id"]).paused
    assert "Resume" in client.get(f"/dashboard/subscriptions/{sub['id']}").get_data(as_text=True)
    viewer = login("viewer")
    refused = viewer.post(f"/dashboard/subscriptions/{sub['id']}/pause",
                       data={"paused": "0", "csrf_token": viewer.csrf})
    assert refused.status_code == 403
    assert "This action needs the admin role; you are signed in as viewer." in refused.get_data(as_text=True)


def _flaky_receiver(httpserver, path: str, fail_first_for: int):
    """Answers 500 to the first attempt of the first delivery (``n`` 0) about prospect
    ``fail_first_for``, 200 otherwise."""
    from werkzeug import Response

    state = {"failed": False, "got": []}

    def handler(request):
        data = request.get_json()["data"]
        state["got"].append((data["prospect_id"], data["n"]))
        if data["prospect_id"] == fail_first_for and data["n"] == 0 and not state["failed"]:
            state["failed"] = True
            return Response("busy", status=500)
        return Response("ok")

    httpserver.expect_request(path).respond_with_handler(handler)
    return state


@pytest.mark.parametrize("ordered", [True, False])
def test_an_ordered_subscription_holds_a_prospect_s_later_deliveries_behind_its_retry(api, db, httpserver, ordered):
    from sqlalchemy import update

    state = _flaky_receiver(httpserver, "/o", fail_first_for=7)
    sub = create(api, httpserver.url_for("/o"), ordered=ordered)
    assert sub["ordered"] is ordered
    ids = [emit(api, "deal.won", {"prospect_id": p, "n": n})[0] for n, p in enumerate([7, 7, 8, 7])]
    deliver()
    # One claim's sends are in flight together: they may land in any order.
    if ordered:  # prospect 8 goes on; prospect 7's later deliveries wait behind its retry
        assert sorted(state["got"]) == [(7, 0), (8, 2)]
        assert [delivery(i).attempts for i in ids] == [1, 0, 1, 0]
    else:
        assert sorted(state["got"]) == [(7, 0), (7, 1), (7, 3), (8, 2)]
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == ids[0]).values(
        next_attempt_at=WebhookDelivery.created_at))  # the retry is due now
    db.session.commit()
    deliver()
    deliver()
    sent_for_7 = [n for p, n in state["got"] if p == 7]
    if ordered:  # one of prospect 7's at a time, in order
        assert sent_for_7 == [0, 0, 1, 3]
    else:
        assert sorted(sent_for_7[:3]) == [0, 1, 3] and sent_for_7[3:] == [0]
    assert {delivery(i).status for i in ids} == {DeliveryStatus.DELIVERED}
