"""A few hundred of the property-based fuzz examples of ``bench/fuzz.py`` on every webhook and API
route: no generated body, header or parameter gets a 5xx (the full run is ``python -m bench.fuzz``)."""
from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")

from bench import fuzz  # noqa: E402


def test_no_generated_input_gets_a_5xx(app, api_token):
    app.config.update(fuzz.SECRETS)
    findings = fuzz.Findings()
    client = app.test_client()
    fuzz.fuzz_webhooks(client, findings, 200)
    fuzz.fuzz_api(app, client, api_token, findings, 200)
    assert sum(findings.statuses.values()) >= 400
    assert not findings.errors, "\n".join(findings.errors)
    assert {200, 401, 400} <= set(findings.statuses)  # the signed half got through to the parsers


def test_no_generated_dashboard_request_gets_a_5xx(app):
    findings = fuzz.Findings()
    client, csrf = fuzz.admin_client(app)
    assert csrf, "the admin is signed in and holds a CSRF token"
    fuzz.fuzz_dashboard(app, client, csrf, findings, 300)
    assert sum(findings.statuses.values()) == 300
    assert not findings.errors, "\n".join(findings.errors)
    assert 200 in findings.statuses and 400 in findings.statuses  # pages rendered, and bad forms refused
