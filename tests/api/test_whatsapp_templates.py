"""``GET /api/v1/whatsapp/templates``: the organisation's approved templates with a read token,
409 without a WhatsApp provider, and a 502 with the reason (never a 500) when the provider fails."""
from __future__ import annotations

from tests.fakes.whatsapp_templates import (
    CONTENT_PATH,
    KAPSO_TEMPLATES_PATH,
    content,
    meta_template,
    serve_kapso_templates,
    serve_twilio_contents,
    use_kapso_templates,
    use_twilio_templates,
)

URL = "/api/v1/whatsapp/templates"
SID = "HX" + "a" * 32


def test_a_read_token_lists_the_approved_templates(app, client, httpserver):
    from vani.accounts.tokens import create_token

    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[meta_template("intro", "Hi {{1}}, see you {{2}}", "es", category="UTILITY"),
                                        meta_template("draft", "x", status="PENDING")]])
    _, reader = create_token("reader", ["read"])
    r = client.get(URL, headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"provider": "kapso", "data": [
        {"name": "intro", "language": "es", "category": "UTILITY", "body": "Hi {{1}}, see you {{2}}",
         "variables": ["1", "2"], "label": None}]}
    _, emitter = create_token("emitter", ["emit"])
    r = client.get(URL, headers={"Authorization": f"Bearer {emitter}"})
    assert r.status_code == 403 and r.get_json()["scope"] == "read"
    assert client.get(URL).status_code == 401


def test_twilio_templates_are_named_by_their_content_sid(app, api, httpserver):
    use_twilio_templates(app, httpserver)
    serve_twilio_contents(httpserver, [[content(SID, "intro", {"twilio/text": {"body": "Hi {{1}}"}},
                                                variables={"1": "Ana"})]])
    r = api.get(URL)
    assert r.status_code == 200 and r.get_json()["provider"] == "twilio"
    assert r.get_json()["data"] == [{"name": SID, "language": "en", "category": "UTILITY", "body": "Hi {{1}}",
                                     "variables": ["1"], "label": "intro"}]


def test_no_provider_is_409_and_a_failing_one_502(app, api, httpserver):
    r = api.get(URL)
    assert r.status_code == 409 and r.get_json()["error"] == "no_whatsapp_provider"
    app.config["KAPSO_API_KEY"] = "kapso-key"
    r = api.get(URL)
    assert r.status_code == 409 and r.get_json()["error"] == "templates_not_configured"
    assert "KAPSO_BUSINESS_ACCOUNT_ID" in r.get_json()["detail"]
    use_kapso_templates(app, httpserver)
    httpserver.expect_request(KAPSO_TEMPLATES_PATH).respond_with_data("upstream down", status=500)
    r = api.get(URL)
    assert r.status_code == 502 and r.get_json() == {
        "error": "templates_unavailable", "detail": "kapso did not list the approved templates: "
                                                     "Kapso answered 500: upstream down"}


def test_twilio_down_is_502(app, api, httpserver):
    use_twilio_templates(app, httpserver)
    httpserver.expect_request(CONTENT_PATH).respond_with_data("no", status=503)
    r = api.get(URL)
    assert r.status_code == 502 and r.get_json()["error"] == "templates_unavailable"
    assert "Twilio answered 503" in r.get_json()["detail"]
