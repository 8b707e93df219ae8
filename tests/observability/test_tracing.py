"""Request ids: taken from X-Request-ID or made, sent back, and followed in the JSON logs from
the webhook call into its processing, its deliveries and its notifications."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest

from tests.notifications.helpers import PUBLIC, inbound
from tests.outbound.helpers import deliver, subscribe
from tests.whatsapp_signing import post_twilio
from vani import tracing


@pytest.fixture
def json_logs():
    """Every log line of this process, as the JSON handler writes it (DEBUG included: an accepted
    webhook call is logged at DEBUG, the access log having it already)."""
    stream = io.StringIO()
    handler = tracing.handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def test_the_id_is_taken_or_made_and_sent_back(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "no spaces or \u00e9 please"}).headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]


def test_one_id_follows_a_webhook_to_its_processing_deliveries_and_notifications(
        app, client, run_worker, httpserver, json_logs):
    httpserver.expect_request("/hook").respond_with_data("ok")
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    app.config.update(SLACK_WEBHOOK_URL=httpserver.url_for("/slack"), PUBLIC_URL=PUBLIC,
                      VANI_NOTIFY_ROUTES="message.received=slack;*=none")
    subscribe(httpserver.url_for("/hook"))
    answer = post_twilio(client, inbound("SM1"), headers={"X-Request-ID": "trace-77"})
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "trace-77"
    run_worker()
    deliver()
    run_worker()
    traced = [line for line in json_logs() if line.get("request_id") == "trace-77"]
    loggers = {line["logger"] for line in traced}
    assert {"vani.inbound", "vani.processing.events", "vani.outbound.delivery",
            "vani.notifications.sending"} <= loggers, loggers
    assert all({"time", "level", "message"} <= set(line) for line in traced)
    delivered = next(line for line in traced if line["logger"] == "vani.outbound.delivery")
    assert ": 200 in " in delivered["message"]


def test_the_text_format_names_the_id_too():
    stream = io.StringIO()
    log = logging.getLogger("vani.test.tracing")
    log.addHandler(tracing.handler("text", stream))
    log.propagate = False
    with tracing.bound("r-1"):
        log.warning("inside")
    log.warning("outside")
    assert "[r-1]: inside" in stream.getvalue() and "[-]: outside" in stream.getvalue()


def test_a_worker_process_logs_json_under_the_event_s_id(tmp_path):
    """``VANI_LOG_FORMAT=json`` in a separate process: its lines are JSON and carry a bound id."""
    code = ("from vani import create_app, tracing; import logging; app = create_app()\n"
            "with tracing.bound('ev-9'):\n    logging.getLogger('vani.worker').info('processing')")
    env = {**os.environ, "VANI_ENV": "development", "FLASK_DEBUG": "0", "VANI_LOG_FORMAT": "json",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=os.getcwd())
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert {"logger": "vani.worker", "message": "processing", "request_id": "ev-9"}.items() <= \
        next(line for line in lines if line["logger"] == "vani.worker").items(), out.stderr[-2000:]
