"""Jobs for inbound events."""
from __future__ import annotations

from vani.services import processing, queue

BATCH = 200


def drain_inbound() -> int:
    """Process event ids from the inbound list until it is empty. Returns how many were processed."""
    done = 0
    while True:
        ids = queue.pop_events(BATCH)
        if not ids:
            if queue.release_kick():
                continue
            return done
        processed = processing.claim_many(ids)
        for event_id in processed:
            processing.process_claimed(event_id)
        done += len(processed)
        if processed:
            processing.run_hooks(processed)


def process_event(event_id: int, force: bool = False) -> str | None:
    """Process (or with ``force``, replay) one event."""
    status = processing.process_event(event_id, force=force)
    if status is not None:
        processing.run_hooks([event_id])
    return status


def sweep() -> int:
    return processing.sweep()
