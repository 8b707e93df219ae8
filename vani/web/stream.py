"""GET /dashboard/stream: Server-Sent Events for live updates."""
from __future__ import annotations

from flask import Response, current_app

from vani import tenancy
from vani.dashboard import live
from vani.dashboard.stream import sse_stream
from vani.extensions import redis_ext
from vani.web.blueprint import bp


@bp.get("/stream")
def stream():
    client = redis_ext.client if redis_ext.available() else None
    max_seconds = current_app.config["VANI_SSE_MAX_SECONDS"]
    channel = live.channel(tenancy.require())  # this organisation's updates only
    response = Response(sse_stream(client, channel, max_seconds=max_seconds), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
