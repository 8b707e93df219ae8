"""One run of the fleet of ``bench.fleet`` (two hosts, host A killed under load) and the figures it
gives; ``bench.fleet`` prints them, and the fleet test checks them with a smaller load."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.common import ROOT, bench_env, free_port
from bench.hosts import Host, imap_connections, leader_pids, twice_in_a_period, work_items
from bench.recovery import post_until_accepted, signed
from vani.devserver.redis_choice import server_argv, wait_until_ready

LEFT = ("SELECT (SELECT count(*) FROM webhook_events WHERE status IN ('received', 'processing', 'failed'))"
        " + (SELECT count(*) FROM mailboxes WHERE status IN ('pending', 'syncing', 'failed'))")
DONE = "SELECT count(*) FROM webhook_events WHERE status NOT IN ('received', 'processing', 'failed')"
SEED = ("import json, sys; from vani import create_app, orgs, tenancy; from vani.mail import mailboxes\n"
        "app = create_app(); app.app_context().push(); tenancy.set_current(orgs.ensure_default().id)\n"
        "for form in json.loads(sys.argv[1]): mailboxes.add_imap(form)")


@dataclass
class Figures:
    webhooks: int
    migrations: list[int] = field(default_factory=list)
    migrate_seconds: float = 0.0
    load_seconds: float = 0.0
    answers: dict[int, int] = field(default_factory=dict)
    takeover: float | None = None        # kill → host B's scheduler leads
    mail_takeover: float | None = None   # kill → host B's watcher holds every mailbox
    done_after_kill: float | None = None
    done_after_load: float | None = None
    remaining: int = 0
    events: int = 0
    meetings: int = 0
    doubles: dict[str, int] = field(default_factory=dict)
    most_watchers: dict[str, int] = field(default_factory=dict)  # mailbox: most watcher connections at once
    samples: int = 0
    done_at_kill: int = 0                # events done when host A died
    b_counted: int = 0                   # events host B's /metrics counted
    a_counted: int = 0
    b_restarts: int = 0
    logs: str = ""                       # the tail of each process's log

    @property
    def left_at_kill(self) -> int:
        """The events not done (or not yet sent) when host A died: only host B could do them."""
        return self.events - self.done_at_kill

    def problems(self, goals: bool = False) -> list[str]:
        """What went wrong; with ``goals``, the timing goals too (for the bench, not the test)."""
        found = []
        if self.migrations != [0, 0]:
            found.append(f"migrations exited {self.migrations}")
        if self.remaining or self.meetings != self.webhooks:
            found.append(f"{self.remaining} items of work left, {self.meetings} meetings of {self.webhooks}")
        if any(self.doubles.values()):
            found.append(f"cron jobs queued twice in a period: {self.doubles}")
        if not self.most_watchers or any(n != 1 for n in self.most_watchers.values()):
            found.append(f"watcher connections per mailbox at most {self.most_watchers} (each should be 1)")
        if self.takeover is None or self.mail_takeover is None:
            found.append("host B did not take over the scheduler and every mailbox")
        if self.b_counted < max(self.left_at_kill, 1):
            found.append(f"host B's /metrics counted {self.b_counted} events, fewer than {self.left_at_kill}")
        if goals and (self.takeover is None or self.takeover > 15):
            found.append("leadership moved within 15 s")
        if goals and (self.done_after_kill is None or self.done_after_kill > 30):
            found.append("all work done within 30 s of the kill")
        return found


def sql(database_url: str, query: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchone()[0]


def migrate_twice(env: dict) -> tuple[list[int], float]:
    """``flask db upgrade`` from both hosts at once: their exit codes and the seconds it took."""
    started = time.monotonic()
    upgrades = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    codes = []
    for proc in upgrades:
        _, err = proc.communicate(timeout=300)
        codes.append(proc.returncode)
        if proc.returncode:
            print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    return codes, time.monotonic() - started


def until(check: Callable[[], object], seconds: float, step: float = 0.2):
    """``check()``'s first true answer within ``seconds`` (else its last answer)."""
    deadline = time.monotonic() + seconds
    while not (answer := check()) and time.monotonic() < deadline:
        time.sleep(step)
    return answer


class MailboxProbe(threading.Thread):
    """Samples the Dovecot's connections until stopped: per mailbox (IMAP user), the most
    connections from the hosts' mail watchers at one moment; ``holders()`` is the latest sample."""

    def __init__(self, dovecot, hosts: list[Host]):
        super().__init__(daemon=True)
        self.dovecot, self.hosts = dovecot, hosts
        self.most: dict[str, int] = {}
        self.latest: dict[str, list[int]] = {}
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.3):
            watchers = {h.pid("mail") for h in self.hosts if h.procs}
            now: dict[str, list[int]] = {}
            for user, pid in imap_connections(self.dovecot.conf, self.dovecot.port):
                if pid in watchers:
                    now.setdefault(user, []).append(pid)
            for user, pids in now.items():
                self.most[user] = max(self.most.get(user, 0), len(pids))
            self.latest, self.samples = now, self.samples + 1

    def holders(self) -> dict[str, list[int]]:
        return self.latest


