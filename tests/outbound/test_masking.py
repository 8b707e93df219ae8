"""What a subscriber's URL, headers and replies show depends on who asks: a token without the
subscriptions scope and a dashboard member below admin see them masked, in deliveries, attempt
logs, errors and subscription pages; a subscriptions token and an admin see them whole."""
from __future__ import annotations

import pytest

from tests.outbound.helpers import deliver, emit, subscribe
from vani.accounts.tokens import create_token
from vani.extensions import db

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
    assert attempt["url"].endswith("/hook?api_key=•••") and "//•••@localhost" in attempt["url"]
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
        "https://•••@crm.example/hook?api_key=•••&•••&team=•••"
    assert mask_url("https://crm.example/hook") == "https://crm.example/hook"
    known = secrets_in("https://bot:pw@crm.example/hook?api_key=SECRET%2F1", {"X-Api-Key": "SECRETHEADER"})
    assert {"SECRETHEADER", "SECRET/1", "SECRET%2F1", "pw"} <= set(known)
    text = "Max retries exceeded with url: /hook?api_key=SECRET%2F1 (SECRETHEADER, https://bot:pw@crm.example/)"
    assert mask_text(text, known) == "Max retries exceeded with url: /hook?api_key=••• (•••, https://•••@crm.example/)"
    assert conceal("status_code", 302) == 302 and conceal("response_body", "") == ""


SLACK = "https://hooks.slack.com/services/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"
DISCORD = "https://discord.com/api/webhooks/1234567890123456789/tokenSECRET"
TOKEN_AS_USER = "https://sk_live_abc123@hooks.example.com/hooks/vani"
KEYS = ("aB3dE5fG7hJ9kL1mN3pQ5rS7", "T0A1B2C3D", "1234567890123456789", "tokenSECRET", "sk_live_abc123")


def test_masking_hides_a_user_name_alone_and_path_segments_that_are_not_words():
    from vani.models.masking import mask_text, mask_url, secrets_in

    assert mask_url("https://sk_live_abc123@hooks.example.com/x") == "https://•••@hooks.example.com/x"
    assert mask_url(SLACK) == "https://hooks.slack.com/services/•••/•••/•••"
    assert mask_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET") == \
        "https://hooks.slack.com/services/•••/•••/•••"
    assert mask_url(DISCORD) == "https://discord.com/api/webhooks/•••/•••"
    assert mask_url("https://discord.com/api/webhooks/123/tokenSECRET") == "https://discord.com/api/webhooks/123/•••"
    for readable in ("https://r.example.com/hooks/vani", "https://r.example.com/api/v1/Inbound/deal-won.json/",
                     "https://r.example.com/orders/1234"):
        assert mask_url(readable) == readable
    assert mask_url("https://r.example.com/hooks/a1b2c3d4e5f6g7h8") == "https://r.example.com/hooks/•••"
    assert mask_url("https://r.example.com/webhook-receivers/x") == "https://r.example.com/•••/x"  # 17 characters
    assert secrets_in("https://tok@host/a") == ("tok", "tok")
    assert {"T0A1B2C3D", "B0E4F5G6H", "aB3dE5fG7hJ9kL1mN3pQ5rS7"} <= set(secrets_in(SLACK))
    assert "services" not in secrets_in(SLACK) and "vani" not in secrets_in(TOKEN_AS_USER)
    assert secrets_in("https://x/a/tok%2Fen%3D%3D1234") == ("tok/en==1234", "tok%2Fen%3D%3D1234")
    known = secrets_in(DISCORD)
    assert mask_text("could not reach /api/webhooks/1234567890123456789/tokenSECRET", known) == \
        "could not reach /api/webhooks/•••/•••"
    assert mask_text("refused: https://sk_live_abc123@hooks.example.com/ and http://u:p@h/") == \
        "refused: https://•••@hooks.example.com/ and http://•••@h/"


def test_a_read_token_sees_no_key_in_a_delivery_urls_user_name_or_path(client, httpserver):
    path = "/services/T0A1B2C3D/B0E4F5G6H/aB3dE5fG7hJ9kL1mN3pQ5rS7"
    httpserver.expect_request(path).respond_with_data("", status=500)
    subscribe(httpserver.url_for(path).replace("http://", "http://sk_live_abc123@"))
    [delivery_id] = emit()
    assert deliver() == 1
    r = bearer(client, ["read"])(f"/api/v1/webhooks/deliveries/{delivery_id}")
    assert not [key for key in KEYS if key in r.get_data(as_text=True)]
    [attempt] = r.json["attempt_log"]
    assert attempt["url"] == f"http://•••@localhost:{httpserver.port}/services/•••/•••/•••"
    assert attempt["status_code"] == 500


def test_members_below_admin_and_the_disabled_alert_see_no_key_in_user_names_or_paths(login, dns):
    from vani import orgs
    from vani.models import Notification
    from vani.models.base import utcnow
    from vani.notifications import alerts

    for host in ("hooks.slack.com", "discord.com", "hooks.example.com"):
        dns[host] = "93.184.216.34"
    subs = [subscribe(url)[0] for url in (SLACK, DISCORD, TOKEN_AS_USER)]
    orgs.set_notifications(slack_url=SLACK)  # the organisation's own Slack URL: write-only, for everyone
    for role in ("viewer", "staff", "admin"):
        assert "services/T0A1B2C3D" not in login(role).get("/dashboard/organisation").get_data(as_text=True)
    for role in ("viewer", "staff"):
        member = login(role)
        for page in ["/dashboard/subscriptions", "/dashboard/deliveries"] + [f"/dashboard/subscriptions/{s.id}"
                                                                             for s in subs]:
            html = member.get(page).get_data(as_text=True)
            assert not [key for key in KEYS if key in html], (role, page)
    assert all(key in login("admin").get(f"/dashboard/subscriptions/{subs[0].id}").get_data(as_text=True)
               for key in KEYS[:2])
    alerts.subscription_disabled(subs[0].id, "HTTP 410", utcnow())
    db.session.commit()
    [alert] = db.session.query(Notification).filter_by(kind="alert.subscription_disabled").all()
    assert alert.data["url"] == "https://hooks.slack.com/services/•••/•••/•••"
