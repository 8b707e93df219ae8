"""The ``owner`` and ``admins`` channels: email addressed to people Vani knows rather than to
``VANI_NOTIFY_EMAIL_TO`` — the notification's owner (its meeting's, else its prospect's), or
the organisation's admins."""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from vani.extensions import db
from vani.models import Channel, Meeting, Membership, Notification, Prospect, Role, SendStatus, User
from vani.notifications import mail
from vani.notifications.base import Sender
from vani.notifications.render import Rendered


def _owner_address(row: Meeting | Prospect | None) -> str | None:
    if row is None:
        return None
    if row.owner_id is not None:
        user = db.session.get(User, row.owner_id)
        if user is not None and user.email:
            return user.email
    return row.owner_email or None


def owner(n: Notification) -> str | None:
    """The owner's address: the meeting's owner, else the prospect's (a member's email when the
    owner is a member, else ``owner_email``); None without an owner."""
    meeting = db.session.get(Meeting, n.meeting_id) if n.meeting_id else None
    prospect = db.session.get(Prospect, n.prospect_id) if n.prospect_id else None
    if prospect is None and meeting is not None and meeting.prospect_id:
        prospect = db.session.get(Prospect, meeting.prospect_id)
    return _owner_address(meeting) or _owner_address(prospect)


def admins(org_id: int) -> list[str]:
    """The email addresses of the organisation's admins, in the order they joined."""
    return list(db.session.execute(
        select(User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, Membership.role == Role.ADMIN)
        .order_by(Membership.id)).scalars())


def addressed(channel: str, n: Notification, cfg: Mapping) -> tuple[Mapping, str | None]:
    """``cfg`` with ``VANI_NOTIFY_EMAIL_TO`` set to the channel's people, or the reason there are
    none (the send is then skipped)."""
    if channel == Channel.OWNER:
        found = owner(n)
        recipients, reason = ([found] if found else []), "the notification has no owner"
    else:
        recipients, reason = admins(n.org_id), "the organisation has no admins"
    if not recipients:
        return cfg, reason
    return {**cfg, "VANI_NOTIFY_EMAIL_TO": ", ".join(recipients)}, None


def send(r: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
    """Email the people ``addressed`` put in ``cfg``."""
    return mail.send(r, cfg)


class PeopleSender(Sender):
    """``owner`` or ``admins``: the install's SMTP server, to the people ``addressed`` finds."""
    needs = ("SMTP_URL",)
    to_people = True

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def address(self, notification: Notification, cfg: Mapping) -> tuple[Mapping, str | None]:
        return addressed(self.channel, notification, cfg)

    def send(self, rendered: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
        return send(rendered, cfg)
