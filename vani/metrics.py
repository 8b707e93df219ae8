"""Prometheus metrics: what happened (counters and histograms, recorded where it happens) and
what is waiting (gauges read from the database when scraped, see ``vani.web_metrics``).

With ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts: gunicorn workers and the work
engine's workers share the folder), every process writes its counts there and a scrape adds them
up. Without it, a scrape sees this process's counts only. The metrics live in this module's own
registry, so importing it touches nothing global.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SLOW = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

WEBHOOKS = Counter("vani_webhooks_received", "Provider webhook calls answered, by provider and HTTP status",
                   ["provider", "status"], registry=REGISTRY)
INGEST = Histogram("vani_ingest_duration_seconds", "Time to verify, store and answer a provider's call",
                   ["provider"], buckets=FAST, registry=REGISTRY)
WORK = Counter("vani_work_items", "Work items settled by the engine, by lane and the state they reached "
               "(events: processed, ignored, failed, dead; deliveries: delivered, pending, failed, …)",
               ["lane", "outcome"], registry=REGISTRY)
DEAD = Counter("vani_dead_letters", "Work items that became dead letters, by lane", ["lane"], registry=REGISTRY)
LAG = Histogram("vani_processing_lag_seconds", "From a webhook's arrival to its event being processed",
                buckets=SLOW, registry=REGISTRY)
ATTEMPTS = Counter("vani_delivery_attempts", "Outbound delivery attempts, by subscription and result",
                   ["subscription", "result"], registry=REGISTRY)
ATTEMPT_TIME = Histogram("vani_delivery_attempt_duration_seconds", "Time of one outbound delivery attempt",
                         buckets=SLOW[:8], registry=REGISTRY)
UNRECORDED = Counter("vani_rejected_calls_unrecorded", "Refused webhook calls counted but not recorded (a flood is "
                     "sampled), by provider", ["provider"], registry=REGISTRY)
NOTIFICATIONS = Counter("vani_notification_sends", "Notification sends settled, by channel and status",
                        ["channel", "status"], registry=REGISTRY)


# (provider, status) → its counter and histogram children: ``labels()`` costs more than the
# update itself, on the path every webhook call takes. Bounded by providers × statuses.
_answered: dict[tuple[str, int], tuple] = {}


def webhook_answered(provider: str, status: int, seconds: float) -> None:
    children = _answered.get((provider, status))
    if children is None:
        children = _answered.setdefault((provider, status), (WEBHOOKS.labels(provider, str(status)),
                                                             INGEST.labels(provider)))
    children[0].inc()
    children[1].observe(seconds)


def refusal_unrecorded(provider: str) -> None:
    UNRECORDED.labels(provider).inc()


def settled(lane: str, outcomes: list, dead: str) -> None:
    """A claim's rows reached these states (None: the lease was lost, nothing written)."""
    for outcome in outcomes:
        if outcome is None:
            continue
        WORK.labels(lane, str(outcome)).inc()
        if str(outcome) == dead:
            DEAD.labels(lane).inc()


def processed(lags: list[float]) -> None:
    for seconds in lags:
        LAG.observe(max(seconds, 0.0))


def delivery_attempt(subscription_id: int, success: bool, seconds: float) -> None:
    ATTEMPTS.labels(str(subscription_id), "success" if success else "failure").inc()
    ATTEMPT_TIME.observe(max(seconds, 0.0))


def notification_sent(channel: str, status: str) -> None:
    NOTIFICATIONS.labels(channel, status).inc()


class _OwnCounts:
    """This process's counters (without multiprocess mode)."""

    def collect(self):
        return REGISTRY.collect()


def host_registry() -> CollectorRegistry:
    """What this host's processes counted: every process's files in ``PROMETHEUS_MULTIPROC_DIR``
    (the web workers, the work engine's workers, the scheduler and the mail watcher of this host),
    or this process's own counts without it. A fresh registry per scrape."""
    import os

    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_OwnCounts())
    return registry


def scrape_refusal(config, authorization: str, remote_addr: str | None) -> tuple[int, str] | None:
    """Why a scrape is refused (status, reason), or None when it may read: with
    ``VANI_METRICS_TOKEN`` set, a matching ``Authorization: Bearer`` header; without it, loopback."""
    import hmac

    from vani.proxy import LOOPBACK

    token = config.get("VANI_METRICS_TOKEN")
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return 401, "send Authorization: Bearer $VANI_METRICS_TOKEN"
    if remote_addr in LOOPBACK:
        return None
    return 403, "metrics are served to loopback only unless VANI_METRICS_TOKEN is set"
