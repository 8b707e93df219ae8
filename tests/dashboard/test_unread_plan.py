"""The navigation's unread count is drawn on every page: it must read the conversations with
something unread through their partial index, not every conversation of the organisation.
Checked on the database the suite runs on (SQLite or PostgreSQL) with the statement the app sends."""
from __future__ import annotations

from tests.plans import plan
from tests.web.seed import seed_messaging
from vani.dashboard import messaging
from vani.extensions import db
from vani.models import Conversation


def test_the_unread_conversations_are_found_through_their_partial_index(app):
    seed_messaging()
    assert db.session.execute(messaging.unread_conversations(10)).scalars().all()
    # The organisation's condition, as the tenancy listener adds it when the app runs it.
    stmt = messaging.unread_conversations(10).where(Conversation.org_id == 1)
    assert "ix_conversations_unread" in plan(stmt)
