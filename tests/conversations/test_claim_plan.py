"""A reply's claim asks whether another reply of its conversation is still to go out: that must
be read through the small index of open replies, not the conversation's whole history of sends.
Checked on PostgreSQL with the statement the app sends (SQLite, without statistics, picks the
conversation's index by rule of thumb: still one conversation's rows)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.plans import plan
from vani.conversations.sending import MESSAGE_SENDS
from vani.models.base import utcnow
from vani.work.claims import _due


def test_a_replys_claim_reads_the_open_replies_through_their_index(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the plan that matters is PostgreSQL's")
    t = MESSAGE_SENDS.model.__table__
    claim = (select(t.c.id).where(_due(MESSAGE_SENDS, t, utcnow()))
             .order_by(t.c.next_attempt_at, t.c.id).limit(20))
    assert "ix_message_sends_open_replies" in plan(claim)
