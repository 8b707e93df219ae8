"""Live updates: Server-Sent Events fed by Redis pub/sub, and the fragments pages re-fetch."""
from __future__ import annotations

import time
import uuid

from tests.clients import open_stream, read_until
from tests.web.seed import add_event, dead_redis, seed_outbound
from vani import tenancy
from vani.dashboard import live


def test_stream_relays_published_messages(login, redis_client):
    client = login("viewer")
    response, chunks = open_stream(client)
    first = next(chunks).decode()
    assert first.startswith("retry: 1000\n")  # subscribed; the browser reconnects after 1 s
    redis_client.publish(live.channel(tenancy.require()), "event:42")
    frame = read_until(chunks, "data: event:42")
    assert "event: event\ndata: event:42\n\n" in frame
    redis_client.publish(live.channel(tenancy.require()), "delivery:7")
    assert "event: delivery\ndata: delivery:7\n\n" in read_until(chunks, "delivery:7")
    response.close()


def test_stream_drops_unknown_messages_and_sends_heartbeats(app, login, redis_client):
    from vani.dashboard.stream import sse_stream

    channel = f"test:live:{uuid.uuid4().hex}"  # pub/sub is server-wide: keep other test runs out
    stream = sse_stream(redis_client, channel, max_seconds=0.8, heartbeat=0.2, poll=0.05)
    assert next(stream).startswith("retry:")
    redis_client.publish(channel, "evil\ndata: x")
    redis_client.publish(channel, "other:1")
    frames = list(stream)  # ends by itself after max_seconds
    assert frames and all(f == ": ping\n\n" for f in frames)


def test_stream_is_bounded_and_unsubscribes(app, redis_client):
    from vani.dashboard.stream import sse_stream

    channel = f"test:live:{uuid.uuid4().hex}"

    def subscribers() -> int:
        return dict(redis_client.pubsub_numsub(channel)).get(channel.encode(), 0)

    started = time.monotonic()
    frames = list(sse_stream(redis_client, channel, max_seconds=0.5, heartbeat=10, poll=0.1))
    assert time.monotonic() - started < 3
    assert frames[0].startswith("retry:")
    assert subscribers() == 0
    # A client that goes away: the server closes the generator, which unsubscribes.
    stream = sse_stream(redis_client, channel, max_seconds=60, heartbeat=10, poll=0.1)
    next(stream)
    assert subscribers() == 1
    stream.close()
    assert subscribers() == 0


def test_processing_publishes_and_the_stream_delivers_it(login, redis_client, run_worker):
    """End to end: a webhook arrives, and the stream names the event (ingest publishes)."""
    from tests.signing import post_calendly

    client = login("viewer")
    response, chunks = open_stream(client)
    next(chunks)
    body = {"event": "invitee.created", "created_at": "2026-01-01T00:00:00Z",
            "payload": {"uri": "https://api.calendly.com/x/invitees/5", "email": "live@example.com"}}
    event_id = post_calendly(client, body).json["event_id"]
    assert f"data: event:{event_id}" in read_until(chunks, f"event:{event_id}")
    response.close()


def test_stream_without_redis_tells_the_browser_to_wait(app, login):
    client = login("viewer")
    saved = app.extensions["vani_redis"]
    app.extensions["vani_redis"] = dead_redis()
    try:
        r = client.get("/dashboard/stream")
    finally:
        app.extensions["vani_redis"] = saved
    assert r.status_code == 200
    assert "live updates unavailable" in r.get_data(as_text=True)


def test_partial_fragments_for_live_regions(login):
    client = login("viewer")
    event = add_event()
    rows = client.get("/dashboard/events?partial=1").get_data(as_text=True)
    assert rows.lstrip().startswith("<tr") and f'data-id="{event.id}"' in rows and "<html" not in rows
    page = client.get("/dashboard/events").get_data(as_text=True)
    assert 'data-live-src="/dashboard/events?partial=1"' in page
    data = seed_outbound()
    rows = client.get("/dashboard/deliveries?partial=1&status=failed").get_data(as_text=True)
    assert f'data-id="{data["failed"].id}"' in rows and "<html" not in rows
    overview = client.get("/dashboard/?partial=1").get_data(as_text=True)
    assert "<svg" in overview and "<html" not in overview
    detail = client.get(f"/dashboard/events/{event.id}?partial=1").get_data(as_text=True)
    assert "Status" in detail and "<html" not in detail
    refused = client.get("/dashboard/events?cursor=x")
    assert refused.status_code == 400
    assert "cursor: not a cursor this API returned" in refused.get_data(as_text=True)
