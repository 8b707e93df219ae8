"""Two hosts against one PostgreSQL and one Redis, and one of them dies.

Each host (``bench.hosts``) runs what the systemd units run: gunicorn on a port of its own, two
workers, a scheduler and the mail watcher, with a metrics folder of its own. The two hosts migrate
the new database at the same moment (``flask db upgrade`` twice at once, as two release steps
would), and IMAP mailboxes on a throwaway Dovecot are connected, so the watchers share them out.
Host A starts first, so its scheduler leads. Signed Calendly webhooks go to both webs; partway
through, every process of host A is SIGKILLed and the load goes on to host B alone.

Checks and prints: the seconds until host B's scheduler led and until its watcher held every
mailbox; the seconds until all work (events and mailbox syncs) was done, after the kill and after
the load; whether any cron job was queued twice in one period (RQ keeps the history of each cron
job's queued jobs); the most IMAP connections any mailbox had from the watchers at one moment
(sampled all along, before and after the kill); and what host B's ``GET /metrics`` counted of the
events, at least every event left when host A died.

Needs PostgreSQL (``BENCH_PG_ADMIN_URL``), ``redis-server`` and Dovecot (``dovecot-imapd``); without
them it says so and exits 0. Run: ``python -m bench.fleet [--webhooks 1000] [--clients 8]``.
Goals: leadership moves within 15 s, all work done within 30 s of the kill, no cron job twice in a
period, one watcher connection per mailbox.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import PG_ADMIN, scratch_database
from bench.fleet_run import Figures, run

DOVECOT = "/usr/sbin/dovecot"


def postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


def report(f: Figures) -> None:
    print(f"migrations: two `flask db upgrade` at once exited {f.migrations} in {f.migrate_seconds:.1f} s")
    print(f"load: {f.webhooks} webhooks in {f.load_seconds:.1f} s to both webs, answers {f.answers}")
    print(f"takeover: host B's scheduler led {f.takeover:.1f} s after the kill (goal <= 15 s)" if f.takeover is not None
          else "takeover: host B's scheduler did not lead")
    print(f"mailboxes: host B's watcher held all {len(f.most_watchers)} {f.mail_takeover:.1f} s after the kill"
          if f.mail_takeover is not None else "mailboxes: host B's watcher did not take every mailbox")
    if f.done_after_kill is not None:
        print(f"all work done {f.done_after_kill:.1f} s after the kill (goal <= 30 s), "
              f"{f.done_after_load:.1f} s after the end of the load")
    else:
        print(f"work not done: {f.remaining} items still waiting")
    print(f"events stored: {f.events}, meetings: {f.meetings} (one per booking: {f.meetings == f.webhooks})")
    twice = {name: n for name, n in f.doubles.items() if n}
    print(f"cron jobs queued twice in a period: {twice or 'none'} (jobs checked: {', '.join(f.doubles)})")
    print(f"watcher connections per mailbox, most at one moment over {f.samples} samples: {f.most_watchers}")
    print(f"host B's /metrics: {f.b_counted} events counted by its workers (at least {f.left_at_kill}, "
          f"the events not done when host A died); host A's folder: {f.a_counted}; both: "
          f"{f.a_counted + f.b_counted} of {f.events}")
    print(f"restarts on host B: {f.b_restarts}")
    for problem in f.problems(goals=True):
        print(f"NOT MET: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of the load sent when host A dies")
    args = parser.parse_args()
    if not postgres_answers() or not shutil.which("redis-server") or not os.access(DOVECOT, os.X_OK):
        print("bench.fleet needs PostgreSQL (BENCH_PG_ADMIN_URL), redis-server and Dovecot: skipped")
        return 0
    from tests.providers.imap.dovecot import Dovecot  # the throwaway Dovecot of the IMAP tests

    root = Path(tempfile.mkdtemp(prefix="vani-dovecot-"))
    root.chmod(0o755)  # Dovecot's own users read it
    dovecot = Dovecot(root)
    try:
        dovecot.start()
        figures = run(scratch_database("vani_bench_fleet"), dovecot, args.webhooks, args.clients, args.kill_at,
                      args.mailboxes, say=lambda line: print(line, flush=True))
    except subprocess.CalledProcessError as exc:
        print(f"setting up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        dovecot.stop(graceful=False)
        shutil.rmtree(root, ignore_errors=True)
    report(figures)
    return 1 if figures.problems(goals=True) else 0


if __name__ == "__main__":
    raise SystemExit(main())
