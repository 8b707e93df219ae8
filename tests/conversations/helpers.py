"""Helpers for the two-way WhatsApp tests: inbound messages from Kapso and Twilio, fake provider
APIs on loopback, and running the sends lane."""
from __future__ import annotations

import json
import time
from urllib.parse import quote

from sqlalchemy import select

from tests.whatsapp_signing import post_kapso, post_twilio
from tests.work.helpers import drain
from vani.models import Conversation, Message
from vani.models.replies import MessageSend, SendAttempt

PHONE = "+15551234567"
NUMBER_ID = "647015955153740"  # the business number's phone_number_id, as Kapso's webhooks report it
KAPSO_KEY = "kapso-api-key"
KAPSO_PATH = f"/meta/whatsapp/v24.0/{NUMBER_ID}/messages"
TWILIO_SID = "AC" + "0" * 32
TWILIO_FROM = "+14155238886"
TWILIO_PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def kapso_inbound(text: str, wamid: str, conv: str = "conv_1", at: float | None = None, phone: str = PHONE) -> dict:
    return {"message": {"id": wamid, "timestamp": str(int(at if at is not None else time.time())), "type": "text",
                        "text": {"body": text}, "from": phone.lstrip("+"),
                        "kapso": {"direction": "inbound", "status": "received"}},
            "conversation": {"id": conv, "phone_number": phone, "phone_number_id": NUMBER_ID},
            "phone_number_id": NUMBER_ID}


def kapso_status(wamid: str, status: str, conv: str = "conv_1", at: float | None = None) -> dict:
    stamp = str(int(at if at is not None else time.time()))
    return {"message": {"id": wamid, "timestamp": stamp, "type": "text", "to": PHONE.lstrip("+"),
                        "kapso": {"direction": "outbound", "status": status,
                                  "statuses": [{"id": wamid, "status": status, "timestamp": stamp}]}},
            "conversation": {"id": conv, "phone_number": PHONE, "phone_number_id": NUMBER_ID},
            "phone_number_id": NUMBER_ID}


def receive_kapso(client, text: str, wamid: str, **kw):
    r = post_kapso(client, json.dumps(kapso_inbound(text, wamid, **kw)).encode(), "whatsapp.message.received")
    assert r.status_code == 200, r.json
    return r


def twilio_inbound(sid: str, text: str = "Hi", sender: str = PHONE) -> str:
    return (f"SmsMessageSid={sid}&NumMedia=0&SmsStatus=received&Body={quote(text)}&To=whatsapp%3A{quote(TWILIO_FROM)}"
            f"&MessageSid={sid}&AccountSid={TWILIO_SID}&From=whatsapp%3A{quote(sender)}&ApiVersion=2010-04-01"
            f"&ProfileName=Ana&WaId={sender.lstrip('+')}")


def twilio_status(sid: str, status: str, to: str = PHONE) -> str:
    return (f"SmsSid={sid}&SmsStatus={status}&MessageStatus={status}&To=whatsapp%3A{quote(to)}"
            f"&MessageSid={sid}&AccountSid={TWILIO_SID}&From=whatsapp%3A{quote(TWILIO_FROM)}&ApiVersion=2010-04-01")


def receive_twilio(client, sid: str, text: str = "Hi"):
    r = post_twilio(client, twilio_inbound(sid, text))
    assert r.status_code == 200, r.get_data(as_text=True)
    return r


def use_kapso(app, httpserver) -> None:
    app.config.update(KAPSO_API_BASE_URL=httpserver.url_for("").rstrip("/"), KAPSO_API_KEY=KAPSO_KEY)


def use_twilio(app, httpserver) -> None:
    app.config.update(TWILIO_API_BASE_URL=httpserver.url_for("").rstrip("/"), TWILIO_ACCOUNT_SID=TWILIO_SID,
                      TWILIO_WHATSAPP_FROM=TWILIO_FROM, PUBLIC_URL="https://vani.example.com")


def meta_ok(wamid: str) -> dict:
    return {"messaging_product": "whatsapp", "contacts": [{"input": PHONE.lstrip("+"), "wa_id": PHONE.lstrip("+")}],
            "messages": [{"id": wamid}]}


def kapso_answers(httpserver) -> list[dict]:
    """Answer every Kapso call as Meta does (a fresh message id each); returns the bodies seen."""
    from werkzeug.wrappers import Response

    seen: list[dict] = []

    def answer(request):
        seen.append(request.json)
        return Response(json.dumps(meta_ok(f"wamid.out{len(seen)}")), content_type="application/json")

    httpserver.expect_request(KAPSO_PATH, method="POST").respond_with_handler(answer)
    return seen


def twilio_ok(sid: str, body: str = "") -> dict:
    return {"sid": sid, "status": "queued", "body": body, "account_sid": TWILIO_SID, "to": f"whatsapp:{PHONE}",
            "from": f"whatsapp:{TWILIO_FROM}", "direction": "outbound-api", "num_segments": "1"}


def process(now=None) -> None:
    """Map stored events, then send what they queued (as the workers would)."""
    from vani.conversations.sending import MESSAGE_SENDS
    from vani.processing.events import EVENTS

    drain(EVENTS, now)
    drain(MESSAGE_SENDS, now)


def send_lane(now=None) -> int:
    from vani.conversations.sending import MESSAGE_SENDS

    return drain(MESSAGE_SENDS, now)


def conversation(db, ref: str = "conv_1") -> Conversation:
    return db.session.execute(select(Conversation).where(Conversation.provider_ref == ref)).scalar_one()


def outbound(db) -> list[Message]:
    return list(db.session.execute(select(Message).where(Message.direction == "outbound")
                                   .order_by(Message.id).execution_options(populate_existing=True)).scalars())


def sends(db) -> list[MessageSend]:
    return list(db.session.execute(select(MessageSend).order_by(MessageSend.id)
                                   .execution_options(populate_existing=True)).scalars())


def attempts(db, send_id: int) -> list[SendAttempt]:
    return list(db.session.execute(select(SendAttempt).where(SendAttempt.send_id == send_id)
                                   .order_by(SendAttempt.id)).scalars())
