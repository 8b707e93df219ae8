"""Live updates for the dashboard: short messages (``event:<id>``, ``delivery:<id>`` …) on a
Redis pub/sub channel, relayed to browsers as Server-Sent Events. Best effort: with Redis down
pages simply stop updating by themselves."""
from __future__ import annotations

from redis.exceptions import RedisError

from vani.extensions import redis_ext

CHANNEL = "vani:live"


def publish(messages: list[str]) -> None:
    """Publish each message, in one round trip."""
    if not messages or not redis_ext.available():
        return
    try:
        pipe = redis_ext.client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(CHANNEL, message)
        pipe.execute()
    except RedisError as exc:
        redis_ext.trip(exc)
