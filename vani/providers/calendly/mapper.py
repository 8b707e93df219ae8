"""Maps a verified payload to domain changes (see ``vani.services.mapping``)."""
from __future__ import annotations

from vani.providers.base import Outcome


def map_event(body: dict, ctx) -> Outcome:
    return Outcome.ignored("mapping not written yet")
