"""The prospect forms of the dashboard: create and edit with refusals beside their fields, notes,
stage moves (back only with a reason, on the timeline with who and why), the owner, a first
WhatsApp template, and the organisation's read-receipt choice."""
from __future__ import annotations

import re

from sqlalchemy import select

from vani.models import Conversation, OutboundEvent, Prospect, ProspectNote
from vani.models.replies import MessageSend


def html(r) -> str:
    return r.get_data(as_text=True)


def field_error(page: str, field_id: str) -> str:
    """The reason shown beside the field with this id (the field points at it)."""
    assert re.search(rf'id="{field_id}"[^>]*aria-invalid="true" aria-describedby="{field_id}-error"', page), field_id
    found = re.search(rf'<span class="field-error" id="{field_id}-error">([^<]*)</span>', page)
    assert found, f"no error beside {field_id}"
    return found.group(1)


def new_prospect(staff, **form) -> int:
    r = staff.post("/dashboard/prospects/new", data={"csrf_token": staff.csrf, **form})
    assert r.status_code == 303, html(r)[:2000]
    return int(r.headers["Location"].rsplit("/", 1)[1])


def test_create_and_edit_show_refusals_beside_the_fields(login, db):
    staff = login("staff")
    form = staff.get("/dashboard/prospects/new")
    assert form.status_code == 200 and 'for="prospect-email"' in html(form) and 'name="csrf_token"' in html(form)
    r = staff.post("/dashboard/prospects/new", data={"csrf_token": staff.csrf, "name": "Lena", "email": "lena@",
                                                     "phone": ""})
    assert r.status_code == 400
    assert "email address" in field_error(html(r), "prospect-email")
    assert 'value="Lena"' in html(r)  # what was typed stays
    r = staff.post("/dashboard/prospects/new",
                   data={"csrf_token": staff.csrf, "phone": "call me", "timezone": "Nowhere"})
    page = html(r)  # every refused field says why
    assert "international" in field_error(page, "prospect-phone") and "IANA" in field_error(page, "prospect-timezone")
    pid = new_prospect(staff, name="Lena", email="lena@example.test", phone="+1 555 010 0031", owner_id="")
    p = db.session.get(Prospect, pid)
    assert (p.name, p.phone, p.source) == ("Lena", "+15550100031", "dashboard")
    assert (p.owner_id, p.owner_set_by_hand) == (None, False)  # "Nobody" chosen: a booking's host may own it

    r = staff.post(f"/dashboard/prospects/{pid}/edit", data={"csrf_token": staff.csrf, "name": "Lena Novak",
                                                             "email": "lena@example.test", "timezone": "Mars/Base"})
    assert r.status_code == 400 and "IANA" in field_error(html(r), "prospect-timezone")
    r = staff.post(f"/dashboard/prospects/{pid}/edit", data={"csrf_token": staff.csrf, "name": "Lena Novak",
                                                             "email": "lena@example.test", "timezone": "Europe/Berlin",
                                                             "owner_id": str(staff.user.id)})
    assert r.status_code == 303
    db.session.expire_all()
    p = db.session.get(Prospect, pid)
    assert (p.name, p.timezone, p.owner_email, p.owner_set_by_hand) == ("Lena Novak", "Europe/Berlin",
                                                                        staff.user.email, True)
    events = db.session.execute(select(OutboundEvent.type).order_by(OutboundEvent.id)).scalars().all()
    assert events == ["prospect.created", "prospect.updated"]
    assert login("viewer").get("/dashboard/prospects/new").status_code == 403


def test_notes_and_stage_moves_on_the_prospect_page(login, db):
    staff = login("staff")
    pid = new_prospect(staff, email="sam@example.test")
    page = html(staff.get(f"/dashboard/prospects/{pid}"))
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    for _ in range(2):  # a double submit adds one note
        r = staff.post(f"/dashboard/prospects/{pid}/notes", data={"csrf_token": staff.csrf, "body": "Wants 12 seats",
                                                                  "nonce": nonce})
        assert r.status_code == 303
    r = staff.post(f"/dashboard/prospects/{pid}/notes", data={"csrf_token": staff.csrf, "body": "  "})
    assert r.status_code == 400 and "write the note" in field_error(html(r), "note-body")

    assert staff.post(f"/dashboard/prospects/{pid}/stage",
                      data={"csrf_token": staff.csrf, "stage": "met"}).status_code == 303
    r = staff.post(f"/dashboard/prospects/{pid}/stage", data={"csrf_token": staff.csrf, "stage": "lead"})
    assert r.status_code == 409 and "needs a reason" in field_error(html(r), "stage-reason")
    r = staff.post(f"/dashboard/prospects/{pid}/stage", data={"csrf_token": staff.csrf, "stage": "lead",
                                                              "reason": "Booked by mistake"})
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Prospect, pid).stage == "lead"
    notes = db.session.execute(select(ProspectNote).order_by(ProspectNote.id)).scalars().all()
    me = staff.user.email
    assert [(n.body, n.author_id) for n in notes] == [
        ("Wants 12 seats", staff.user.id), (f"Stage moved from lead to met by {me}.", staff.user.id),
        (f"Stage moved from met to lead by {me}: Booked by mistake", staff.user.id)]
    page = html(staff.get(f"/dashboard/prospects/{pid}"))
    assert "Booked by mistake" in page and f"— {me}" in page
    viewer = html(login("viewer").get(f"/dashboard/prospects/{pid}"))
    assert "Add a note" not in viewer and "Move stage" not in viewer and "Booked by mistake" in viewer


