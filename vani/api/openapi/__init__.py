"""The API's OpenAPI 3.1 description, generated from the routes themselves.

Each view declares what it takes and answers with ``documented``; ``document.build`` walks the
app's URL map, so a route added under /api/v1 without a description makes the build fail (and
its test), and the scope, path parameters, errors and ``Idempotency-Key`` come from the code.
The view reads its input with the same models (``parsing.request_query``/``request_body``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    ok: dict[int, type[BaseModel] | None]  # success status → body model (None: no body)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()  # beyond those every operation may answer
    description: str = ""
    public: bool = False  # authenticated otherwise (a provider's signature)
    extra: dict = field(default_factory=dict)


def documented(summary: str, tag: str, ok: dict[int, type[BaseModel] | None], **kw) -> Callable:
    """Describe a view for the OpenAPI document (see ``Operation``)."""

    def mark(view):
        view.openapi = Operation(summary, tag, ok, **kw)
        return view

    return mark
