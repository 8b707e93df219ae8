"""Replies of several conversations in flight at once, through a fake Kapso on loopback: one
call at a time per conversation (its replies go out in the order they were written), a lease
lost during the call writes no outcome, and a stop hands back the sends not begun."""
from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.conversations.helpers import (
    KAPSO_KEY,
    conversation,
    meta_ok,
    process,
    receive_kapso,
    send_lane,
    sends,
)
from tests.loopback import Gate, Loopback
from tests.work.helpers import LeaseTaker
from vani.conversations.sending import MESSAGE_SENDS
from vani.models.replies import MessageSend
from vani.work import claims, runner, stopping

CONVERSATIONS = 3


@pytest.fixture
def kapso(app):
    made: list[Loopback] = []

    def make(answer=None, gate: Gate | None = None) -> Loopback:
        ids = itertools.count(1)
        made.append(Loopback(answer or (lambda path, body: (200, json.dumps(meta_ok(f"wamid.out{next(ids)}"))
                                                             .encode())),
                             key=lambda path, body: json.loads(body)["to"], gate=gate))
        app.config.update(KAPSO_API_BASE_URL=made[-1].url(), KAPSO_API_KEY=KAPSO_KEY)
        return made[-1]

    yield make
    for server in made:
        server.close()
    stopping.clear()


def conversations(client, db) -> list:
    for n in range(CONVERSATIONS):
        receive_kapso(client, "hola", f"wamid.in{n}", conv=f"conv_{n}", phone=f"+1555000010{n}")
    process()
    return [conversation(db, f"conv_{n}") for n in range(CONVERSATIONS)]


def reply(api, conv, text: str) -> None:
    r = api.post(f"/api/v1/conversations/{conv.id}/messages", json={"text": text},
                 headers={"Idempotency-Key": text})
    assert r.status_code == 202, r.json


def test_conversations_are_sent_at_once_each_one_in_order(app, client, api, db, kapso):
    # The first calls are held a second, or until a fourth is in flight (one per conversation forbids it).
    fake = kapso(gate=Gate(CONVERSATIONS + 1, patience=1.0))
    convs = conversations(client, db)
    for i in range(3):
        for n, conv in enumerate(convs):
            reply(api, conv, f"c{n} r{i}")
    send_lane()
    assert fake.most["*"] == CONVERSATIONS  # all three conversations at once
    assert all(fake.most[f"1555000010{n}"] == 1 for n in range(CONVERSATIONS))  # never two of one
    for n in range(CONVERSATIONS):
        texts = [json.loads(body)["text"]["body"] for _, body in fake.seen if json.loads(body)["to"].endswith(str(n))]
        assert texts == [f"c{n} r0", f"c{n} r1", f"c{n} r2"]
    assert [s.status for s in sends(db)] == ["sent"] * 9


def test_a_lease_lost_during_the_call_writes_no_outcome(app, client, api, db, kapso):
    take_over = LeaseTaker(app, MessageSend)  # another worker takes the rows over meanwhile
    ids = itertools.count(1)

    def answer(path, body):
        take_over()
        return 200, json.dumps(meta_ok(f"wamid.out{next(ids)}")).encode()

    kapso(answer)
    convs = conversations(client, db)
    for n, conv in enumerate(convs):
        reply(api, conv, f"c{n} r0")
    claim = claims.claim(MESSAGE_SENDS, app.config)
    runner.run_claim(MESSAGE_SENDS, claim)
    assert take_over.taken.is_set()
    rows = sends(db)
    assert [(s.status, s.lease_token, s.sent_at) for s in rows] == [("sending", "another-worker", None)] * 3
    assert claim.settled == dict.fromkeys(s.id for s in rows)  # each outcome refused, none written


def test_a_stop_hands_back_the_sends_not_begun(app, client, api, db, kapso):
    ids = itertools.count(1)

    def answer(path, body):
        stopping.request()  # the worker is asked to stop while the first calls are out
        return 200, json.dumps(meta_ok(f"wamid.out{next(ids)}")).encode()

    fake = kapso(answer)
    convs = conversations(client, db)
    for i in range(2):
        for n, conv in enumerate(convs):
            reply(api, conv, f"c{n} r{i}")
    claim = claims.claim(MESSAGE_SENDS, app.config)
    runner.run_claim(MESSAGE_SENDS, claim)
    rows = sends(db)
    assert len(fake.seen) == CONVERSATIONS  # the first reply of each conversation, begun before the stop
    assert [(s.status, s.attempts) for s in rows[:3]] == [("sent", 1)] * 3
    assert [(s.status, s.attempts, s.lease_token) for s in rows[3:]] == [("pending", 0, None)] * 3


