"""What every channel shares: the sender interface and the error worth retrying."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from vani.models import Channel, SendStatus

if TYPE_CHECKING:
    from vani.models import Notification
    from vani.notifications.render import Rendered


class ChannelError(Exception):
    """A send failed in a way worth retrying; the message is shown on the dashboard."""


class Sender:
    """One channel: what it needs, who it addresses, and how it sends a rendered notification."""

    channel: Channel
    needs: ClassVar[tuple[str, ...]] = ()  # settings that must be set, in the order they are checked
    by_default: ClassVar[bool] = False  # an unset VANI_NOTIFY_ROUTES sends here when it is configured
    to_people: ClassVar[bool] = False  # recipients come from the notification and the members

    def missing_setting(self, cfg: Mapping) -> str | None:
        """Why this channel cannot send with this configuration, or None when it can."""
        return next((f"{name} is not set" for name in self.needs if not cfg.get(name)), None)

    def address(self, notification: Notification, cfg: Mapping) -> tuple[Mapping, str | None]:
        """``cfg`` for this notification's send, or the reason there is nobody to send it to."""
        return cfg, None

    def planned(self, kind: str) -> tuple[SendStatus, str] | None:
        """The outcome when it is already known as the notification is raised (nothing to send)."""
        return None

    def send(self, rendered: Rendered, cfg: Mapping) -> tuple[SendStatus, str]:
        raise NotImplementedError
