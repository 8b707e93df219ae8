"""``GET /metrics``: Prometheus text format, with ``Authorization: Bearer $VANI_METRICS_TOKEN``
when that is set, and only from loopback when it is not.

Beside the counters of ``vani.metrics`` (every process's, in multiprocess mode), a scrape reads
what is waiting from the database: each lane's items by state (its queue depth and dead
letters, per lane) and deliveries by subscription and state, the live processes by role (from
their heartbeats), and the RQ queues' lengths.
"""
from __future__ import annotations

import hmac
import logging
import os

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from vani import metrics
from vani.extensions import db
from vani.models import DeliveryStatus, WebhookDelivery
from vani.proxy import LOOPBACK
from vani.work import heartbeat
from vani.work.lane import installed
from vani.work.wake import MAINTENANCE_QUEUE, get_queue, queue_name

log = logging.getLogger("vani.scrape")  # the name log filters select by

bp = Blueprint("metrics", __name__)


class OwnCounts:
    """This process's counters (without multiprocess mode)."""

    def collect(self):
        return metrics.REGISTRY.collect()


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
    token = current_app.config.get("VANI_METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        response = jsonify({"error": "unauthorized", "detail": "send Authorization: Bearer $VANI_METRICS_TOKEN"})
        response.status_code, response.headers["WWW-Authenticate"] = 401, 'Bearer realm="metrics"'
        return response
    if request.remote_addr in LOOPBACK:
        return None
    return jsonify({"error": "forbidden", "detail": "metrics are served to loopback only unless "
                    "VANI_METRICS_TOKEN is set"}), 403


@bp.get("/metrics")
def scrape():
    refused = _allowed()
    if refused is not None:
        return refused
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(OwnCounts())
    registry.register(StateCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
