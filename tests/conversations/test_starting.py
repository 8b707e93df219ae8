"""Starting a WhatsApp conversation from a prospect with an approved template (Kapso and
Twilio), the customer's answer landing in it, marking read through the API, and read receipts
sent as messages arrive."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.conversations.helpers import (
    NUMBER_ID,
    PHONE,
    TWILIO_PATH,
    kapso_answers,
    outbound,
    process,
    receive_kapso,
    receive_twilio,
    send_lane,
    sends,
    twilio_ok,
    use_kapso,
    use_twilio,
)
from vani.models import Conversation, Message, Organisation

TEMPLATE = {"template": {"name": "intro", "language": "es", "variables": ["Lena"]}}


def prospect(api, **fields) -> int:
    r = api.post("/api/v1/prospects", json={"email": "lena@example.test", "phone": PHONE, **fields})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def conversations(db) -> list[Conversation]:
    db.session.expire_all()
    return list(db.session.execute(select(Conversation).order_by(Conversation.id)).scalars())


def test_a_kapso_template_starts_the_conversation_and_the_answer_lands_in_it(app, client, api, db, httpserver):
    use_kapso(app, httpserver)
    app.config["KAPSO_PHONE_NUMBER_ID"] = NUMBER_ID
    seen = kapso_answers(httpserver)
    pid = prospect(api)
    r = api.post(f"/api/v1/prospects/{pid}/conversations", json=TEMPLATE, headers={"Idempotency-Key": "first"})
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["message"]["text"] == "[template intro] Lena" and r.get_json()["replayed"] is False
    again = api.post(f"/api/v1/prospects/{pid}/conversations", json=TEMPLATE, headers={"Idempotency-Key": "first"})
    assert again.get_json() == r.get_json()  # a retried request sends nothing new
    send_lane()
    assert seen == [{"messaging_product": "whatsapp", "recipient_type": "individual", "to": PHONE.lstrip("+"),
                     "type": "template", "template": {"name": "intro", "language": {"code": "es"}, "components": [
                         {"type": "body", "parameters": [{"type": "text", "text": "Lena"}]}]}}]
    assert outbound(db)[0].status == "sent"
    receive_kapso(client, "¡Hola!", "wamid.in1", conv="conv_k")  # Kapso names the conversation
    process()
    [conv] = conversations(db)
    assert (conv.provider, conv.provider_ref, conv.prospect_id) == ("kapso", "conv_k", pid)
    texts = db.session.execute(select(Message.text).where(Message.conversation_id == conv.id)
                               .order_by(Message.id)).scalars().all()
    assert texts == ["[template intro] Lena", "¡Hola!"]
    second = api.post(f"/api/v1/prospects/{pid}/conversations", json=TEMPLATE)
    assert second.status_code == 409 and f"conversation {conv.id}" in second.get_json()["detail"]


def test_a_twilio_template_starts_the_conversation_the_answer_joins(app, client, api, db, httpserver):
    use_twilio(app, httpserver)
    httpserver.expect_request(TWILIO_PATH, method="POST").respond_with_json(twilio_ok("SMout1"), status=201)
    pid = prospect(api)
    r = api.post(f"/api/v1/prospects/{pid}/conversations",
                 json={"template": {"name": "HX0123", "variables": {"1": "Lena"}}})
    assert r.status_code == 202, r.get_json()
    send_lane()
    sent = httpserver.log[0][0].form
    assert (sent["ContentSid"], sent["To"]) == ("HX0123", f"whatsapp:{PHONE}")
    receive_twilio(client, "SMin1", "Hola")
    process()
    [conv] = conversations(db)
    assert conv.prospect_id == pid and [m.status for m in outbound(db)] == ["sent"]
    assert len(db.session.execute(select(Message).where(Message.conversation_id == conv.id)).all()) == 2


def test_what_cannot_start_a_conversation(app, api, db, httpserver):
    pid = prospect(api)
    url = f"/api/v1/prospects/{pid}/conversations"
    r = api.post(url, json=TEMPLATE)
    assert r.status_code == 409 and r.get_json()["error"] == "no_whatsapp_provider"
    use_kapso(app, httpserver)
    assert api.post(url, json={"text": "Hi"}).get_json()["field"] == "text"  # free text cannot open one
    assert api.post(url, json={"template": {"language": "es"}}).get_json()["field"] == "template.name"
    assert api.post(url, json={}).get_json()["field"] == "template"
    nophone = prospect(api, email="sam@example.test", phone=None)
    r = api.post(f"/api/v1/prospects/{nophone}/conversations", json=TEMPLATE)
    assert r.status_code == 409 and "no phone number" in r.get_json()["detail"]
    assert api.post("/api/v1/prospects/99999/conversations", json=TEMPLATE).status_code == 404
    assert conversations(db) == [] and sends(db) == []


def kapso_conversation(app, client, httpserver, db) -> Conversation:
    use_kapso(app, httpserver)
    receive_kapso(client, "hola", "wamid.in1", conv="conv_1")
    process()
    return conversations(db)[0]


def test_marking_a_conversation_read_through_the_api(app, client, api, db, httpserver):
    conv = kapso_conversation(app, client, httpserver, db)
    seen = kapso_answers(httpserver)
    r = api.post(f"/api/v1/conversations/{conv.id}/read")
    assert r.status_code == 200 and r.get_json()["receipt_queued"] is True
    newest = db.session.execute(select(Message.id)).scalar_one()
    assert r.get_json()["last_read_message_id"] == newest
    assert api.post(f"/api/v1/conversations/{conv.id}/read").get_json()["receipt_queued"] is False  # once
    send_lane()
    assert seen == [{"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in1"}]
    assert api.post("/api/v1/conversations/99999/read").status_code == 404


def test_unread_follows_the_newest_inbound_message_until_it_is_read(app, client, api, db, httpserver):
    from vani.dashboard import messaging

    conv = kapso_conversation(app, client, httpserver, db)
    kapso_answers(httpserver)
    receive_kapso(client, "¿sigues ahí?", "wamid.in2", conv="conv_1")
    receive_kapso(client, "¿sigues ahí?", "wamid.in2", conv="conv_1")  # a repeat is not a new message
    process()
    newest = db.session.execute(select(func.max(Message.id))).scalar_one()
    db.session.refresh(conv)
    assert conv.last_inbound_message_id == newest
    assert (messaging.unread_counts([conv.id]), str(messaging.unread_total())) == ({conv.id: 2}, "2")
    assert api.post(f"/api/v1/conversations/{conv.id}/read").status_code == 200
    assert (messaging.unread_counts([conv.id]), bool(messaging.unread_total())) == ({}, False)
    receive_kapso(client, "hola otra vez", "wamid.in3", conv="conv_1")
    process()
    assert str(messaging.unread_total()) == "1"


def test_the_navigation_counts_at_most_so_many_unread_conversations(app, client, db, httpserver, monkeypatch):
    from vani.dashboard import messaging

    kapso_conversation(app, client, httpserver, db)
    receive_kapso(client, "hello", "wamid.other", conv="conv_2")
    process()
    assert str(messaging.unread_total()) == "2"
    monkeypatch.setattr(messaging, "NAV_MOST", 1)
    total = messaging.unread_total()
    assert (total.count, total.more, str(total)) == (1, True, "1+")


def test_read_receipts_on_arrival_when_the_organisation_chose_it(app, client, db, httpserver):
    kapso_conversation(app, client, httpserver, db)
    seen = kapso_answers(httpserver)
    send_lane()
    assert seen == []  # not chosen: nothing sent on arrival
    org = db.session.execute(select(Organisation)).scalar_one()
    org.mark_read_on_arrival = True
    db.session.commit()
    receive_kapso(client, "¿sigues ahí?", "wamid.in2", conv="conv_1")
    process()
    assert seen == [{"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in2"}]
    [conv] = conversations(db)
    assert conv.last_read_message_id is None  # the team still sees it unread


def test_a_message_an_older_version_stored_is_noted_unread_by_the_catch_up(app, client, db, httpserver):
    from tests.web.seed import seed_messaging
    from vani.conversations import inbox
    from vani.dashboard import messaging
    from vani.jobs import maintenance

    conv = seed_messaging()["conversation"]  # one inbound message, noted, and read
    conv.last_read_message_id = conv.last_inbound_message_id
    db.session.add(Message(conversation_id=conv.id, provider="kapso", provider_message_id="wamid.old-version",
                           direction="inbound", type="text", text="stored by an older worker", status="received"))
    db.session.commit()  # as a process of the previous version stores it: the conversation is not told
    assert not messaging.unread_total()
    assert maintenance.catch_up_unread() == 1
    assert str(messaging.unread_total()) == "1"
    assert inbox.catch_up_unread() == 0  # nothing more to note
    assert any(e.func is maintenance.catch_up_unread and e.interval == 600 for e in maintenance.CRON)


def test_a_template_with_header_and_button_values_sends_each_in_its_component(app, api, db, httpserver):
    use_kapso(app, httpserver)
    app.config["KAPSO_PHONE_NUMBER_ID"] = NUMBER_ID
    seen = kapso_answers(httpserver)
    pid = prospect(api)
    values = {"media.image": "https://cdn.example.test/offer.png", "1": "Lena", "2": "Friday", "button.1": "ref-42"}
    r = api.post(f"/api/v1/prospects/{pid}/conversations",
                 json={"template": {"name": "offer", "language": "en", "variables": values}})
    assert r.status_code == 202, r.get_json()
    send_lane()
    assert seen[0]["template"] == {"name": "offer", "language": {"code": "en"}, "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.test/offer.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Lena"}, {"type": "text", "text": "Friday"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "ref-42"}]}]}
    text = api.post(f"/api/v1/prospects/{prospect(api, email='ana@example.test', phone='+15550009999')}"
                    "/conversations", json={"template": {"name": "hello", "variables": {"header.name": "Ana"}}})
    assert text.status_code == 202, text.get_json()
    send_lane()
    assert seen[1]["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "name", "text": "Ana"}]}]


def test_a_media_value_must_be_a_link(api):
    pid = prospect(api)
    r = api.post(f"/api/v1/prospects/{pid}/conversations",
                 json={"template": {"name": "offer", "variables": {"media.image": "offer.png", "1": "Lena"}}})
    assert r.status_code == 400
    assert r.get_json()["detail"] == "media.image is the header's media: give its https:// link"


def test_template_values_too_long_or_unknown_are_refused_not_cut(app, api, httpserver):
    use_kapso(app, httpserver)
    pid = prospect(api)
    url = f"/api/v1/prospects/{pid}/conversations"

    def refusal(variables) -> str:
        r = api.post(url, json={"template": {"name": "offer", "variables": variables}})
        assert r.status_code == 400, r.get_json()
        return r.get_json()["detail"]

    assert refusal(["x" * 1025]) == "a value is longer than 1024 characters"
    assert refusal({"1": "x" * 1025}) == "1 is longer than 1024 characters"
    assert refusal({"media.gif": "https://cdn.example.test/a.gif"}) == \
        "media.gif is no header media Vani sends: media.image, media.video, media.document"
    assert refusal({"media.image": "https://cdn.example.test/" + "a" * 2048}) == \
        "media.image is longer than 2048 characters"
    assert refusal({"header." + "n" * 60: "Ana"}) == "a value's name is at most 64 characters"
    link = "https://cdn.example.test/signed?" + "s" * 1500  # a signed link longer than any text value
    r = api.post(url, json={"template": {"name": "offer", "variables": {"media.image": link}}})
    assert r.status_code == 202, r.get_json()
