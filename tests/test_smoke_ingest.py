from tests.signing import post_calendly


def test_accept_and_duplicate(client, app, run_worker):
    body = {"event": "invitee.created", "created_at": "2026-01-01T00:00:00Z",
            "payload": {"uri": "https://api.calendly.com/x/invitees/1", "email": "a@example.com"}}
    r = post_calendly(client, body)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "accepted"
    r2 = post_calendly(client, body)
    assert r2.json == {"status": "duplicate", "event_id": r.json["event_id"]}
    assert run_worker() >= 1
    from vani.models import WebhookEvent
    from vani.extensions import db
    ev = db.session.get(WebhookEvent, r.json["event_id"])
    assert ev.status in ("processed", "ignored"), ev.outcome
