"""The processes of one Vani host, started as the systemd units start them, and what a fleet of such
hosts is checked by: who leads the scheduler, which process holds each IMAP connection, what a
host's ``/metrics`` counted, and whether a cron job was queued twice in one period.

A ``Host`` runs gunicorn on a port of its own, two ``flask vani worker``, one ``flask vani
scheduler`` and one ``flask vani mail watch``, all with one ``PROMETHEUS_MULTIPROC_DIR`` of the
host's own; each process is restarted 5 s after it exits, until the host is killed or stopped.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import requests

from bench.common import ROOT, free_port, wait_http
from bench.recovery import Supervised

FLASK = [sys.executable, "-m", "flask", "--app", "run", "vani"]
ROLES = ("web", "worker-1", "worker-2", "scheduler", "mail")


class Logged(Supervised):
    """A supervised process writing its output to ``<folder>/<name>.log``."""

    def __init__(self, name: str, argv: list[str], env: dict, folder: Path):
        self.log_path = folder / f"{name}.log"
        super().__init__(name, argv, env)

    def _spawn(self) -> subprocess.Popen:
        with open(self.log_path, "ab") as out:
            return subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def tail(self, chars: int = 1500) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


class Host:
    """One host: its web port, its metrics folder and its five processes (see the module)."""

    def __init__(self, name: str, env: dict, folder: Path, web_workers: int = 1):
        self.name, self.folder = name, folder / name
        self.metrics_dir = self.folder / "metrics"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir)}
        self.web_workers = web_workers
        self.procs: dict[str, Logged] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        web = [sys.executable, "-m", "gunicorn", "-c", "bench/gunicorn_bench.conf.py", "run:app",
               "-b", f"127.0.0.1:{self.port}", "-w", str(self.web_workers), "--threads", "8", "-k", "gthread"]
        argv = {"web": web, "worker-1": FLASK + ["worker"], "worker-2": FLASK + ["worker"],
                "scheduler": FLASK + ["scheduler"], "mail": FLASK + ["mail", "watch"]}
        for role in ROLES:
            self.procs[role] = Logged(f"{self.name}-{role}", argv[role], self.env, self.folder)
        wait_http(f"{self.url}/healthz", timeout=60)

    def pid(self, role: str) -> int:
        return self.procs[role].proc.pid

    def kill(self) -> None:
        """SIGKILL every process of the host at once (and the workers' work horses); nothing restarts."""
        for proc in self.procs.values():
            proc.stopping = True
        for proc in self.procs.values():
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            proc.proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def restarts(self) -> int:
        return sum(p.restarts for p in self.procs.values())

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.procs.values())

    def scrape(self) -> str:
        """This host's ``GET /metrics`` (what its processes counted)."""
        answer = requests.get(f"{self.url}/metrics", timeout=10)
        answer.raise_for_status()
        return answer.text

    def folder_counts(self, lane: str) -> int:
        """The work items of ``lane`` this host's processes counted, read from its metrics folder
        (for a host whose web server is gone)."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.metrics_dir))
        return work_items(generate_latest(registry).decode(), lane)


def work_items(exposition: str, lane: str) -> int:
    """The sum of ``vani_work_items_total`` over every outcome of ``lane`` in a metrics text."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "vani_work_items_total" and sample.labels.get("lane") == lane:
                total += sample.value
    return int(total)


def leader_pids(client) -> set[int]:
    """The process ids of the schedulers that lead (RQ's cron scheduler records run only there)."""
    from rq.cron import CronScheduler

    return {s.pid for s in CronScheduler.all(client, cleanup=False)}


def twice_in_a_period(client) -> dict[str, int]:
    """Each cron entry's jobs queued in a period that had one already."""
    from croniter import croniter

    from vani.jobs.maintenance import CRON

    doubles = {}
    for entry in CRON:
        name = f"{entry.func.__module__}.{entry.func.__name__}"
        stamps = [score for _, score in client.zrange(f"rq:cron_job:{name}:jobs", 0, -1, withscores=True)]
        if entry.interval:
            periods = [int(s) // entry.interval for s in stamps]
        else:
            periods = [croniter(entry.cron, datetime.fromtimestamp(s)).get_prev(datetime) for s in stamps]
        doubles[entry.func.__name__] = len(periods) - len(set(periods))
    return doubles


def imap_connections(conf: Path, port: int) -> list[tuple[str, int]]:
    """Every open connection to the Dovecot of ``conf`` listening on ``port``: (the IMAP user, the
    process id of the client). Dovecot says which of its processes serves which user (``doveadm
    who``); ``/proc`` joins that process's socket to the client's through the client's port."""
    who = subprocess.run(["doveadm", "-c", str(conf), "who", "-1"], capture_output=True, text=True, timeout=10)
    users = {int(f[2]): f[0] for f in (line.split() for line in who.stdout.splitlines()[1:]) if len(f) >= 3}
    sockets = {}  # inode: (local port, remote port) of each established TCP connection
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "01":
                sockets[f[9]] = (int(f[1].rpartition(":")[2], 16), int(f[2].rpartition(":")[2], 16))
    server_side, client_side = {}, {}  # client port: the user served / the client's pid
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        ends = sockets.get(target[8:-1]) if target.startswith("socket:[") else None
        if ends is None:
            continue
        pid = int(fd.parts[2])
        if ends[0] == port and pid in users:
            server_side[ends[1]] = users[pid]
        elif ends[1] == port:
            client_side[ends[0]] = pid
    return sorted((user, client_side[p]) for p, user in server_side.items() if p in client_side)
