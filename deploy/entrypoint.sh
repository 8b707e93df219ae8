#!/bin/sh
# Starts one Vani process: deploy/entrypoint.sh ROLE [ARGS...]. The image's entrypoint (compose.yaml
# runs one role per service); it works the same from a checkout or an install with its .venv.
#
#   web                  the web server (gunicorn on HOST:PORT; the image listens on 0.0.0.0:8000)
#   worker [--queue Q]   a worker (every queue, events first, unless given queues)
#   scheduler            the sweeps and cron jobs
#   mail                 the IMAP mail watcher
#   migrate              the database schema (run once per deployment, before the others)
#   check-config [...]   what is missing or unsafe for production (exits non-zero on errors)
#   healthcheck          exits 0 when this host's web process answers GET /healthz
#   flask ARGS...        any other command: flask --app run ARGS (create-user, webhooks register...)
#
# The process replaces this script (exec), so it gets the container's or the unit's signals itself.
set -eu

usage() {
    echo "usage: $0 web | worker [--queue QUEUE ...] | scheduler | mail | migrate | check-config [ARGS] |" >&2
    echo "       healthcheck | flask ARGS..." >&2
    exit 64
}

cd "$(dirname "$0")/.."
if [ -x .venv/bin/flask ]; then
    PATH="$PWD/.venv/bin:$PATH"
    export PATH
fi
# Every process of the host (or container) writes its metrics here: the folder must exist.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

[ $# -gt 0 ] || usage
role=$1
shift
case "$role" in
    web)          exec gunicorn -c gunicorn.conf.py run:app "$@" ;;
    worker)       exec flask --app run vani worker "$@" ;;
    scheduler)    exec flask --app run vani scheduler "$@" ;;
    mail)         exec flask --app run vani mail watch "$@" ;;
    migrate)      exec flask --app run db upgrade "$@" ;;
    check-config) exec flask --app run vani check-config "$@" ;;
    flask)        exec flask --app run "$@" ;;
    healthcheck)
        # The address gunicorn listens on (gunicorn.conf.py: GUNICORN_BIND, else HOST:PORT), asked
        # on loopback when it listens on every address.
        exec python - <<'EOF'
import os
import sys
import urllib.request

bind = os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or 8000}"
host, _, port = bind.rpartition(":")
host = host.strip("[]")
if host in ("", "0.0.0.0", "::"):
    host = "127.0.0.1"
url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
try:
    with urllib.request.urlopen(url, timeout=5) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except OSError as exc:
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
EOF
        ;;
    *) usage ;;
esac
