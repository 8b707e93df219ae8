"""The development runner behind ``python run.py`` (``make run``): Redis, migrations, the first
admin, then the web server, the workers, the scheduler and the mail watcher in one terminal, with the
tunnel watched.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import threading
import time

import requests

from vani import tunnel as tunnels
from vani.devserver import banner, prepare
from vani.devserver.redis_choice import choose, wait_until_ready
from vani.devserver.supervisor import Output, Supervisor


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py", description="Run Vani for development.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
    parser.add_argument("--workers", type=int, default=1, help="RQ worker processes (default 1)")
    parser.add_argument("--register", action="store_true",
                        help="register the public URL at the providers now and whenever it changes")
    parser.add_argument("--reload", action="store_true", help="restart the web server when code changes")
    parser.add_argument("--tunnel-interval", type=float, default=5.0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "run", "vani", *args]


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port`` (gunicorn could not bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_ready(url: str, stop: threading.Event, alive, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        if not alive():
            return False
        stop.wait(0.3)
    return False


def main(argv: list[str] | None = None) -> int:
    from config import BASE_DIR, load_env_file
    from vani import create_app

    load_env_file()  # PORT and HOST may come from .env
    # The development runner is the one place that means development without being told; its
    # children (web, workers, scheduler, migrations) inherit this.
    if not os.environ.get("VANI_ENV"):
        os.environ["VANI_ENV"] = "development"
    args = parse_args(argv)
    out = Output()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    app = create_app()
    supervisor = Supervisor(out, cwd=str(BASE_DIR))
    state: dict = {}
    try:
        return run(app, args, out, supervisor, stop, state)
    except (prepare.SetupError, RuntimeError) as exc:
        out.line("vani", f"error: {exc}")
        return 1
    finally:
        if state.get("watcher") is not None:
            state["watcher"].stop()
        out.line("vani", "stopping ...")
        supervisor.stop_all(last=[state["redis"]] if state.get("redis") else None)
        tunnels.stop_pyngrok()
        out.line("vani", f"stopped {len(supervisor.children)} process(es)")


def run(app, args: argparse.Namespace, out: Output, supervisor: Supervisor, stop: threading.Event,
        state: dict) -> int:
    from config import BASE_DIR
    from vani.providers.registry import webhook_paths, webhook_providers

    cfg = app.config
    say = lambda text: out.line("vani", text)  # noqa: E731
    if cfg["ENV_NAME"] == "production":
        say("VANI_ENV=production: this is the development runner; production runs the Procfile processes")
    if port_in_use(args.host, args.port):
        raise prepare.SetupError(f"port {args.port} is already in use (another Vani?): stop what listens there, "
                                 f"or choose another port, e.g. `PORT={args.port + 1} make run`")
    data_dir = BASE_DIR / "instance" / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    choice = choose(cfg["REDIS_URL"], bool(os.environ.get("REDIS_URL")), data_dir)
    env = {**os.environ, "REDIS_URL": choice.url, "PORT": str(args.port), "HOST": args.host,
           "PYTHONUNBUFFERED": "1"}
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):  # one /metrics adds up the web's and the workers' counts
        metrics_dir = BASE_DIR / "instance" / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # RQ logs every job at INFO (the minute sweeps alone add a dozen lines a minute).
    env["VANI_WORKER_LOG_LEVEL"] = os.environ.get("VANI_WORKER_LOG_LEVEL") or "WARNING"
    if choice.argv:
        redis_child = state["redis"] = supervisor.add("redis", choice.argv, env)
        if not wait_until_ready(choice.url, alive=lambda: redis_child.running):
            raise RuntimeError(f"the Redis server Vani started ({choice.argv[0]}) did not answer")
    say(f"Redis: {choice.description}")
    say("applying database migrations (flask db upgrade)")
    code = supervisor.run_once("migrate", [sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"],
                               env, stop)
    if code is None and stop.is_set():
        return 0
    if code is None:
        raise prepare.SetupError("the database migrations did not finish within 10 minutes (see above)")
    if code != 0:
        raise prepare.SetupError(f"the database migrations failed (exit code {code}, see above)")
    prepare.check_schema(app)
    admin = prepare.ensure_admin(app)

    web_argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "run:app"]
    web = supervisor.add("web", web_argv + (["--reload"] if args.reload else []), env)
    for i in range(max(args.workers, 1)):
        supervisor.add("worker" if args.workers <= 1 else f"worker{i + 1}", flask_command("worker"), env)
    supervisor.add("scheduler", flask_command("scheduler"), env)
    supervisor.add("mail", flask_command("mail", "watch"), env)  # IMAP IDLE / polling → mailbox syncs
    found = tunnels.discover(cfg.get("PUBLIC_URL"), cfg["VANI_NGROK_API_URL"], args.port,
                             cfg.get("NGROK_AUTHTOKEN"), start_ngrok=True)
    with app.app_context():
        providers = [(p.title, webhook_paths(p)[0]) for p in webhook_providers()]

    say(f"waiting for http://127.0.0.1:{args.port}/readyz")
    if not wait_ready(f"http://127.0.0.1:{args.port}/readyz", stop, lambda: web.running):
        if stop.is_set():
            return 0
        raise RuntimeError("the web server did not become ready (see its output above)")
    out.block(banner.render(args.port, choice.description, cfg["SQLALCHEMY_DATABASE_URI"], admin, found,
                            providers, max(args.workers, 1), args.register and bool(found.url),
                            cli=banner.cli_prefix(sys.executable, BASE_DIR)))

    def register(url: str) -> None:
        supervisor.add("register", flask_command("webhooks", "register", "--url", url), env, restart=False)

    if args.register and found.url:
        register(found.url)
    if found.source != "PUBLIC_URL":
        def on_change(old: str | None, new: str | None) -> None:
            out.block(banner.changed(old, new, providers, args.port))
            if new and args.register:
                register(new)

        probe = lambda: tunnels.discover(None, cfg["VANI_NGROK_API_URL"], args.port).url  # noqa: E731
        state["watcher"] = tunnels.TunnelWatcher(probe, on_change, found.url, args.tunnel_interval)
        state["watcher"].start()
    while not stop.wait(0.5):
        supervisor.check()
        if web.proc is None:  # crashed too often to be restarted
            return 1
    return 0
