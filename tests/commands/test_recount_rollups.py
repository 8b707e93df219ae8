"""``flask vani recount-rollups``: the overview's counts rebuilt from the stored rows."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.web.seed import add_event
from vani.extensions import db
from vani.models import HourlyRollup


def test_recount_rollups_counts_the_stored_events(app):
    add_event(status="processed")
    add_event(provider="cal_com", event_type="BOOKING_CREATED", status="failed")
    add_event(status="received")  # waiting: not settled, not counted
    result = app.test_cli_runner().invoke(args=["vani", "recount-rollups"])
    assert result.exit_code == 0, result.output
    assert "recounted" in result.output
    rows = dict(db.session.execute(select(HourlyRollup.dim, func.sum(HourlyRollup.value))
                                   .where(HourlyRollup.metric == "events").group_by(HourlyRollup.dim)).all())
    assert rows == {"calendly:processed": 1, "cal_com:failed": 1}
    refused = app.test_cli_runner().invoke(args=["vani", "recount-rollups", "--org", "nope"])
    assert refused.exit_code != 0 and "--org" in refused.output
