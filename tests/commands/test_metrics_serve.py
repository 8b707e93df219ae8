"""``flask vani metrics serve``: a host without the web server still serves what its processes
counted, behind the same gate as the web's ``GET /metrics``."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from tests.network import free_tcp_port
from vani.metrics_export import exporter, parse_bind


def first_scrape(port: int, process: subprocess.Popen) -> requests.Response:
    """GET /metrics on ``port`` once ``process`` listens there (at most 30 s; it must not exit)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.1)


def test_it_answers_get_metrics_only(app):
    client = Client(exporter({"VANI_METRICS_TOKEN": None}))
    ok = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert ok.status_code == 200 and "vani_webhooks_received" in ok.get_data(as_text=True)
    other = client.get("/admin", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert other.status_code == 404 and other.json["error"] == "not_found"
    posted = client.post("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"


def test_without_a_token_only_loopback_may_read(app):
    client = Client(exporter({"VANI_METRICS_TOKEN": None}))
    away = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert away.status_code == 403 and away.json["error"] == "forbidden"
    assert "vani_" not in away.get_data(as_text=True)


def test_with_a_token_every_caller_must_send_it(app):
    client = Client(exporter({"VANI_METRICS_TOKEN": "scrape-me"}))
    local = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"},
                       environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert local.status_code == 401 and local.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert wrong.status_code == 401 and right.status_code == 200


@pytest.mark.parametrize("bind", ["9464", "host:", "host:http", ":70000"])
def test_a_bad_bind_is_refused_with_its_reason(bind):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_bind(bind)


def test_a_worker_only_host_serves_its_processes_counts(tmp_path):
    """Two processes of the host count; the exporter, a third process, adds them up."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "VANI_ENV": "testing",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    count = ("from vani import metrics_folder; metrics_folder.prepare()\n"
             "from vani import metrics; metrics.settled('deliveries', ['delivered', 'delivered'], 'dead')\n"
             "print('counted', flush=True); import sys; sys.stdin.read()")  # a worker, running
    workers = [subprocess.Popen([sys.executable, "-c", count], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "counted"
    port = free_tcp_port()
    server = subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "vani", "metrics", "serve",
                               "--bind", f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        r = first_scrape(port, server)
    finally:
        server.terminate()
        server.wait(timeout=10)
        for worker in workers:
            worker.stdin.close()
            worker.wait(timeout=30)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(r.text) for s in family.samples}
    assert samples[("vani_work_items_total", (("lane", "deliveries"), ("outcome", "delivered")))] == 4


def test_a_process_of_its_own_container_serves_its_metrics_from_a_thread(tmp_path):
    """A container is a host of its own: its one process (here the scheduler) serves the metrics."""
    port = free_tcp_port()
    env = {**os.environ, "VANI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
           "REDIS_URL": f"redis://127.0.0.1:{free_tcp_port()}/0", "VANI_METRICS_SERVE": "1",
           "VANI_METRICS_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    scheduler = subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "vani", "scheduler"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        r = first_scrape(port, scheduler)
        refused = requests.get(f"http://127.0.0.1:{port}/admin", timeout=2)
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=15)
    assert r.status_code == 200 and "vani_processing_lag_seconds_count" in r.text
    assert refused.status_code == 404


def test_without_the_setting_nothing_listens(app):
    from vani.metrics_export import serve_in_thread

    assert serve_in_thread({"VANI_METRICS_SERVE": False, "VANI_METRICS_BIND": "127.0.0.1:1"}) is None


def test_a_port_in_use_is_logged_and_the_process_goes_on(app, caplog):
    import socket

    from vani.metrics_export import serve_in_thread

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        assert serve_in_thread({"VANI_METRICS_SERVE": True, "VANI_METRICS_BIND": bind}) is None
    assert f"cannot serve on {bind}" in caplog.text
