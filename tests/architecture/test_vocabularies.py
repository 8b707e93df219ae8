"""Vocabularies are typed: roles, notification channels and kinds come from one enum each."""
from __future__ import annotations

import pytest

from vani.models import Role


def test_role_required_refuses_a_free_string():
    from vani.web.access import role_required

    with pytest.raises(TypeError, match="Role"):
        role_required("admin")
    assert role_required(Role.STAFF)(lambda: "ok").required_role is Role.STAFF


def test_every_guarded_view_names_a_role(app):
    guarded = {name: getattr(view, "required_role", None) for name, view in app.view_functions.items()}
    roles = {name: role for name, role in guarded.items() if role is not None}
    assert roles and all(isinstance(role, Role) for role in roles.values())
    assert roles["dash.users"] is Role.ADMIN and roles["dash.retry_delivery"] is Role.STAFF


def test_every_channel_has_one_sender_and_routes_name_only_channels():
    from vani.models import Channel
    from vani.notifications import routing
    from vani.notifications.channels import SENDERS

    assert set(SENDERS) == set(Channel) and all(s.channel is c for c, s in SENDERS.items())
    assert routing.CHANNELS == ("slack", "email", "webhook", "owner", "admins")
    assert routing.CONFIGURED == ("slack", "email", "webhook") and routing.PEOPLE == ("owner", "admins")
    with pytest.raises(routing.RouteError, match="use slack, email, webhook, owner, admins or none"):
        routing.parse_routes("*=pager")


def test_what_each_channel_needs():
    from vani.notifications.routing import missing_setting

    assert missing_setting("slack", {}) == "SLACK_WEBHOOK_URL is not set"
    assert missing_setting("email", {"SMTP_URL": "smtp://x"}) == "VANI_NOTIFY_EMAIL_TO is not set"
    assert missing_setting("email", {}) == missing_setting("owner", {}) == "SMTP_URL is not set"
    assert missing_setting("admins", {"SMTP_URL": "smtp://x"}) is None
    assert missing_setting("webhook", {}) is None and missing_setting("pager", {}) is None


def test_notification_kinds_are_one_vocabulary():
    from vani.models import NotificationKind
    from vani.notifications import routing, slack, webhook
    from vani.notifications.render import ALERT_LINKS, TITLES

    assert routing.KINDS == ("payment.received", "meeting.completed", "prospect.created", "message.received",
                             "message.failed", "conversation.handoff", "lead.created", "meeting.scheduled",
                             "meeting.cancelled", "meeting.no_show")
    assert routing.ALERTS == ("alert.subscription_disabled", "alert.dead_letters",
                              "alert.provider_subscription_disabled", "alert.provider_quiet", "alert.process_quiet")
    assert set(TITLES) == set(NotificationKind)  # every kind has a title
    assert set(ALERT_LINKS) == set(routing.ALERTS)
    for table in (TITLES, ALERT_LINKS, slack.EMOJI, webhook.CATALOGUE_KINDS):
        assert all(isinstance(kind, NotificationKind) for kind in table)


def test_the_outbox_takes_only_catalogue_types(app):
    from vani.models import EventType, MeetingStatus
    from vani.outbound import outbox
    from vani.prospects.meetings import EVENT_TYPES

    with pytest.raises(TypeError, match="EventType"):
        outbox.catalogued("meeting.in_progress")
    assert outbox.catalogued(EventType.MEETING_STARTED) is EventType.MEETING_STARTED
    assert set(EVENT_TYPES) == set(MeetingStatus)  # every status names its event, none built from text


def test_emitted_events_match_their_published_schemas(app, client, run_worker):
    """What a booking emits (prospect.created, meeting.scheduled) is valid against the payload
    schemas the document publishes."""
    from tests.factories import BOOKING
    from tests.signing import post_calendly
    from vani.api.openapi.events import ENVELOPES
    from vani.extensions import db
    from vani.models import EventType, OutboundEvent

    assert post_calendly(client, BOOKING).status_code == 200
    run_worker()
    events = db.session.query(OutboundEvent).order_by(OutboundEvent.id).all()
    assert sorted(e.type for e in events) == ["meeting.scheduled", "prospect.created"]
    for event in events:
        ENVELOPES[EventType(event.type)].model_validate(event.to_dict())


def test_lane_indexes_are_built_from_the_state_enum():
    from vani.models import DeliveryStatus, NotificationSend, SendStatus
    from vani.models.base import in_states

    assert {k: str(v) for k, v in in_states(SendStatus.PENDING, SendStatus.FAILED).items()} == {
        "postgresql_where": "status IN ('pending', 'failed')", "sqlite_where": "status IN ('pending', 'failed')"}
    assert str(in_states(DeliveryStatus.PENDING)["sqlite_where"]) == "status = 'pending'"
    [due] = [i for i in NotificationSend.__table__.indexes if i.name == "ix_notification_sends_due"]
    assert str(due.dialect_options["postgresql"]["where"]) == "status IN ('pending', 'failed')"
