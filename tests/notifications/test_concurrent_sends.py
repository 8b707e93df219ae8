"""Notification sends in flight at once, to a Slack stand-in on loopback: at most ``PER_CHANNEL``
to one organisation's channel, a lease lost during the calls writes no outcome, and a stop
hands back the sends not begun."""
from __future__ import annotations

import pytest
from flask import current_app

from tests.loopback import Gate, Loopback
from tests.notifications.helpers import PUBLIC, inbound, post_twilio, sends
from tests.work.helpers import LeaseTaker, drain
from vani.models import NotificationSend
from vani.notifications.sending import NOTIFICATION_SENDS, PER_CHANNEL
from vani.processing.events import EVENTS
from vani.work import claims, runner, stopping

HOOK = "/services/T0/B0/x"


@pytest.fixture
def slack(app):
    made: list[Loopback] = []

    def make(answer=lambda path, body: (200, b"ok"), gate: Gate | None = None) -> Loopback:
        made.append(Loopback(answer, gate=gate))
        app.config.update(SLACK_WEBHOOK_URL=made[-1].url(HOOK), PUBLIC_URL=PUBLIC,
                          VANI_NOTIFY_ROUTES="message.received=slack;*=none")
        return made[-1]

    yield make
    for server in made:
        server.close()
    stopping.clear()


def notifications(client, count: int) -> None:
    """``count`` WhatsApp messages from as many people: a Slack send each, not sent yet."""
    for n in range(count):
        post_twilio(client, inbound(f"SMc{n}", sender=f"%2B155501000{n:02d}"))
    drain(EVENTS)


def claim_and_run():
    claim = claims.claim(NOTIFICATION_SENDS, current_app.config)
    runner.run_claim(NOTIFICATION_SENDS, claim)
    return claim


def test_several_are_in_flight_never_more_than_the_channel_limit(app, client, db, slack):
    # The first calls are held a second, or until one more than the limit is in flight.
    fake = slack(gate=Gate(PER_CHANNEL + 1, patience=1.0))
    notifications(client, 2 * PER_CHANNEL)
    drain(NOTIFICATION_SENDS)
    assert fake.most[HOOK] == PER_CHANNEL  # several at once, never more than the limit
    rows = sends(db)
    assert len(fake.seen) == len(rows) == 2 * PER_CHANNEL
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}


def test_a_lease_lost_during_the_calls_writes_no_outcome(app, client, db, slack):
    take_over = LeaseTaker(app, NotificationSend)  # another worker takes the rows over meanwhile

    def answer(path, body):
        take_over()
        return 200, b"ok"

    slack(answer)
    notifications(client, 3)
    claim = claim_and_run()
    assert take_over.taken.is_set()
    rows = sends(db)
    assert [(r.status, r.lease_token, r.sent_at) for r in rows] == [("sending", "another-worker", None)] * 3
    assert claim.settled == dict.fromkeys(r.id for r in rows)  # each outcome refused, none written


def test_a_stop_hands_back_the_sends_not_begun(app, client, db, slack):
    def answer(path, body):
        stopping.request()  # the worker is asked to stop while the first calls are out
        return 200, b"ok"

    fake = slack(answer)
    notifications(client, PER_CHANNEL + 3)
    claim_and_run()
    rows = sends(db)
    assert len(fake.seen) == PER_CHANNEL  # the ones begun before the stop, recorded
    assert [(r.status, r.attempts) for r in rows[:PER_CHANNEL]] == [("sent", 1)] * PER_CHANNEL
    assert [(r.status, r.attempts, r.lease_token) for r in rows[PER_CHANNEL:]] == [("pending", 0, None)] * 3
