"""What a subscriber's URL, headers and replies show depends on who asks: a token without the
subscriptions scope and a dashboard member below admin see them masked, in deliveries, attempt
logs, errors and subscription pages; a subscriptions token and an admin see them whole."""
from __future__ import annotations

import pytest

from tests.outbound_support import deliver, emit, subscribe
from vani.services.tokens import create_token

PASSWORD = ":pw@"  # as it appears in the URL (two letters alone may occur in any random text)
SECRETS = ("SECRET123", "SECRETHEADER")


@pytest.fixture
def delivered(httpserver):
    """A delivery to ``http://bot:pw@localhost:<port>/hook?api_key=SECRET123`` with the header
    ``X-Api-Key: SECRETHEADER``, whose receiver redirected (quoting the key) and echoed it back."""
    httpserver.expect_request("/hook").respond_with_data(
        "unknown key api_key=SECRET123 from SECRETHEADER", status=302,
        headers={"Location": "https://crm.example/moved?api_key=SECRET123"})
    url = httpserver.url_for("/hook?api_key=SECRET123").replace("http://", "http://bot:pw@")
    sub, _ = subscribe(url, headers={"X-Api-Key": "SECRETHEADER"})
    [delivery_id] = emit()
    assert deliver() == 1
    return sub, delivery_id


def bearer(client, scopes: list[str]):
    token = create_token("-".join(scopes), scopes)[1]
    return lambda path: client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_read_token_sees_deliveries_without_the_subscribers_secrets(client, delivered):
    sub, delivery_id = delivered
    reader = bearer(client, ["read"])
    r = reader(f"/api/v1/webhooks/deliveries/{delivery_id}")
    assert r.status_code == 200
    shown = r.get_data(as_text=True)
    for secret in (PASSWORD, *SECRETS, "ADER"):  # not even the tail the subscriptions scope sees
        assert secret not in shown, secret
    [attempt] = r.json["attempt_log"]
    assert attempt["url"].endswith("/hook?api_key=•••") and "bot:•••@" in attempt["url"]
    assert attempt["request_headers"]["X-Api-Key"] == "•••" and attempt["request_headers"]["webhook-id"]
    assert attempt["response_body"] == "•••" and attempt["status_code"] == 302
    assert attempt["error"] == r.json["last_error"] == "HTTP 302: redirect not followed"
    listed = reader("/api/v1/webhooks/deliveries")
    assert listed.json["data"][0]["id"] == delivery_id
    assert all(secret not in listed.get_data(as_text=True) for secret in (PASSWORD, *SECRETS))


def test_a_subscriptions_token_sees_them_whole(client, delivered):
    sub, delivery_id = delivered
    r = bearer(client, ["read", "subscriptions"])(f"/api/v1/webhooks/deliveries/{delivery_id}")
    [attempt] = r.json["attempt_log"]
    assert attempt["url"] == sub.url and PASSWORD in attempt["url"]
    assert attempt["request_headers"]["X-Api-Key"] == "••••ADER"  # as the attempt log keeps it
    assert attempt["response_body"] == "unknown key api_key=SECRET123 from SECRETHEADER"
    assert r.json["last_error"] == "HTTP 302: redirect not followed"  # the peer's Location is never copied


@pytest.mark.parametrize("role", ["viewer", "staff"])
def test_dashboard_members_below_admin_see_deliveries_masked(login, delivered, role):
    sub, delivery_id = delivered
    member = login(role)
    for page in (f"/dashboard/deliveries/{delivery_id}", f"/dashboard/deliveries/{delivery_id}?partial=1",
                 "/dashboard/deliveries", f"/dashboard/subscriptions/{sub.id}", "/dashboard/subscriptions"):
        html = member.get(page).get_data(as_text=True)
        for secret in (PASSWORD, *SECRETS, "ADER"):
            assert secret not in html, (page, secret)
    detail = member.get(f"/dashboard/deliveries/{delivery_id}").get_data(as_text=True)
    assert "api_key=•••" in detail and "redirect not followed" in detail
    assert "Hidden: a reply may quote what it was sent" in detail


def test_an_admin_sees_deliveries_whole(login, delivered):
    sub, delivery_id = delivered
    html = login("admin").get(f"/dashboard/deliveries/{delivery_id}").get_data(as_text=True)
    assert "http://bot:pw@" in html and "/hook?api_key=SECRET123" in html
    assert "unknown key api_key=SECRET123 from SECRETHEADER" in html and "••••ADER" in html
    assert "redirect not followed" in html and "crm.example/moved" not in html


def test_masking_hides_values_and_keeps_names():
    from vani.models.masking import conceal, mask_text, mask_url, secrets_in

    assert mask_url("https://bot:pw@crm.example/hook?api_key=SECRET123&x&team=emea#frag") == \
        "https://bot:•••@crm.example/hook?api_key=•••&•••&team=•••"
    assert mask_url("https://crm.example/hook") == "https://crm.example/hook"
    known = secrets_in("https://bot:pw@crm.example/hook?api_key=SECRET%2F1", {"X-Api-Key": "SECRETHEADER"})
    assert {"SECRETHEADER", "SECRET/1", "SECRET%2F1", "pw"} <= set(known)
    text = "Max retries exceeded with url: /hook?api_key=SECRET%2F1 (SECRETHEADER, https://bot:pw@crm.example/)"
    assert mask_text(text, known) == "Max retries exceeded with url: /hook?api_key=••• (•••, https://bot:•••@crm.example/)"
    assert conceal("status_code", 302) == 302 and conceal("response_body", "") == ""
