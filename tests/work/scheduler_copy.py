"""One copy of the scheduler, run by the tests as a process of its own
(``python -m tests.work.scheduler_copy``): the real scheduler loop, against ``DATABASE_URL`` and
``REDIS_URL``, with one cron entry queued every ``INTERVAL`` seconds so that a test can count it
per period."""
from __future__ import annotations

INTERVAL = 3


def tick() -> None:
    """What the entry queues (no worker runs it: the test counts the queued jobs)."""


def main() -> None:
    from tests.work.scheduler_copy import tick as queued  # by its module's name, not __main__'s
    from vani import create_app
    from vani.work.scheduler import CronEntry, run_scheduler

    app = create_app()
    with app.app_context():
        run_scheduler([CronEntry(queued, interval=INTERVAL, timeout=60)])


if __name__ == "__main__":
    main()
