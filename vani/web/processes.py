"""The Processes page (admins): the install's workers, schedulers and mail watchers from their
heartbeats, silent ones flagged."""
from __future__ import annotations

from flask import render_template

from vani.models import Role
from vani.web.access import role_required
from vani.web.blueprint import bp
from vani.work import heartbeat


@bp.get("/processes")
@role_required(Role.ADMIN)
def processes():
    found = heartbeat.processes()
    return render_template("processes.html", processes=found, missing=heartbeat.missing_roles(found),
                           silent_after=heartbeat.silent_after_text())
