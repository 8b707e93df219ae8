"""The Processes page: admins see the install's processes from their heartbeats, silent ones
flagged and missing roles called out; staff and viewers are refused and not shown the link."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from vani.extensions import db
from vani.models import ProcessHeartbeat, ProcessRole
from vani.models.base import utcnow
from vani.work.heartbeat import Heartbeat


def text(r) -> str:
    return r.get_data(as_text=True)


def rows(page: str) -> dict[str, str]:
    """Each body row's text (tags stripped), by its PID cell."""
    found = {}
    for row in re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", page, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        found[cells[3]] = " | ".join(cells)
    return found


def test_admins_see_live_and_silent_processes(app, login):
    app.config["VANI_HEARTBEAT_SECONDS"] = 10
    Heartbeat(db.engine, ProcessRole.SCHEDULER, ["events"], 10, leading=True).write()
    db.session.add(ProcessHeartbeat(role=ProcessRole.WORKER, host="w1.example", pid=777, lanes=["vani-events"],
                                    version="0.0.9", started_at=utcnow() - timedelta(hours=2),
                                    last_beat=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    r = login("admin").get("/dashboard/processes")
    assert r.status_code == 200, text(r)
    page = text(r)
    assert "<caption" in page and 'scope="col">Last beat' in page
    found = rows(page)
    assert found["777"].split(" | ")[:6] == ["worker", "silent", "w1.example", "777", "0.0.9", "5 min ago"]
    [scheduler] = [v for k, v in found.items() if k != "777"]
    assert scheduler.startswith("scheduler | live |") and "| yes |" in scheduler
    assert "No live worker." in page  # the only worker is silent
    assert "No live scheduler" not in page


def test_an_empty_install_says_what_to_start(login):
    page = text(login("admin").get("/dashboard/processes"))
    assert "No process has written a heartbeat." in page and "No live worker and no live scheduler." in page


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_only_admins_see_the_page_and_its_link(login, role):
    assert login(role).get("/dashboard/processes").status_code == 403
    assert "/dashboard/processes" not in text(login(role).get("/dashboard/"))
    assert 'href="/dashboard/processes"' in text(login("admin").get("/dashboard/"))
