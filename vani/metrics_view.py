"""Prometheus text format, with ``Authorization: Bearer $VANI_METRICS_TOKEN`` when that is set,
and only from loopback when it is not. Two scrapes, so that a deployment of many hosts counts
everything once:

- ``GET /metrics``: what this host's processes counted (``vani.metrics``; every process of the
  host in multiprocess mode). Scrape every host: a host that runs no web server serves the same
  with ``flask vani metrics serve``.
- ``GET /metrics/state``: what is waiting, read from the shared database and Redis at scrape
  time: each lane's items by state (queue depth, dead letters), deliveries by subscription and
  state, the live processes by role (from their heartbeats), and the RQ queues' lengths. Scrape
  it once for the deployment.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from vani import metrics
from vani.extensions import db
from vani.models import DeliveryStatus, WebhookDelivery
from vani.work import heartbeat
from vani.work.lane import installed
from vani.work.wake import MAINTENANCE_QUEUE, get_queue, queue_name

log = logging.getLogger("vani.scrape")  # the name log filters select by

bp = Blueprint("metrics", __name__)


class StateCollector:
    """Gauges read from the database at scrape time (no process keeps them). Only the states
    work is in until it ends: finished rows, most of every table, are what the counters count,
    and a scrape never walks them."""

    def collect(self):
        items = GaugeMetricFamily("vani_work_items_waiting", "Unfinished work items by lane and state (queue depth: "
                                  "the ready and retry states; dead letters: the dead state)", labels=["lane", "state"])
        dead = GaugeMetricFamily("vani_dead_letters_waiting", "Dead letters waiting for a person, by lane",
                                 labels=["lane"])
        deliveries = GaugeMetricFamily("vani_deliveries", "Outbound deliveries waiting, being sent or failed, by "
                                       "subscription and state", labels=["subscription", "state"])
        try:
            for lane in installed():
                t = lane.model.__table__
                open_states = tuple(dict.fromkeys((*lane.ready, lane.running, lane.retry, lane.dead)))
                counts = dict(db.session.execute(select(t.c.status, func.count())
                                                 .where(t.c.status.in_(open_states)).group_by(t.c.status)).all())
                for state, count in sorted(counts.items(), key=lambda kv: str(kv[0])):
                    items.add_metric([lane.name, str(state)], count)
                dead.add_metric([lane.name], counts.get(lane.dead, counts.get(str(lane.dead), 0)))
            t = WebhookDelivery.__table__
            for sub_id, state, count in db.session.execute(
                    select(t.c.subscription_id, t.c.status, func.count())
                    .where(t.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DELIVERING, DeliveryStatus.FAILED)))
                    .group_by(t.c.subscription_id, t.c.status)):
                deliveries.add_metric([str(sub_id or ""), str(state)], count)
        except SQLAlchemyError as exc:
            log.warning("metrics: could not read the work tables: %s", exc)
        finally:
            db.session.rollback()
        yield from (items, dead, deliveries)
        yield from self._processes()
        yield self._queues()

    def _processes(self):
        live = GaugeMetricFamily("vani_processes_live", "Processes with a recent heartbeat, by role (worker, "
                                 "scheduler, mail_watcher)", labels=["role"])
        silent = GaugeMetricFamily("vani_processes_silent", "Heartbeat rows gone silent (killed processes), by role",
                                   labels=["role"])
        try:
            found = heartbeat.processes()
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.warning("metrics: could not read the heartbeats: %s", exc)
            return
        for role, count in heartbeat.live_counts(found).items():
            live.add_metric([role.value], count)
            silent.add_metric([role.value], sum(p.silent and p.role == role for p in found))
        yield from (live, silent)

    def _queues(self):
        from redis.exceptions import RedisError

        queues = GaugeMetricFamily("vani_queue_length", "Jobs waiting in the RQ queues", labels=["queue"])
        try:
            for name in [*(queue_name(lane) for lane in installed()), MAINTENANCE_QUEUE]:
                queues.add_metric([name], len(get_queue(name)))
        except RedisError as exc:
            log.warning("metrics: could not read the queues: %s", exc)
        return queues


def _allowed() -> Response | None:
    refused = metrics.scrape_refusal(current_app.config, request.headers.get("Authorization", ""),
                                     request.remote_addr)
    if refused is None:
        return None
    status, detail = refused
    response = jsonify({"error": "unauthorized" if status == 401 else "forbidden", "detail": detail})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@bp.get("/metrics")
def scrape():
    """This host's processes: what they counted (every host is scraped)."""
    refused = _allowed()
    if refused is not None:
        return refused
    return Response(generate_latest(metrics.host_registry()), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/metrics/state")
def scrape_state():
    """What is waiting, read from the database and Redis that every host shares: the same for the
    whole deployment, so it is scraped once (through the load balancer), not once per host."""
    refused = _allowed()
    if refused is not None:
        return refused
    registry = CollectorRegistry()
    registry.register(StateCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
