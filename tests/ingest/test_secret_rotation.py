"""Secrets being rotated: every provider accepts its previous secret beside the new one, and any
other secret is still refused, stored as a refusal and as no event."""
from __future__ import annotations

from tests.bookings import calendly
from tests.signing import calendly_headers, cal_com_headers, dumps
from tests.whatsapp_signing import kapso_headers, post_twilio

INBOUND = ("SmsMessageSid=SMh1&NumMedia=0&ProfileName=Ana&SmsStatus=received&Body=Hola&To=whatsapp%3A%2B14155238886"
           "&MessageSid=SMh1&AccountSid=ACx&From=whatsapp%3A%2B15550100061")


def test_every_provider_accepts_its_previous_secret_during_a_rotation(app, client):
    app.config.update(CALENDLY_WEBHOOK_SIGNING_KEY="new-calendly", CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS="old-calendly",
                      CAL_COM_WEBHOOK_SECRET="new-cal", CAL_COM_WEBHOOK_SECRET_PREVIOUS="old-cal",
                      KAPSO_WEBHOOK_SECRET="new-kapso", KAPSO_WEBHOOK_SECRET_PREVIOUS="old-kapso",
                      TWILIO_AUTH_TOKEN="new-twilio", TWILIO_AUTH_TOKEN_PREVIOUS="old-twilio",
                      GMAIL_PUSH_TOKEN="new-gmail", GMAIL_PUSH_TOKEN_PREVIOUS="old-gmail")
    from sqlalchemy import select

    from vani.extensions import db
    from vani.models import RejectedCall, WebhookEvent

    def stored() -> list[tuple[str, bool]]:
        rows = db.session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars()
        return [(e.provider, e.verified) for e in rows]

    for secret, n in (("old-calendly", 1), ("new-calendly", 2)):
        body = dumps(calendly("invitee.created", n))
        r = client.post("/api/webhooks/calendly", data=body, headers=calendly_headers(body, secret=secret))
        assert r.status_code == 200, (secret, r.json)
    body = dumps({"triggerEvent": "BOOKING_CREATED", "createdAt": "2026-01-01T00:00:00Z", "payload": {"uid": "r1"}})
    assert client.post("/api/webhooks/cal-com", data=body, headers=cal_com_headers(body, secret="old-cal")).status_code == 200
    body = dumps({"message": {"id": "wamid.rot"}})
    assert client.post("/api/webhooks/kapso", data=body,
                       headers=kapso_headers(body, "whatsapp.message.sent", secret="old-kapso")).status_code == 200
    assert post_twilio(client, INBOUND, token="old-twilio").status_code == 200
    push = dumps({"message": {"messageId": "1", "data": "eyJlbWFpbEFkZHJlc3MiOiAiYUBiLmMiLCAiaGlzdG9yeUlkIjogMX0="}})
    assert client.post("/api/webhooks/gmail", data=push, content_type="application/json",
                       headers={"Authorization": "Bearer old-gmail"}).status_code == 200
    assert stored() == [("calendly", True), ("calendly", True), ("cal_com", True), ("kapso", True), ("twilio", True),
                        ("gmail", True)]
    # Any other secret still fails.
    body = dumps(calendly("invitee.created", 3))
    assert client.post("/api/webhooks/calendly", data=body,
                       headers=calendly_headers(body, secret="older-still")).status_code == 401
    assert len(stored()) == 6  # the refused call stored no event ...
    # ... but the refusal is recorded
    assert [c.reason for c in db.session.execute(select(RejectedCall)).scalars()] == ["invalid_signature"]
