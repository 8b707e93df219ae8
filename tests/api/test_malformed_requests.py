"""Hostile input at every route of the /api/v1 token API: odd ids, query parameters, bodies and
Authorization headers get a JSON error (400/401/404/405/409/415) or a normal answer, never a 5xx."""
from __future__ import annotations

import base64
import json
import random

import pytest

from tests import odd_input as hs

DOCUMENTED_503 = {"database_unavailable", "queue_unavailable"}
IDS = ["0", "1", "9223372036854775807", "9223372036854775808", "1" + "0" * 40, "9" * 400]


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


QUERY_NAMES = ["provider", "status", "type", "email", "phone", "cursor", "limit", "prospect_id", "event",
               "subscription", "since", "wait", "check"]
QUERY_VALUES = ["", " ", "%00", "a%00b", "%FF%FE", "%ED%A0%80", "x" * 5000, "-1", "0", "%C2%B2", "1e3",
                "9" * 30, "%E0%A5%AF", "true", "[]", "%F0%9F%98%80", "calendly", "processed", "+1 555 010 0002",
                cursor("2026-01-01T00:00:00|99999999999999999999"), cursor("0001-01-01T00:00:00+05:00|1"),
                cursor("|"), cursor("9999-12-31T23:59:59-05:00|1"), cursor("2026-01-01T00:00:00|-5"),
                cursor("x" * 3000 + "|1"), "===", "%%%"]


def api_routes(app) -> list[tuple[str, str]]:
    """(method, rule) of every token-API route (provider webhooks and the API's description under
    /api/v1 are not token API)."""
    from vani.api import PUBLIC_ENDPOINTS

    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in PUBLIC_ENDPOINTS:
            out += [(m, rule.rule) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def fill(rule: str, value: str) -> str:
    while "<" in rule:
        start = rule.index("<")
        rule = rule[:start] + value + rule[rule.index(">", start) + 1:]
    return rule


def check(r, what) -> int:
    assert r.status_code < 500 or (r.status_code == 503 and r.is_json and r.json.get("error") in DOCUMENTED_503), \
        (r.status_code, r.get_data()[:300], repr(what)[:300])
    if r.status_code >= 400:
        assert r.is_json and isinstance(r.json.get("error"), str), (r.status_code, r.get_data()[:300], what)
    elif r.status_code != 204:
        assert r.is_json, (r.status_code, r.get_data()[:300])
    return r.status_code


@pytest.fixture
def bearer(app, api_token) -> dict:
    """The Authorization header of a valid token."""
    app.config["CALENDLY_API_TOKEN"] = None  # never reach out to Calendly
    return {"Authorization": f"Bearer {api_token}"}


def test_every_route_is_covered(app):
    assert len(api_routes(app)) >= 20


def test_odd_ids_and_query_parameters(app, bearer, client):
    rng = random.Random(2)
    statuses = []
    for method, rule in api_routes(app):
        for value in IDS:
            path = fill(rule, value)
            statuses.append(check(client.open(path, method=method, headers=bearer), path))
            for _ in range(12):
                query = "&".join(f"{rng.choice(QUERY_NAMES)}={rng.choice(QUERY_VALUES)}"
                                 for _ in range(rng.randint(1, 3)))
                r = client.open(f"{path}?{query}", method=method, headers=bearer)
                statuses.append(check(r, (method, path, query)))
    # each parameter alone with each value, on the list routes
    for rule in ("/api/v1/events", "/api/v1/prospects", "/api/v1/meetings", "/api/v1/conversations",
                 "/api/v1/webhooks/deliveries", "/api/v1/calendly/status"):
        for name in QUERY_NAMES:
            for value in QUERY_VALUES:
                statuses.append(check(client.get(f"{rule}?{name}={value}&{name}=2", headers=bearer),
                                      (rule, name, value)))
    assert {400, 404} <= set(statuses)  # the odd values were refused, not silently accepted


BODY_FIELDS = ["url", "events", "description", "secret", "event", "payload", "status", "since", "subscription",
               "wait", "active"]


def hostile_bodies(rng: random.Random) -> list[tuple[bytes, str | None]]:
    bodies: list[tuple[bytes, str | None]] = [
        (b"", None), (b"", "application/json"), (b"{", "application/json"), (b"\xff\xfe", "application/json"),
        (b"[]", "application/json"), (b"null", "application/json"), (hs.dump(hs.nested(900)), "application/json"),
        (b"[" * 100_000, "application/json"), (b"url=http%3A%2F%2Fx&events=a", "application/x-www-form-urlencoded"),
        (b'{"url": "http://x"}', "text/plain"), (b'{"url": "http://x"}', "multipart/form-data"),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "application/json"),
    ]
    for _ in range(40):
        doc = {name: rng.choice(hs.HOSTILE) for name in rng.sample(BODY_FIELDS, rng.randint(1, 4))}
        bodies.append((hs.dump(doc), "application/json"))
        bodies.append((hs.random_json_bytes(rng), rng.choice(["application/json", None])))
    return bodies


