"""Live updates for the dashboard: short messages (``event:<id>``, ``delivery:<id>`` …) on one
Redis pub/sub channel per organisation, relayed to its members' browsers as Server-Sent Events
(a browser signed into one organisation never hears another's). Best effort: with Redis down
pages simply stop updating by themselves."""
from __future__ import annotations

from redis.exceptions import RedisError

from vani.extensions import redis_ext

CHANNEL = "vani:live:{org_id}"


def channel(org_id: int) -> str:
    return CHANNEL.format(org_id=org_id)


def publish(messages: list[str], org_id: int) -> None:
    """Publish each message to the organisation's channel, in one round trip."""
    publish_many([(org_id, m) for m in messages])


def publish_many(messages: list[tuple[int, str]]) -> None:
    """``(org_id, message)`` pairs, each to its organisation's channel, in one round trip."""
    if not messages or not redis_ext.available():
        return
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        add_to(pipe, messages)
        pipe.execute()
    except RedisError as exc:
        redis_ext.trip(exc)


def add_to(pipe, messages: list[tuple[int, str]]) -> None:
    """Add a PUBLISH of each ``(org_id, message)`` to a Redis pipeline (the unit of work's publisher)."""
    for org_id, message in messages:
        pipe.publish(channel(org_id), message)
