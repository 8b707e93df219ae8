"""Rows for the dashboard tests: every page has something to show."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from vani.extensions import db
from vani.models import Meeting, Prospect, ProspectNote, RejectedCall, WebhookEvent
from vani.models.base import utcnow


def add_event(provider="calendly", event_type="invitee.created", status="processed", verified=True,
              received_at=None, email=None, ref=None, outcome=None, payload=None, **extra) -> WebhookEvent:
    n = db.session.query(WebhookEvent).count() + 1
    event = WebhookEvent(
        provider=provider, event_type=event_type, dedupe_key=f"{event_type}:{n}:{utcnow().timestamp()}",
        verified=verified, status=status, body=b'{"k": 1}', headers={"Calendly-Webhook-Signature": "t=1,v1=abc"},
        payload=payload if payload is not None else {"event": event_type, "payload": {"email": email, "n": n}},
        remote_addr="203.0.113.9", received_at=received_at or utcnow(), attempts=1 if status != "received" else 0,
        outcome=outcome, subject_email=email, subject_ref=ref, **extra)
    db.session.add(event)
    db.session.commit()
    return event


def seed_core() -> dict:
    """A prospect with a meeting and a note, events in every status, and rejected calls."""
    now = utcnow()
    prospect = Prospect(email="ana@example.com", name="Ana Lima", phone="+15550100002", timezone="America/New_York",
                        source="calendly")
    db.session.add(prospect)
    db.session.flush()
    meeting = Meeting(provider="calendly", provider_ref="https://api.calendly.com/invitees/AAA", prospect_id=prospect.id,
                      title="Intro call", start_at=now + timedelta(days=1), end_at=now + timedelta(days=1, minutes=30),
                      status="scheduled", join_url="https://meet.example.com/abc")
    db.session.add(meeting)
    db.session.flush()
    db.session.add(ProspectNote(prospect_id=prospect.id, body="Calendly meeting scheduled – Intro call",
                                source="calendly", meeting_id=meeting.id, note_key="seed:1"))
    db.session.commit()
    events = {
        "processed": add_event(email="ana@example.com", ref="https://api.calendly.com/invitees/AAA",
                               prospect_id=prospect.id, meeting_id=meeting.id, received_at=now - timedelta(hours=2)),
        "failed": add_event(provider="cal_com", event_type="BOOKING_CREATED", status="failed",
                            outcome="KeyError: 'attendees'", email="bo@example.com", ref="uid-bo",
                            received_at=now - timedelta(hours=1)),
        "ignored": add_event(event_type="routing_form_submission.created", status="ignored",
                             outcome="event type not handled", received_at=now - timedelta(minutes=30)),
        "unverified": add_event(status="received", verified=False, received_at=now - timedelta(minutes=5)),
    }
    db.session.add(RejectedCall(provider="calendly", reason="invalid_signature", detail="no v1 signature matched",
                                remote_addr="198.51.100.7", headers={"Calendly-Webhook-Signature": "t=1,v1=bad"},
                                body_size=321, created_at=now - timedelta(minutes=10)))
    db.session.add(RejectedCall(provider="cal_com", reason="missing_signature", remote_addr="198.51.100.8",
                                checked_url="https://vani.example.com/api/webhooks/cal-com", body_size=10))
    recount_rollups()
    return {"prospect": prospect, "meeting": meeting, "events": events}


def recount_rollups() -> None:
    """The overview reads hourly rollups the work engine keeps; rows seeded around it are recounted."""
    from vani import tenancy
    from vani.dashboard.recount import recount

    recount(tenancy.require())
    db.session.commit()


def seed_outbound(url: str = "https://receiver.example.com/hooks") -> dict:
    """A subscription with a delivered and a failed delivery (with attempts)."""
    from vani import outbound
    from vani.models import DeliveryAttempt, OutboundEvent, WebhookDelivery

    now = utcnow()
    sub, secret = outbound.create_subscription(url, ["*"], "CRM sync")
    out = {"subscription": sub, "secret": secret}
    for i, (status, code) in enumerate((("delivered", 200), ("failed", 500))):
        event = OutboundEvent(msg_id=f"msg_seed_{i}_{now.timestamp()}", type="meeting.scheduled",
                              emit_key=f"seed:{i}:{now.timestamp()}", data={"meeting": {"id": i}})
        db.session.add(event)
        db.session.flush()
        delivery = WebhookDelivery(outbound_event_id=event.id, subscription_id=sub.id, msg_id=event.msg_id,
                                   event_type=event.type, status=status, attempts=1, last_status_code=code,
                                   last_error=None if code == 200 else "HTTP 500", last_attempt_at=now,
                                   created_at=now - timedelta(minutes=10 - i),
                                   delivered_at=now if code == 200 else None)
        db.session.add(delivery)
        db.session.flush()
        db.session.add(DeliveryAttempt(delivery_id=delivery.id, number=1, trigger="scheduled", url=sub.url,
                                       request_headers={"webhook-id": event.msg_id}, status_code=code,
                                       response_body="ok" if code == 200 else "boom: receiver crashed",
                                       duration_ms=12, success=code == 200,
                                       error=None if code == 200 else "HTTP 500"))
        out[status] = delivery
    db.session.commit()
    recount_rollups()
    return out


def add_inbound(conv, **fields):
    """An inbound message stored as the app stores one: the conversation notes its newest."""
    from vani.models import Message

    msg = Message(conversation_id=conv.id, provider=conv.provider, direction="inbound", type="text",
                  status="received", **fields)
    db.session.add(msg)
    db.session.flush()
    conv.last_inbound_message_id = max(conv.last_inbound_message_id or 0, msg.id)
    return msg


def seed_messaging(prospect=None) -> dict:
    """A WhatsApp conversation with two messages, and notifications (one failed with a send row)."""
    from vani.models import Conversation, Message, Notification, NotificationSend

    now = utcnow()
    conv = Conversation(provider="kapso", provider_ref="conv-1", channel="whatsapp",
                        prospect_id=prospect.id if prospect else None, phone="+15550100002",
                        contact_name="Ana L", status="active", last_message_at=now)
    db.session.add(conv)
    db.session.flush()
    add_inbound(conv, provider_message_id="wamid.1", text="Hi, can we move the call?", message_at=now - timedelta(minutes=3))
    db.session.add_all([
        Message(conversation_id=conv.id, provider="kapso", provider_message_id="wamid.2", direction="outbound",
                type="text", text="Sure, pick a time", status="read", message_at=now - timedelta(minutes=2)),
    ])
    sent = Notification(kind="payment.received", moment_key="seed:paid", status="sent",
                        prospect_id=prospect.id if prospect else None, data={}, attempts=1, sent_at=now)
    failed = Notification(kind="meeting.completed", moment_key="seed:done", status="failed",
                          prospect_id=prospect.id if prospect else None, data={}, attempts=3,
                          last_error="slack: HTTP 500")
    db.session.add_all([sent, failed])
    db.session.flush()
    db.session.add(NotificationSend(notification_id=failed.id, channel="slack", status="failed", attempts=3,
                                    last_error="HTTP 500 from Slack", next_attempt_at=None))
    db.session.add(NotificationSend(notification_id=sent.id, channel="slack", status="sent", attempts=1, sent_at=now))
    db.session.commit()
    return {"conversation": conv, "sent_notification": sent, "failed_notification": failed}


def seed_reply(conv) -> tuple:
    """A reply Vani failed to send for good (with its send), and an auto-reply rule."""
    from vani.models import AutoReplyRule, Message, MessageSend

    msg = Message(conversation_id=conv.id, provider=conv.provider, provider_message_id="vani:seed-reply",
                  direction="outbound", type="text", text="Are you free at 3?", status="failed", origin="dashboard",
                  error_code="131047", error_detail="Re-engagement message", message_at=utcnow())
    db.session.add(msg)
    db.session.flush()
    db.session.add(MessageSend(conversation_id=conv.id, message_id=msg.id, kind="text", intent_key="seed:reply",
                               payload={"text": msg.text}, status="dead", attempts=1, last_error="Re-engagement message"))
    rule = AutoReplyRule(name="Ayuda", trigger="keyword", match="ayuda", reply_text="¿En qué puedo ayudarte?")
    db.session.add(rule)
    db.session.commit()
    return msg, rule


def seed_mailbox(address: str = "sales@example.com"):
    """An IMAP mailbox (its password stored encrypted), idle."""
    from vani.models import Mailbox

    mailbox = Mailbox(kind="imap", address=address, imap_host="imap.example.com", imap_port=993,
                      imap_user=address, imap_password="imap-secret-password", folders=["INBOX", "Sent"])
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def seed_all() -> dict:
    data = seed_core()
    data.update(seed_outbound())
    data.update(seed_messaging(data["prospect"]))
    return data


def dead_redis():
    """A Redis client pointing at a closed port, failing at once (no retries)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def every_row() -> dict[str, list[tuple]]:
    """Every row of every table, fresh from the database: equal before and after a request that
    changed nothing."""
    from sqlalchemy import select

    db.session.expire_all()
    return {table.name: sorted(map(tuple, db.session.execute(select(table)).all()), key=repr)
            for table in db.metadata.sorted_tables}


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def seed_timeline(client, run_worker) -> int:
    """Lena books on Calendly (event, meeting, stage change) and cancels (back to lead); a note, a
    WhatsApp message, an email and a form lead of hers. Returns her prospect id."""
    from tests.bookings import calendly, prospect
    from tests.signing import post_calendly
    from vani.models import Conversation, Email, Lead

    post_calendly(client, calendly("invitee.created", 1, start="2026-02-20T10:00:00.000000Z"))
    run_worker()
    lena_id = prospect("lena@example.test").id
    conv = Conversation(provider="kapso", provider_ref="conv-lena", channel="whatsapp", prospect_id=lena_id,
                        phone="+15550100009", status="active", last_message_at=T0)
    db.session.add(conv)
    db.session.flush()
    add_inbound(conv, provider_message_id="wamid.lena", text="Can we talk on Friday?", message_at=T0)
    db.session.add_all([
        Email(prospect_id=lena_id, provider_message_id="INBOX/1", message_id="<m1@client.test>", direction="inbound",
              from_address="lena@example.test", to=["sales@example.com"], subject="Pricing", snippet="How much?",
              sent_at=T0 + timedelta(minutes=1)),
        Lead(provider="cal_com", submission_ref="sub-1", form_name="Contact us", prospect_id=lena_id,
             answers=[{"question": "Team size", "answer": "12"}], created_at=T0 - timedelta(days=1)),
        ProspectNote(prospect_id=lena_id, body="Asked for a discount", note_key="t:1",
                     created_at=T0 + timedelta(minutes=2)),
    ])
    db.session.commit()
    post_calendly(client, calendly("invitee.canceled", 1, canceled_at="2026-01-03T00:00:00Z"))
    run_worker()
    return lena_id


