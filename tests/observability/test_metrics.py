"""GET /metrics (this host's counts) and GET /metrics/state (what waits, for the whole deployment):
who may read them, what each holds, and the counters after a webhook, a delivery and a failure."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from prometheus_client.parser import text_string_to_metric_families

from tests.bookings import calendly
from tests.outbound.helpers import deliver, subscribe
from tests.signing import post_calendly


def samples_of(client, path: str) -> dict[tuple, float]:
    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == "text/plain", r.get_data()[:200]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.get_data(as_text=True)) for s in family.samples}


def scrape(client) -> dict[tuple, float]:
    """What Prometheus holds after scraping this host and the deployment's state."""
    return {**samples_of(client, "/metrics"), **samples_of(client, "/metrics/state")}


def test_a_host_scrape_counts_and_the_state_scrape_reads_what_waits(client, db):
    """Gauges read from the shared database come from the state scrape alone: with every host
    exporting them, a sum over hosts would count each waiting item once per host."""
    assert post_calendly(client, calendly("invitee.created", 4)).status_code == 200
    host = {name for name, _ in samples_of(client, "/metrics")}
    state = {name for name, _ in samples_of(client, "/metrics/state")}
    assert "vani_webhooks_received_total" in host and "vani_webhooks_received_total" not in state
    assert {"vani_work_items_waiting", "vani_dead_letters_waiting", "vani_queue_length"} <= state
    assert not host & {"vani_work_items_waiting", "vani_dead_letters_waiting", "vani_queue_length", "vani_deliveries"}


def test_the_state_scrape_has_the_same_gate(app, client):
    assert client.get("/metrics/state", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    app.config["VANI_METRICS_TOKEN"] = "scrape-me"
    assert client.get("/metrics/state").status_code == 401
    ok = client.get("/metrics/state", headers={"Authorization": "Bearer scrape-me"},
                    environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert ok.status_code == 200


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_for_loopback_unless_a_token_is_set(app, client):
    assert client.get("/metrics").status_code == 200
    away = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert away.status_code == 403 and away.get_json()["error"] == "forbidden"
    app.config["VANI_METRICS_TOKEN"] = "scrape-me"
    refused = client.get("/metrics")
    assert refused.status_code == 401  # loopback too, once a token is set
    assert refused.json["error"] == "unauthorized"
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "unauthorized"
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert ok.status_code == 200 and b"vani_webhooks_received_total" in ok.data


def test_counters_after_a_webhook_a_delivery_and_a_failure(app, client, run_worker, httpserver):
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/down").respond_with_data("no", status=500)
    good, bad = subscribe(httpserver.url_for("/ok"))[0].id, subscribe(httpserver.url_for("/down"))[0].id
    before = scrape(client)
    assert post_calendly(client, calendly("invitee.created", 1)).status_code == 200
    refused = post_calendly(client, calendly("invitee.created", 2), secret="wrong")
    assert refused.status_code == 401
    assert refused.json["error"] == "invalid_signature"
    run_worker()
    deliver()
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("vani_webhooks_received_total", provider="calendly", status="200") == 1
    assert delta("vani_webhooks_received_total", provider="calendly", status="401") == 1
    assert delta("vani_ingest_duration_seconds_count", provider="calendly") == 2
    assert delta("vani_work_items_total", lane="events", outcome="processed") == 1
    assert delta("vani_processing_lag_seconds_count") == 1
    sent = {"subscription": str(good), "result": "success"}
    assert delta("vani_delivery_attempts_total", **sent) >= 1
    assert delta("vani_delivery_attempts_total", subscription=str(bad), result="failure") >= 1
    assert delta("vani_work_items_total", lane="deliveries", outcome="delivered") >= 1
    assert delta("vani_work_items_total", lane="deliveries", outcome="pending") >= 1  # the 500, to be retried
    # What waits, read from the database at scrape time.
    assert value(after, "vani_deliveries", subscription=str(bad), state="pending") >= 1
    assert value(after, "vani_work_items_waiting", lane="deliveries", state="pending") >= 1
    assert value(after, "vani_dead_letters_waiting", lane="events") == 0
    assert ("vani_queue_length", (("queue", "vani-events"),)) in after


def test_dead_letters_are_counted(app, client, db):
    from vani.models import EventStatus, WebhookEvent

    before = scrape(client)
    assert post_calendly(client, calendly("invitee.created", 3)).status_code == 200
    db.session.query(WebhookEvent).update({"status": EventStatus.DEAD})
    db.session.commit()
    after = scrape(client)
    assert value(after, "vani_dead_letters_waiting", lane="events") == 1
    assert value(before, "vani_dead_letters_waiting", lane="events") == 0


def test_live_processes_by_role_from_their_heartbeats(app, client, db):
    from datetime import timedelta

    from vani.models import ProcessHeartbeat, ProcessRole
    from vani.models.base import utcnow
    from vani.work.heartbeat import Heartbeat

    app.config["VANI_HEARTBEAT_SECONDS"] = 10
    before = scrape(client)
    Heartbeat(db.engine, ProcessRole.WORKER, ["vani-events"], 10).write()
    db.session.add(ProcessHeartbeat(role=ProcessRole.SCHEDULER, host="gone", pid=1, lanes=[], version="0.0.9",
                                    started_at=utcnow() - timedelta(hours=1), last_beat=utcnow() - timedelta(minutes=2)))
    db.session.commit()
    after = scrape(client)
    assert [value(before, "vani_processes_live", role=r) for r in ("worker", "scheduler")] == [0, 0]
    assert value(after, "vani_processes_live", role="worker") == 1
    assert value(after, "vani_processes_live", role="scheduler") == 0  # its only row is silent: VaniNoScheduler
    assert value(after, "vani_processes_silent", role="scheduler") == 1
    assert ("vani_processes_live", (("role", "mail_watcher"),)) in after


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """Two worker processes count; a third (the web) scrapes both."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "VANI_ENV": "testing",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
    count = ("from vani import metrics_folder; metrics_folder.prepare()\n"
             "from vani import metrics; metrics.webhook_answered('kapso', 200, 0.002); print('counted', flush=True)\n"
             "import sys; sys.stdin.read()")  # runs, as a worker does, while the web scrapes
    counting = [subprocess.Popen([sys.executable, "-c", count], env=env, cwd=os.getcwd(), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for process in counting:
        assert process.stdout.readline().strip() == "counted"
    web = textwrap.dedent("""
        from vani import create_app
        from vani.extensions import db
        app = create_app()
        with app.app_context():
            db.create_all()
        print(app.test_client().get("/metrics").get_data(as_text=True))
    """)
    try:
        out = subprocess.run([sys.executable, "-c", web], env=env, check=True, cwd=os.getcwd(), capture_output=True,
                             text=True).stdout
    finally:
        for process in counting:
            process.stdin.close()
            process.wait(timeout=30)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(out) for s in family.samples}
    assert value(samples, "vani_webhooks_received_total", provider="kapso", status="200") == 2


def test_the_example_alerts_use_metrics_that_exist(client):
    import re
    from pathlib import Path

    rules = (Path(__file__).resolve().parents[2] / "deploy" / "prometheus-alerts.yml").read_text()
    used = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in re.findall(r"\bvani_[a-z_]+", rules)}
    text = client.get("/metrics").get_data(as_text=True) + client.get("/metrics/state").get_data(as_text=True)
    exposed = {re.sub(r"_total$", "", name) for name in re.findall(r"^# TYPE (vani_[a-z_]+) ", text, re.M)}
    assert len(used) >= 7 and used <= exposed, used - exposed
