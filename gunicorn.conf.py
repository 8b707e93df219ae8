"""Gunicorn settings for Vani (``gunicorn -c gunicorn.conf.py run:app``); every value from the environment.

Threads (gthread): the dashboard's live updates are Server-Sent Events, long requests that each
hold a thread, so a worker serves many at once; webhook calls stay short beside them.
"""
import multiprocessing
import os

# Loopback unless told otherwise (HOST or GUNICORN_BIND): a reverse proxy faces the world.
bind = os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or min(multiprocessing.cpu_count() * 2 + 1, 8))
if os.environ.get("VANI_ENV", "production") != "production" and not os.environ.get("WEB_CONCURRENCY"):
    workers = 1  # development: one process, so logs and state stay simple
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 16)
# A worker that does not answer its heartbeat within this many seconds is restarted. SSE streams
# end on their own before it (VANI_SSE_MAX_SECONDS) and browsers reconnect.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT") or 20)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE") or 5)
# Recycle workers now and then so a slow leak cannot grow forever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 5000)
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER") or 500)
# Webhook bodies are small; refuse absurd request lines and headers early.
limit_request_line = 8190
limit_request_fields = 100
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The path without its query: a push token or signature in a query string never reaches the log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# Behind a proxy, trust its X-Forwarded-* only from these addresses (VANI_TRUST_PROXY does the rest).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
preload_app = False  # each worker opens its own database and Redis connections
# Gunicorn 25+ opens a control socket under the home directory; several instances on one host
# would share its path. Set GUNICORN_CONTROL_SOCKET to a path to have one.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]


def post_worker_init(worker):  # pragma: no cover - gunicorn hook
    """The app is loaded in this worker: keep what it loaded out of the collector's way."""
    from vani.heap import settle

    settle()


def child_exit(server, worker):  # pragma: no cover - gunicorn hook
    """Metrics in multiprocess mode: forget a stopped worker's live gauges (its counts stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
