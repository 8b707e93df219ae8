"""The example alerts, evaluated by Prometheus's own rule tester, on a deployment of 3 web hosts
and 5 worker hosts scraped as docs/deploy.md says: every host's ``/metrics`` (job ``vani``) and
the deployment's ``/metrics/state`` once (job ``vani-state``). They fire on what the fleet does
as a whole and count what waits once, however many hosts there are."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.paths import ROOT

RULES = ROOT / "deploy" / "prometheus-alerts.yml"
WEB = [f"web-{n}:8000" for n in range(1, 4)]
WORKERS = [f"worker-{n}:9464" for n in range(1, 6)]
STATE = 'job="vani-state",instance="vani.example.com"'

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus) not installed")


def rule(name: str) -> dict:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return next(r for g in groups for r in g["rules"] if r.get("alert") == name)


def fired(name: str, **labels) -> dict:
    """The alert as Prometheus would raise it: the rule's labels and its expanded annotations."""
    r = rule(name)
    annotations = {k: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], v)
                   for k, v in r.get("annotations", {}).items()}
    return {"exp_labels": {**r.get("labels", {}), **labels}, "exp_annotations": annotations}


def host(instance: str, metric: str, values: str, **labels) -> dict:
    inner = ",".join(['job="vani"', f'instance="{instance}"', *(f'{k}="{v}"' for k, v in labels.items())])
    return {"series": f"{metric}{{{inner}}}", "values": values}


def state(metric: str, values: str, **labels) -> dict:
    inner = ",".join([STATE, *(f'{k}="{v}"' for k, v in labels.items())])
    return {"series": f"{metric}{{{inner}}}", "values": values}


def run(tmp_path: Path, tests: list[dict]) -> subprocess.CompletedProcess:
    spec = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests}
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid():
    checked = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_deliveries_failing_on_most_worker_hosts_fire_once_per_subscription(tmp_path):
    series = [host(w, "vani_delivery_attempts_total", "0+10x60", subscription="7", result="failure")
              for w in WORKERS[:4]]
    series.append(host(WORKERS[4], "vani_delivery_attempts_total", "0+10x60", subscription="7", result="success"))
    series += [host(w, "vani_delivery_attempts_total", "0+10x60", subscription="8", result="success")
               for w in WORKERS]
    result = run(tmp_path, [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "50m", "alertname": "VaniDeliveriesFailing", "exp_alerts": [fired("VaniDeliveriesFailing",
                                                                                       subscription="7")]},
    ]}])
    assert result.returncode == 0, result.stdout + result.stderr


def test_processing_lag_seen_only_on_worker_hosts_fires(tmp_path):
    series = []
    for w in WORKERS:  # every event waits about two minutes: the 60 s and 100 s buckets stay empty
        for le in ("30", "60", "100"):
            series.append(host(w, "vani_processing_lag_seconds_bucket", "0x60", le=le))
        for le in ("300", "+Inf"):
            series.append(host(w, "vani_processing_lag_seconds_bucket", "0+5x60", le=le))
    series += [host(h, "vani_webhooks_received_total", "0+100x60", provider="calendly", status="200") for h in WEB]
    result = run(tmp_path, [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "30m", "alertname": "VaniProcessingLag", "exp_alerts": [fired("VaniProcessingLag")]},
        {"eval_time": "30m", "alertname": "VaniWebhooksRefused", "exp_alerts": []},
    ]}])
    assert result.returncode == 0, result.stdout + result.stderr


def test_what_waits_is_counted_once_whatever_the_number_of_hosts(tmp_path):
    """600 events waiting, read by the state scrape: below the 1000 of the backlog alert. Were each
    of the 3 web hosts to export it, the sum would say 1800 and page someone for nothing."""
    quiet = [state("vani_work_items_waiting", "600x60", lane="events", state="received"),
             state("vani_dead_letters_waiting", "0x60", lane="events")]
    busy = [state("vani_work_items_waiting", "1500x60", lane="events", state="received"),
            state("vani_dead_letters_waiting", "2x60", lane="deliveries")]
    counted = [host(h, "vani_webhooks_received_total", "0+100x60", provider="calendly", status="200")
               for h in WEB]
    result = run(tmp_path, [
        {"interval": "1m", "input_series": quiet + counted, "alert_rule_test": [
            {"eval_time": "30m", "alertname": "VaniBacklog", "exp_alerts": []},
            {"eval_time": "30m", "alertname": "VaniDeadLetters", "exp_alerts": []}]},
        {"interval": "1m", "input_series": busy + counted, "alert_rule_test": [
            {"eval_time": "30m", "alertname": "VaniBacklog", "exp_alerts": [fired("VaniBacklog", lane="events")]},
            {"eval_time": "30m", "alertname": "VaniDeadLetters",
             "exp_alerts": [fired("VaniDeadLetters", lane="deliveries")]}]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr


def test_slow_answers_on_one_web_host_of_three_show_in_the_fleet_p99(tmp_path):
    series = []
    for n, h in enumerate(WEB):  # one host answers every call in 0.5 s, the others in 5 ms
        slow = n == 0
        for le in ("0.005", "0.25"):
            series.append(host(h, "vani_ingest_duration_seconds_bucket", "0x60" if slow else "0+100x60",
                               provider="calendly", le=le))
        for le in ("1.0", "+Inf"):
            series.append(host(h, "vani_ingest_duration_seconds_bucket", "0+100x60", provider="calendly", le=le))
    result = run(tmp_path, [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "30m", "alertname": "VaniIngestSlow", "exp_alerts": [fired("VaniIngestSlow")]},
    ]}])
    assert result.returncode == 0, result.stdout + result.stderr