def test_hostile_bodies_on_every_route(app, bearer, client):
    rng = random.Random(9)
    bodies = hostile_bodies(rng)
    statuses = []
    for method, rule in api_routes(app):
        path = fill(rule, "1")
        for body, content_type in bodies:
            headers = {**bearer, **({"Content-Type": content_type} if content_type else {})}
            statuses.append(check(client.open(path, method=method, data=body, headers=headers),
                                  (method, path, body[:200])))
    assert 400 in statuses  # the bodies were refused where a body is read


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "bearer x", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 20_000, "Bearer \u00e9\u00ff",
    "Bearer vani_" + "A" * 43, "Token vani_x", "Bearer\tvani_x", "Bearer vani_x extra", "\u00c3\u00a9",
])
def test_bad_authorization_is_a_json_401(app, client, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, rule in api_routes(app):
        r = client.open(fill(rule, "1"), method=method, headers=headers, json={})
        assert r.status_code == 401 and r.is_json and r.json["error"] == "unauthorized", (rule, r.status_code)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_methods_not_allowed_are_json(app, bearer, client):
    for path in ("/api/v1/events", "/api/v1/events/1", "/api/v1/meetings", "/api/v1/conversations"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = client.open(path, method=method, headers=bearer)
            assert r.status_code == 405 and r.is_json and r.json["error"], (path, method)
    r = client.get("/api/v1/nowhere/%00", headers=bearer)
    assert r.status_code == 404 and r.is_json


def test_ids_beyond_64_bits_are_404_not_errors(bearer, client):
    for rule in ("/api/v1/events/", "/api/v1/prospects/", "/api/v1/conversations/", "/api/v1/webhooks/deliveries/"):
        for value in IDS[2:]:
            r = client.get(rule + value, headers=bearer)
            assert r.status_code == 404 and r.json["error"] == "not_found", (rule, value, r.json)


def test_query_values_with_nul_are_400(bearer, client):
    for query in ("type=a%00", "email=%00", "provider=%00", "status=%00", "cursor=%00", "phone=%00"):
        for rule in ("/api/v1/events", "/api/v1/prospects", "/api/v1/meetings", "/api/v1/conversations"):
            r = client.get(f"{rule}?{query}", headers=bearer)
            assert r.status_code == 400 and r.json["error"] == "invalid_parameter", (rule, query, r.json)


def test_non_ascii_digits_are_400(bearer, client):
    r = client.get("/api/v1/conversations?prospect_id=%C2%B2", headers=bearer)
    assert r.status_code == 400 and r.json["field"] == "prospect_id"
    r = client.get("/api/v1/conversations?prospect_id=" + "9" * 30, headers=bearer)
    assert r.status_code == 200 and r.json["data"] == []
    r = client.get("/api/v1/events?limit=%E0%A5%AF", headers=bearer)  # Devanagari nine
    assert r.status_code == 400 and r.json["field"] == "limit"


def test_list_answers_keep_their_shape(bearer, client):
    for rule in ("/api/v1/events", "/api/v1/prospects", "/api/v1/meetings", "/api/v1/conversations"):
        r = client.get(f"{rule}?limit=1", headers=bearer)
        assert r.status_code == 200 and r.json == {"data": [], "next_cursor": None}
        r = client.get(f"{rule}?cursor={cursor('2026-01-01T00:00:00|99999999999999999999')}",
                       headers=bearer)
        assert r.status_code == 400 and r.json["field"] == "cursor"
    assert json.loads(client.get("/api/v1/events?limit=0", headers=bearer).data)["field"] == "limit"
