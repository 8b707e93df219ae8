"""Building the OpenAPI 3.1 document from the app's URL map and each view's ``Operation``."""
from __future__ import annotations

import re

from apispec import APISpec
from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter

from vani.api.blueprint import scope_of
from vani.api.openapi import Operation
from vani.api.openapi.events import ENVELOPES, webhooks
from vani.api.openapi.models import Error
from vani.errors import MAX_ID
from vani.models import Scope
from vani.version import __version__

PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"
SECURITY = "bearerAuth"
IDEMPOTENT = ("POST", "PATCH")  # the methods that take an Idempotency-Key (vani.api.idempotency)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "repeat a request safely: for 24 hours the same key with the same request gets the first "
                   "answer (Idempotent-Replayed: true); with another request, 409 idempotency_key_reused",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]([ -~]*[!-~])?$"},
}
ERRORS = {400: "invalid input: `field` names it", 401: "no live bearer token", 403: "the token lacks the scope",
          404: "no such resource in the token's organisation", 409: "conflicts with the current state",
          413: "the body is too large", 415: "the body is not of a type the endpoint takes",
          429: "over the organisation's rate: try again after Retry-After seconds",
          502: "the provider refused the call", 503: "the database or the queue is unreachable; retry"}
SCOPES = {Scope.READ: "read every GET but subscriptions", Scope.SUBSCRIPTIONS: "manage subscriptions, retry deliveries",
          Scope.EMIT: "send custom events", Scope.MESSAGES: "send WhatsApp messages, mark conversations read",
          Scope.WRITE: "create and edit prospects, notes, owners and stages", Scope.ADMIN: "everything"}


class MissingDescription(Exception):
    """A route under /api/v1 has no ``documented`` description."""


def _path(rule) -> tuple[str, list[dict]]:
    params = []
    for name, converter in rule._converters.items():
        schema = {"type": "integer", "minimum": 0, "maximum": MAX_ID} if isinstance(converter, IntegerConverter) \
            else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), params


def _query(model: type[BaseModel] | None, providers: list[str]) -> list[dict]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
        if name == "provider":
            prop = {"type": "string", "enum": providers}
        if "anyOf" in prop:  # a query parameter is a string or absent, never null
            kinds = [s for s in prop.pop("anyOf") if s.get("type") != "null"]
            prop = {**prop, **(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})}
        description = prop.pop("description", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _content(ref: dict | None) -> dict:
    return {"application/json": {"schema": ref}} if ref is not None else {}


def _responses(op: Operation, method: str, has_path_params: bool, refs: dict) -> dict:
    out = {}
    for status, model in op.ok.items():
        answer = {"description": {200: "OK", 201: "created", 202: "accepted", 204: "done, no body"}.get(status, "OK")}
        if model is not None:
            answer["content"] = _content(refs[model])
        out[str(status)] = answer
    codes = set(op.errors)
    if not op.public:
        codes |= {401, 403}
    if op.query or op.body or method == "POST":
        codes.add(400)
    if has_path_params:
        codes.add(404)
    if method in IDEMPOTENT and not op.public:
        codes.add(409)  # Idempotency-Key reused or still in flight
    for status in sorted(codes):
        out[str(status)] = {"description": ERRORS[status], "content": _content(refs[Error])}
        if status == 429:
            out[str(status)]["headers"] = {"Retry-After": {
                "description": "seconds to wait before trying again", "schema": {"type": "integer", "minimum": 1}}}
    return out


def _operation(op: Operation, view, method: str, rule, refs: dict, providers: list[str]) -> dict:
    path, params = _path(rule)
    params += _query(op.query, providers)
    if method in IDEMPOTENT and not op.public:
        params.append(IDEMPOTENCY_KEY)
    data = {"operationId": f"{method.lower()}_{rule.endpoint.split('.')[-1]}", "summary": op.summary,
            "tags": [op.tag], "parameters": params, "responses": _responses(op, method, bool(rule._converters), refs)}
    if op.description:
        data["description"] = op.description
    if op.public:
        data["security"] = []
    else:
        scope = scope_of(view, method)
        data["security"] = [{SECURITY: [str(scope)]}]
        data["x-scope"] = str(scope)
    if op.body is not None:
        data["requestBody"] = {"required": op.body_required, "content": _content(refs[op.body])}
    data.update(op.extra)
    return data


def _models(operations: list[Operation], extra: tuple[type[BaseModel], ...] = ()) -> dict:
    inputs = {m for op in operations for m in (op.body, op.query) if m is not None}
    outputs = {m for op in operations for m in op.ok.values() if m is not None} | {Error} | set(extra)
    pairs = [(m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)] + \
            [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)]
    keys, defs = models_json_schema(pairs, ref_template=REF)
    refs = {model: ref for (model, _mode), ref in keys.items()}
    defs = defs.get("$defs", {})
    for schema in defs.values():
        for prop in schema.get("properties", {}).values():
            if "default" in prop and prop["default"] is None and not _nullable(prop):
                del prop["default"]  # a field that may be left out, never null (a query parameter)
    return refs, defs


def _nullable(schema: dict) -> bool:
    kinds = schema.get("type")
    return kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or \
        any(_nullable(s) for s in [*schema.get("anyOf", ()), *schema.get("oneOf", ())])


def build(app: Flask) -> dict:
    """The OpenAPI 3.1 document of every route under /api/v1. Raises ``MissingDescription``."""
    from vani.providers.registry import all_providers

    providers = sorted(p.name for p in all_providers())
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        view = app.view_functions[rule.endpoint]
        op = getattr(view, "openapi", None)
        if op is None:
            raise MissingDescription(f"{rule.rule} ({rule.endpoint}) is not described: add @documented")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule, view, method, op))
    refs, defs = _models([op for *_, op in found], tuple(ENVELOPES.values()))
    spec = APISpec(title="Vani API", version=__version__, openapi_version="3.1.0", info={
        "description": "Vani's token API. Send Authorization: Bearer <token>; each operation names the scope "
                       "it needs. Lists are newest first with keyset pagination (next_cursor). Errors are "
                       '{"error": code, "detail": …}.'})
    spec.components.security_scheme(SECURITY, {"type": "http", "scheme": "bearer",
                                               "description": "; ".join(f"{k}: {v}" for k, v in SCOPES.items())})
    for name, schema in sorted(defs.items()):
        spec.components.schema(name, schema)
    paths: dict[str, dict] = {}
    for rule, view, method, op in found:
        path, _ = _path(rule)
        paths.setdefault(path, {})[method.lower()] = _operation(op, view, method, rule, refs, providers)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{SECURITY: []}]
    document["webhooks"] = webhooks(refs)  # the outbound catalogue: what subscribers receive
    return document