def test_a_first_template_from_the_prospect_page(app, login, db):
    staff = login("staff")
    nophone = new_prospect(staff, email="no-phone@example.test")
    assert "Start a WhatsApp conversation" not in html(staff.get(f"/dashboard/prospects/{nophone}"))
    pid = new_prospect(staff, phone="+15550100031")
    assert "Start a WhatsApp conversation" in html(staff.get(f"/dashboard/prospects/{pid}"))
    r = staff.post(f"/dashboard/prospects/{pid}/conversations", data={"csrf_token": staff.csrf,
                                                                      "template_name": "intro"})
    assert r.status_code == 409 and "no WhatsApp provider" in html(r)
    app.config["KAPSO_API_KEY"] = "kapso-key"
    r = staff.post(f"/dashboard/prospects/{pid}/conversations", data={"csrf_token": staff.csrf, "template_name": ""})
    assert r.status_code == 400 and field_error(html(r), "template-name")
    r = staff.post(f"/dashboard/prospects/{pid}/conversations",
                   data={"csrf_token": staff.csrf, "template_name": "intro", "template_language": "es",
                         "template_variables": "Lena | Tuesday", "nonce": "nonce-123456"})
    assert r.status_code == 303
    [conv] = db.session.execute(select(Conversation)).scalars().all()
    [send] = db.session.execute(select(MessageSend)).scalars().all()
    assert (conv.prospect_id, conv.phone, conv.provider) == (pid, "+15550100031", "kapso")
    assert send.payload == {"template": {"name": "intro", "language": "es", "variables": ["Lena", "Tuesday"]}}
    assert "Start a WhatsApp conversation" not in html(staff.get(f"/dashboard/prospects/{pid}"))


def test_read_receipts_on_arrival_is_an_admin_choice(login, db):
    from vani.models import Organisation

    admin = login("admin")
    page = html(admin.get("/dashboard/organisation"))
    assert '<label class="check"><input type="checkbox" name="mark_read_on_arrival"' in page
    assert admin.post("/dashboard/organisation/messaging", data={"csrf_token": admin.csrf,
                                                                "mark_read_on_arrival": "on"}).status_code == 303
    db.session.expire_all()
    assert db.session.execute(select(Organisation.mark_read_on_arrival)).scalar_one() is True
    admin.post("/dashboard/organisation/messaging", data={"csrf_token": admin.csrf})
    db.session.expire_all()
    assert db.session.execute(select(Organisation.mark_read_on_arrival)).scalar_one() is False
    assert 'value="write"' in html(admin.get("/dashboard/tokens"))


def test_the_start_form_offers_the_approved_templates(app, login, db, httpserver):
    from tests.fakes.whatsapp_templates import meta_template, serve_kapso_templates, use_kapso_templates

    use_kapso_templates(app, httpserver)
    seen = serve_kapso_templates(httpserver, [[
        meta_template("intro", "Hi {{1}}, shall we talk on {{2}}?", "es", category="UTILITY"),
        meta_template("welcome", "Welcome aboard!"), meta_template("draft", "x", status="PENDING")]])
    staff = login("staff")
    pid = new_prospect(staff, phone="+15550100031")
    page = html(staff.get(f"/dashboard/prospects/{pid}"))
    assert '<label for="template-choice">Approved template</label>' in page
    options = re.findall(r'<option value="([^"]+)" data-body="[^"]*" data-variables="([^"]*)"[^>]*>([^<]+)</option>',
                         page)
    assert options == [("es:intro", "1 2", "intro · es · utility — Hi {{1}}, shall we talk on {{2}}?"),
                       ("en_US:welcome", "", "welcome · en_US · marketing — Welcome aboard!")]
    assert re.findall(r'<label for="(template-variable-\d)">([^<]+)</label>', page) == [
        ("template-variable-1", "Value for {{1}}"), ("template-variable-2", "Value for {{2}}")]  # the first template's
    assert 'id="template-body" aria-live="polite">Hi {{1}}, shall we talk on {{2}}?' in page
    assert 'id="template-name"' not in page  # no typing the name when the list is there

    r = staff.post(f"/dashboard/prospects/{pid}/conversations", data={
        "csrf_token": staff.csrf, "template_choice": "es:intro", "template_variable": ["Lena", ""]})
    assert r.status_code == 400 and field_error(html(r), "template-variable-1") == \
        "intro takes 2 values: fill in {{2}}"
    assert 'value="Lena"' in html(r) and '<option value="es:intro" data-body' in html(r)
    r = staff.post(f"/dashboard/prospects/{pid}/conversations", data={
        "csrf_token": staff.csrf, "template_choice": "es:intro", "template_variable": ["Lena", "Tuesday"],
        "nonce": "nonce-123456"})
    assert r.status_code == 303
    [send] = db.session.execute(select(MessageSend)).scalars().all()
    assert send.payload == {"template": {"name": "intro", "language": "es", "variables": ["Lena", "Tuesday"]}}
    assert len(seen) == 1  # three pages drawn, the provider asked once


