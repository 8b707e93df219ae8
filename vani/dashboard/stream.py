"""Server-Sent Events fed by Redis pub/sub, for live dashboard updates.

The stream is bounded: it sends a heartbeat comment when idle, ends after ``max_seconds``
(the browser's EventSource reconnects by itself after ``retry`` ms), and closes its Redis
subscription when the client goes away (the server then closes the generator).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

ALLOWED_PREFIXES = ("event:", "delivery:", "notification:", "message:", "conversation:", "prospect:", "meeting:")


def _format(message: str) -> str:
    kind = message.split(":", 1)[0]
    return f"event: {kind}\ndata: {message}\n\n"


def sse_stream(client, channel: str, max_seconds: float = 25.0, heartbeat: float = 10.0,
               retry_ms: int = 1000, poll: float = 0.5) -> Iterator[str]:
    """Yield SSE frames for every message published on ``channel`` until ``max_seconds``.

    ``client`` None (Redis known to be down) or unreachable: one frame asking the browser to
    try again in a while.
    """
    unavailable = f"retry: {retry_ms * 10}\n: live updates unavailable\n\n"
    if client is None:
        yield unavailable
        return
    try:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel)
    except RedisError as exc:
        from vani.extensions import redis_ext

        redis_ext.trip(exc)
        log.warning("live updates unavailable, Redis unreachable: %s", exc)
        yield unavailable
        return
    try:
        yield f"retry: {retry_ms}\n: connected\n\n"
        started = last_sent = time.monotonic()
        while time.monotonic() - started < max_seconds:
            message = pubsub.get_message(timeout=poll)
            now = time.monotonic()
            if message and message.get("type") == "message":
                data = message["data"]
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
                if text.startswith(ALLOWED_PREFIXES) and "\n" not in text:
                    last_sent = now
                    yield _format(text)
            elif now - last_sent >= heartbeat:
                last_sent = now
                yield ": ping\n\n"
    except RedisError as exc:
        log.warning("live update stream ended, Redis error: %s", exc)
    finally:
        try:
            pubsub.close()
        except RedisError:  # pragma: no cover - closing a dead connection
            pass
