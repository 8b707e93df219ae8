"""The OpenAPI document: generated from the routes, complete, public, and its reference page."""
from __future__ import annotations

import re

import pytest

from vani.api.openapi.document import MissingDescription, build


def test_every_api_route_and_method_is_in_the_document(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()  # public: no token
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "Vani API"
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routes = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented and len(routes) == 45


def test_a_route_without_a_description_fails_the_build():
    from flask import Flask

    from vani.api.openapi import documented

    app = Flask(__name__)
    app.add_url_rule("/api/v1/described", "described", documented("Described", "meta", {204: None})(lambda: ""))
    assert list(build(app)["paths"]) == ["/api/v1/described"]
    app.add_url_rule("/api/v1/undescribed", "undescribed", lambda: "")
    with pytest.raises(MissingDescription, match="/api/v1/undescribed"):
        build(app)


def test_operations_say_their_scope_errors_and_idempotency_key(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    create = doc["paths"]["/api/v1/webhooks/subscriptions"]["post"]
    assert create["security"] == [{"bearerAuth": ["subscriptions"]}]
    assert {"201", "400", "401", "403", "409"} <= set(create["responses"])
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SubscriptionIn"}
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    listing = doc["paths"]["/api/v1/events"]["get"]
    assert listing["security"] == [{"bearerAuth": ["read"]}]
    assert "Idempotency-Key" not in {p["name"] for p in listing["parameters"]}
    provider = next(p for p in listing["parameters"] if p["name"] == "provider")
    assert {"calendly", "cal_com", "kapso", "twilio"} <= set(provider["schema"]["enum"])
    detail = doc["paths"]["/api/v1/webhooks/deliveries/{delivery_id}"]["get"]
    assert detail["parameters"][0] == {"name": "delivery_id", "in": "path", "required": True,
                                       "schema": {"type": "integer", "minimum": 0, "maximum": 2 ** 63 - 1}}
    assert "404" in detail["responses"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["Error"]["properties"]) >= {"error", "detail", "field"}
    assert schemas["SubscriptionIn"]["additionalProperties"] is False
    assert doc["paths"]["/api/v1/calendly/webhook"]["post"]["security"] == []


def test_the_reference_page_is_offline(client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "POST" in page and "/api/v1/webhooks/subscriptions" in page and "SubscriptionIn" in page
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another host
    assert client.get("/static/api-reference.css").status_code == 200


def test_the_document_is_valid_openapi_3_1(client):
    """A standard validator finds nothing wrong: a query parameter that may be left out has no
    ``default: null`` on a type that is not nullable."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    doc = client.get("/api/v1/openapi.json").get_json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []
    assert "default" not in doc["components"]["schemas"]["EventQuery"]["properties"]["cursor"]


def test_every_catalogue_type_is_a_webhook_with_its_payload_schema(client):
    """The document's ``webhooks`` list the outbound catalogue: one POST per type, whose body
    names the type and describes its ``data``."""
    from vani.models import EventType

    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]

    def resolve(schema: dict) -> dict:
        return schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    assert set(doc["webhooks"]) == {t.value for t in EventType}
    for name, item in doc["webhooks"].items():
        body = resolve(item["post"]["requestBody"]["content"]["application/json"]["schema"])
        assert body["properties"]["type"]["const"] == name
        assert {"id", "type", "timestamp", "data"} <= set(body["required"])
        data = resolve(body["properties"]["data"])
        assert data["type"] == "object" and data["properties"], name
    assert set(resolve({"$ref": doc["webhooks"]["payment.received"]["post"]["requestBody"]["content"]
                        ["application/json"]["schema"]["$ref"]})["properties"]) == {"id", "type", "timestamp", "data"}