def test_the_start_form_falls_back_to_the_name_when_the_list_cannot_be_had(app, login, httpserver):
    from tests.fakes.whatsapp_templates import KAPSO_TEMPLATES_PATH, use_kapso_templates

    staff = login("staff")
    pid = new_prospect(staff, phone="+15550100031")
    app.config["KAPSO_API_KEY"] = "kapso-key"  # no business account: nothing to ask
    page = html(staff.get(f"/dashboard/prospects/{pid}"))
    assert 'id="template-name"' in page and "KAPSO_BUSINESS_ACCOUNT_ID is not set" in page
    use_kapso_templates(app, httpserver)
    httpserver.expect_request(KAPSO_TEMPLATES_PATH).respond_with_json(
        {"error": {"message": "Service temporarily unavailable", "code": 2}}, status=503)
    r = staff.get(f"/dashboard/prospects/{pid}")
    page = html(r)
    assert r.status_code == 200 and '<label for="template-name">Template name</label>' in page
    assert "The approved templates could not be listed (kapso did not list the approved templates: Kapso answered " \
           "503: Service temporarily unavailable): type the template's name." in page
    assert 'name="template_choice"' not in page
    assert "could not be listed" not in html(login("viewer").get(f"/dashboard/prospects/{pid}"))
    assert len(httpserver.log) == 1  # the failure is kept a moment: the viewer's page asked nobody


def test_the_conversation_page_offers_the_approved_templates_too(app, login, db, httpserver):
    from tests.fakes.whatsapp_templates import meta_template, serve_kapso_templates, use_kapso_templates
    from tests.web.seed import seed_messaging

    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[meta_template("order_update", "Dear {{first_name}}, {{order}} is ready")]])
    conv = seed_messaging()["conversation"]
    staff = login("staff")
    page = html(staff.get(f"/dashboard/messages/{conv.id}"))
    assert '<option value="en_US:order_update"' in page and 'name="template_name"' not in page
    assert re.findall(r'<label for="(template-variable-\d)">([^<]+)</label>', page) == [
        ("template-variable-1", "Value for {{first_name}}"), ("template-variable-2", "Value for {{order}}")]
    r = staff.post(f"/dashboard/messages/{conv.id}/reply", data={
        "csrf_token": staff.csrf, "kind": "template", "nonce": "nonce-conv-1", "template_choice": "en_US:order_update",
        "template_variable": ["Ana", "#42"]})
    assert r.status_code == 303
    [send] = db.session.execute(select(MessageSend).where(MessageSend.kind == "template")).scalars().all()
    assert send.payload == {"template": {"name": "order_update", "language": "en_US",
                                         "variables": {"first_name": "Ana", "order": "#42"}}}
    # A viewer sees the conversation without the picker (and without asking the provider).
    assert "template-choice" not in html(login("viewer").get(f"/dashboard/messages/{conv.id}"))


def test_header_and_button_values_have_fields_named_for_them(app, login, db, httpserver):
    from tests.fakes.whatsapp_templates import meta_template, serve_kapso_templates, use_kapso_templates

    use_kapso_templates(app, httpserver)
    serve_kapso_templates(httpserver, [[meta_template(
        "offer", "Hi {{1}}", header={"type": "HEADER", "format": "IMAGE"},
        buttons=[{"type": "URL", "text": "Open", "url": "https://shop.example.test/o/{{1}}"}])]])
    staff = login("staff")
    pid = new_prospect(staff, phone="+15550100032")
    page = html(staff.get(f"/dashboard/prospects/{pid}"))
    assert 'data-variables="media.image 1 button.0" data-labels="Header image: its https:// link|' \
           'Value for {{1}}|End of button 1&#39;s link"' in page
    assert re.findall(r'<label for="(template-variable-\d)">([^<]+)</label>', page) == [
        ("template-variable-1", "Header image: its https:// link"), ("template-variable-2", "Value for {{1}}"),
        ("template-variable-3", "End of button 1&#39;s link")]
    r = staff.post(f"/dashboard/prospects/{pid}/conversations", data={
        "csrf_token": staff.csrf, "template_choice": "en_US:offer", "nonce": "nonce-654321",
        "template_variable": ["https://cdn.example.test/o.png", "Lena", "42"]})
    assert r.status_code == 303
    [send] = db.session.execute(select(MessageSend)).scalars().all()
    assert send.payload["template"]["variables"] == {
        "media.image": "https://cdn.example.test/o.png", "1": "Lena", "button.0": "42"}