def seed_activity(hours: int = 48) -> None:
    """Two days of hourly rollups (deliveries, latency, lag), as the work engine would have kept
    them, and prospects at every stage: the overview's charts have something to draw."""
    import random

    from vani import tenancy
    from vani.models import RollupMetric
    from vani.work import rollups

    from vani.dashboard.recount import recount

    org, now, rng = tenancy.require(), utcnow(), random.Random(7)
    stages = ["lead"] * 12 + ["booked"] * 7 + ["met"] * 4 + ["no_show"] * 2 + ["paid"] * 3
    db.session.add_all([Prospect(email=f"funnel{i}@example.com", stage=s) for i, s in enumerate(stages)])
    recount(org)  # the funnel's gauge, for prospects made around the work engine
    tally = rollups.Tally()
    for h in range(hours):
        at = now - timedelta(hours=h)
        busy = 1 + (h % 24 in range(8, 19))
        tally.count(org, at, RollupMetric.DELIVERIES, "delivered", rng.randint(10, 30) * busy)
        tally.count(org, at, RollupMetric.DELIVERIES, "retrying", rng.choice((0, 0, 1, 3)))
        for _ in range(12):
            tally.observe(org, at, RollupMetric.DELIVERY_LATENCY, rng.lognormvariate(-1.5, 1.2))
            tally.observe(org, at, RollupMetric.EVENT_LAG, rng.lognormvariate(-3, 1))
    rollups.add(tally)
    db.session.commit()