def test_another_worker_never_claims_a_later_reply_of_a_conversation(app, client, api, db, kapso):
    fake = kapso()
    first, second, _ = conversations(client, db)
    for i in range(2):
        reply(api, first, f"c0 r{i}")
    reply(api, second, "c1 r0")
    r0, r1, other = (s.id for s in sends(db) if s.kind != "read")
    one = claims.claim(MESSAGE_SENDS, app.config)  # a worker takes the first reply of each conversation
    assert sorted(one.ids) == [r0, other]
    assert claims.claim(MESSAGE_SENDS, app.config) is None  # the later reply waits for the earlier one
    runner.run_claim(MESSAGE_SENDS, one)
    two = claims.claim(MESSAGE_SENDS, app.config)  # sent: now the next one may go
    assert two.ids == [r1]
    runner.run_claim(MESSAGE_SENDS, two)
    assert [json.loads(body)["text"]["body"] for _, body in fake.seen] == ["c0 r0", "c1 r0", "c0 r1"]


def test_a_reply_waits_while_an_earlier_one_is_to_be_tried_again(app, client, api, db, kapso):
    answers = iter([(503, b'{"error": "busy"}')])
    fake = kapso(lambda path, body: next(answers, (200, json.dumps(meta_ok("wamid.ok")).encode())))
    conv = conversations(client, db)[0]
    reply(api, conv, "c0 r0")
    reply(api, conv, "c0 r1")
    runner.run_claim(MESSAGE_SENDS, claims.claim(MESSAGE_SENDS, app.config))
    first, later = (s for s in sends(db) if s.kind != "read")
    assert (first.status, later.status) == ("failed", "pending")
    db.session.execute(update(MessageSend).where(MessageSend.id == first.id).values(
        next_attempt_at=first.next_attempt_at + timedelta(hours=1)))  # its retry is not yet due
    db.session.commit()
    assert claims.claim(MESSAGE_SENDS, app.config) is None  # the later reply does not overtake it
    assert len(fake.seen) == 1


def test_a_reply_retried_by_hand_waits_while_a_later_one_is_being_sent(app, client, api, db, kapso):
    from vani.conversations import outgoing

    fake = kapso()
    conv = conversations(client, db)[0]
    reply(api, conv, "c0 r0")
    reply(api, conv, "c0 r1")
    first, later = (s for s in sends(db) if s.kind != "read")
    db.session.execute(update(MessageSend).where(MessageSend.id == first.id).values(status="dead"))
    db.session.commit()  # the first reply failed for good
    taken = claims.claim(MESSAGE_SENDS, app.config)  # a worker takes the later one
    assert taken.ids == [later.id]
    outgoing.requeue(first.message_id)  # someone retries the first by hand meanwhile
    assert claims.claim(MESSAGE_SENDS, app.config) is None  # not while the later one is out
    runner.run_claim(MESSAGE_SENDS, taken)
    again = claims.claim(MESSAGE_SENDS, app.config)
    assert again.ids == [first.id]
    runner.run_claim(MESSAGE_SENDS, again)
    assert [json.loads(body)["text"]["body"] for _, body in fake.seen] == ["c0 r1", "c0 r0"]


def test_a_providers_retry_after_holds_a_reply_no_longer_than_the_longest_scheduled_wait(app):
    """The schedule's longest wait, however few attempts are allowed; five minutes at least."""
    from datetime import datetime, timezone

    from vani.conversations.sending import policy

    now = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
    rules = policy({**app.config, "VANI_RETRY_JITTER": False})
    assert rules.next_attempt(1, now, retry_after="86400") == now + timedelta(minutes=30)  # "10s,30s,2m,10m,30m"
    assert rules.next_attempt(1, now, retry_after="60") == now + timedelta(seconds=60)
    short = policy({**app.config, "VANI_RETRY_JITTER": False, "VANI_SEND_RETRY_SCHEDULE": "0s",
                    "VANI_SEND_MAX_ATTEMPTS": 2})  # a short schedule still lets a provider ask for minutes
    assert short.next_attempt(1, now, retry_after="120") == now + timedelta(seconds=120)
    assert short.next_attempt(1, now, retry_after="3600") == now + timedelta(minutes=5)
    assert short.next_attempt(1, now) == now
