"""What every channel shares."""
from __future__ import annotations


class ChannelError(Exception):
    """A send failed in a way worth retrying; the message is shown on the dashboard."""
