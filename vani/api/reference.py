"""The API's description: ``GET /api/v1/openapi.json`` and the reference page ``/api/v1/docs``
(server-rendered from the same document: no script, no CDN)."""
from __future__ import annotations

from flask import current_app, jsonify, render_template

from vani.api.blueprint import PUBLIC_ENDPOINTS, bp
from vani.api.openapi import documented
from vani.api.openapi import models as m
from vani.api.openapi.document import build

HTML = {"200": {"description": "the reference page", "content": {"text/html": {"schema": {"type": "string"}}}}}


def document() -> dict:
    """Built once per app: the routes do not change while it runs."""
    cached = current_app.extensions.get("vani.openapi")
    if cached is None:
        cached = current_app.extensions["vani.openapi"] = build(current_app)
    return cached


@bp.get("/openapi.json")
@documented("This document (OpenAPI 3.1)", "meta", {200: m.AnyDocument}, public=True)
def openapi_document():
    return jsonify(document())


@bp.get("/docs")
@documented("The API reference page", "meta", {200: None}, public=True, extra={"responses": HTML})
def reference():
    doc = document()
    tags = list(dict.fromkeys(op["tags"][0] for ops in doc["paths"].values() for op in ops.values()))
    return render_template("api/reference.html", doc=doc, tags=tags)


PUBLIC_ENDPOINTS.update({"api.openapi_document", "api.reference"})
