"""Dead letters are kept until someone acts, and the overview says how many wait, lane by lane."""
from __future__ import annotations

import re

from tests.bookings import calendly
from tests.outbound.helpers import emit, subscribe
from tests.signing import post_calendly
from vani import retention
from vani.extensions import db
from vani.models import DeliveryStatus, EventStatus, WebhookDelivery, WebhookEvent


def test_the_overview_counts_dead_letters_and_links_to_them(client, login, httpserver):
    viewer = login("viewer")
    assert "None: everything that failed is being retried" in viewer.get("/dashboard/").get_data(as_text=True)
    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    subscribe(httpserver.url_for("/hook"))
    [delivery_id] = emit()
    db.session.get(WebhookEvent, event_id).status = EventStatus.DEAD
    db.session.get(WebhookDelivery, delivery_id).status = DeliveryStatus.FAILED
    db.session.commit()
    html = viewer.get("/dashboard/").get_data(as_text=True)
    section = html[html.index('id="dead-letters"'):html.index("<h2>Providers</h2>")]
    assert re.search(r'href="/dashboard/events\?status=dead">1<', section)
    assert re.search(r'href="/dashboard/deliveries\?status=failed">1<', section)
    assert "Notification sends" in section
    dead_list = viewer.get("/dashboard/events?status=dead").get_data(as_text=True)
    assert f'data-id="{event_id}"' in dead_list


def test_retention_never_deletes_a_dead_letter(app, client):
    from datetime import timedelta

    from vani.models.base import utcnow

    event_id = post_calendly(client, calendly("invitee.created")).json["event_id"]
    event = db.session.get(WebhookEvent, event_id)
    event.status, event.received_at = EventStatus.DEAD, utcnow() - timedelta(days=400)
    db.session.commit()
    assert retention.cleanup(30)["webhook_events"] == 0
    assert db.session.get(WebhookEvent, event_id) is not None
