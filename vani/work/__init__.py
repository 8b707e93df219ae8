"""The work engine: every durable piece of work in Vani goes through it.

Inbound event processing, outbound deliveries and notification sends (and every later kind of
send or sync) are *lanes*: a table whose rows wait to be done, and a handler that does them.
The engine owns the rest, the same way for every lane:

- ``claims``: claim due rows with a lease and a fencing token, renew the lease during long work,
  settle each row with its token checked in the same ``UPDATE``, take over rows of dead workers;
- ``policy``: one ``RetryPolicy`` (schedule, jitter, safe ``Retry-After``, attempts) and the
  dead-letter state every lane has;
- ``wake`` and ``runner``: Redis only wakes workers; the ``drain`` job claims from the database;
  ``queues`` names the RQ queues they go through;
- ``effects``: the unit of work: a change records the lanes to wake and the live updates to
  publish, carried out once after its commit (never after a rollback);
- ``sweep``, ``scheduler`` and ``workers``: the sweep, the scheduler (any number of copies, one
  leading through ``leadership``) and the workers, all riding out Redis restarts; ``stopping``
  and ``heartbeat``: clean stops, and a row per live process.

Services define their lane beside their handler (e.g. ``vani.processing.EVENTS``);
``vani.lanes`` lists them once and ``create_app`` installs them.
"""
from vani.work.claims import Claim, claim, take_over  # noqa: F401
from vani.work.lane import Lane, get, install, installed  # noqa: F401
from vani.work.policy import RetryPolicy, parse_retry_after, parse_schedule  # noqa: F401
from vani.work.runner import drain, in_flight, one_by_one, run_inline  # noqa: F401
from vani.work.wake import kick  # noqa: F401