def run(database_url: str, dovecot, webhooks: int, clients: int = 8, kill_at: float = 0.5, mailboxes: int = 2,
        settle: float = 60.0, say: Callable[[str], None] = lambda line: None) -> Figures:
    """Migrate, connect ``mailboxes`` mailboxes of ``dovecot``, start hosts A then B, send
    ``webhooks`` webhooks, SIGKILL host A after ``kill_at`` of them, and wait up to ``settle``
    seconds after the kill for the work to be done; the figures of the run."""
    import redis as redis_lib

    f = Figures(webhooks)
    tmp = Path(tempfile.mkdtemp(prefix="vani-fleet-"))
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_server = subprocess.Popen(server_argv(shutil.which("redis-server"), redis_port, tmp),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis_lib.Redis.from_url(redis_url)
    env = bench_env(database_url, REDIS_URL=redis_url, VANI_WORKER_LOG_LEVEL="WARNING", VANI_SWEEP_SECONDS="2",
                    VANI_PRIVATE_TARGETS_ALLOWED="127.0.0.1", VANI_ALLOW_ANY_PORT="1", VANI_MAIL_POLL_SECONDS="600")
    a, b = Host("a", env, tmp), Host("b", env, tmp)
    probe = MailboxProbe(dovecot, [a, b])
    try:
        assert wait_until_ready(redis_url), "redis-server did not start"
        f.migrations, f.migrate_seconds = migrate_twice(env)
        if f.migrations != [0, 0]:
            return f
        forms = [dovecot.form(user=f"sales{n}@example.com") for n in range(mailboxes)]
        subprocess.run([sys.executable, "-c", SEED, json.dumps(forms)], cwd=ROOT, env=env, check=True)
        a.start()
        probe.start()
        until(lambda: a.pid("scheduler") in leader_pids(client), 60)
        until(lambda: len(probe.holders()) == mailboxes, 30)
        say(f"host A up: its scheduler leads, its watcher holds {len(probe.holders())} of {mailboxes} mailboxes")
        b.start()
        until(lambda: any(b.pid("mail") in pids for pids in probe.holders().values()), 30)
        say(f"host B up: the watchers hold {probe.holders()}")
        f.b_counted = _load(f, a, b, client, probe, clients, kill_at, settle, database_url, say)
    finally:
        probe.done.set()
        a.stop()
        b.stop()
        f.logs = a.logs() + "\n" + b.logs()
        client.close()
        redis_server.kill()
        redis_server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    f.most_watchers, f.samples = dict(sorted(probe.most.items())), probe.samples
    f.events = sql(database_url, "SELECT count(*) FROM webhook_events")
    f.meetings = sql(database_url, "SELECT count(*) FROM meetings")
    return f


def _load(f: Figures, a: Host, b: Host, client, probe: MailboxProbe, clients: int, kill_at: float, settle: float,
          database_url: str, say: Callable[[str], None]) -> int:
    """Send the load, kill host A partway, wait for the work and the takeovers; what host B counted."""
    key, session, lock = a.env["CALENDLY_WEBHOOK_SIGNING_KEY"], requests.Session(), threading.Lock()
    webs, sent, killed_at = [a.url, b.url], [0], []

    def post(n: int) -> None:
        status = post_until_accepted(session, [web + "/api/webhooks/calendly" for web in webs], *signed(n, key),
                                     first=n)
        with lock:
            f.answers[status] = f.answers.get(status, 0) + 1
            sent[0] += 1
            if sent[0] != int(f.webhooks * kill_at):
                return
            say(f"{sent[0]} sent: SIGKILL every process of host A")
            a.kill()
            killed_at.append(time.monotonic())
            webs.remove(a.url)
            taking.start()
            f.done_at_kill = sql(database_url, DONE)

    def take_over() -> None:
        """The seconds from the kill until host B's scheduler leads, and until its watcher alone
        holds every mailbox."""
        while time.monotonic() - killed_at[0] < settle and (f.takeover is None or f.mail_takeover is None):
            if f.takeover is None and b.pid("scheduler") in leader_pids(client):
                f.takeover = time.monotonic() - killed_at[0]
            held = probe.holders()
            if f.mail_takeover is None and len(held) == len(probe.most) and all(
                    pids == [b.pid("mail")] for pids in held.values()):
                f.mail_takeover = time.monotonic() - killed_at[0]
            time.sleep(0.1)

    taking = threading.Thread(target=take_over, daemon=True)
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, range(f.webhooks)))
    load_end = time.monotonic()
    f.load_seconds = load_end - started
    if not killed_at:
        return 0
    if until(lambda: sql(database_url, LEFT) == 0, settle - (time.monotonic() - killed_at[0]), 0.25):
        f.done_after_kill, f.done_after_load = time.monotonic() - killed_at[0], time.monotonic() - load_end
    else:
        f.remaining = sql(database_url, LEFT)
    taking.join(max(settle - (time.monotonic() - killed_at[0]), 0.1))
    time.sleep(3)  # a last look for cron jobs queued again by the new leader
    f.doubles = twice_in_a_period(client)
    f.b_restarts = b.restarts()
    f.a_counted = a.folder_counts("events")
    return work_items(b.scrape(), "events")
