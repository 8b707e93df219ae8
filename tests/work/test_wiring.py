"""One-way wiring: every job, lane and cron entry is referenced as an object, so a rename fails
here (or at import), never silently in production."""
from __future__ import annotations

import importlib
from pathlib import Path

from rq.job import Job

from vani.jobs.maintenance import CRON
from vani.lanes import LANES
from vani.work import lane as lanes
from vani.work import wake
from vani.work.scheduler import build_cron
from vani.work.workers import all_queues
from vani.work.runner import drain

ROOT = Path(__file__).resolve().parent.parent.parent


def resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_every_lane_is_installed_once_and_has_a_queue_a_worker_listens_on(app):
    assert lanes.installed() == LANES
    assert len({lane.name for lane in LANES}) == len(LANES)
    assert [wake.queue_name(lane) for lane in LANES] == all_queues()[:len(LANES)]
    for lane in LANES:
        assert lanes.get(lane.name) is lane
        # a lane's handler is an area's (vani.outbound, vani.mail …), never the engine's or an entry point's
        area = lane.handler.__module__.split(".")[1]
        assert callable(lane.handler) and area not in ("work", "jobs", "web", "api", "commands", "inbound")


def test_a_kick_queues_the_drain_job_by_a_name_that_resolves_back_to_it(app, redis_client):
    for lane in LANES:
        assert wake.kick(lane)
        [job_id] = wake.get_queue(wake.queue_name(lane)).job_ids
        job = Job.fetch(job_id, connection=redis_client)
        assert resolve(job.func_name) is drain
        assert lanes.get(job.args[0]) is lane


def test_a_lane_renamed_or_removed_fails_loudly(app):
    import pytest

    with pytest.raises(LookupError, match="no work lane named 'evnets'"):
        drain("evnets")


def test_every_cron_job_resolves_to_its_function(app, redis_client):
    scheduler = build_cron(redis_client, CRON, name="wiring")
    assert [resolve(job.func_name) for job in scheduler.get_jobs()] == [entry.func for entry in CRON]


def test_nothing_is_imported_by_a_dotted_string():
    for path in (ROOT / "vani").rglob("*.py"):
        text = path.read_text()
        assert "import_module(" not in text, f"{path.relative_to(ROOT)} imports by name"
