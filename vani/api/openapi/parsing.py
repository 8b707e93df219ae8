"""Reading a request through the models its operation documents: the query with ``request_query``,
the body with ``request_body``. A model that refuses the input raises ``InvalidField`` (400), in
the words the API has always answered: ``invalid_field`` turns pydantic's errors into it."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator

from vani.api.openapi import Operation
from vani.api.openapi.checks import REFUSED
from vani.errors import InvalidField
from vani.payloads.safejson import load_json

M = TypeVar("M", bound=BaseModel)


class Query(BaseModel):
    """Query parameters: each field one parameter, all optional; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def sent(cls) -> dict[str, str]:
        return {name: request.args[name] for name in cls.model_fields if name in request.args}


class Body(BaseModel):
    """A JSON request body: unknown fields are refused (400 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def sent(cls) -> Any:
        """The JSON body made safe to store (``safejson``: no NUL, no lone surrogate), or None
        when the request holds no JSON."""
        if not request.is_json:
            return None
        try:
            return load_json(request.get_data(cache=True))
        except ValueError:
            return None

    @model_validator(mode="before")
    @classmethod
    def _look_up(cls, data: Any, info: ValidationInfo) -> Any:
        """What the path names is looked up (``context["look_up"]``: 404 when missing) once the
        body is an object of known fields, before the fields are checked: the order the service
        checks in. The checks find it as ``context["found"]``."""
        look_up = (info.context or {}).get("look_up")
        if look_up is not None and isinstance(data, dict) and set(data) <= set(cls.model_fields):
            info.context["found"] = look_up()
        return data

    @classmethod
    def not_object(cls) -> InvalidField:
        return InvalidField("body", "must be a JSON object (send Content-Type: application/json)")

    @classmethod
    def unknown_field(cls, name: str) -> InvalidField:
        return InvalidField(name, f"unknown field; allowed: {', '.join(sorted(cls.model_fields))}")

    @classmethod
    def missing_field(cls, name: str) -> InvalidField:
        return InvalidField(name, "is required")

    def given(self) -> dict[str, Any]:
        """The fields the request sent, as plain values."""
        return {name: getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set}


def _operation() -> Operation:
    return current_app.view_functions[request.endpoint].openapi


def request_query() -> Query:
    """The query parameters, read by the operation's query model."""
    model = _operation().query
    return read(model, model.sent())


def request_body(context: dict | None = None, look_up: Callable[[], Any] | None = None) -> Body:
    """The body, read by the operation's body model (``context``: what its checks may use;
    ``look_up``: see ``Body._look_up``)."""
    model = _operation().body
    return read(model, model.sent(), {**(context or {}), "look_up": look_up} if look_up else context)


def read(model: type[M], data: Any, context: dict | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise invalid_field(exc, model) from None


def _rank(item: tuple[int, dict]) -> tuple[int, str, int]:
    """Which error answers: not an object, then an unknown field (by name), then a missing one,
    then the first failing field (in the model's order)."""
    n, error = item
    if not error["loc"]:
        return 0, "", n
    if error["type"] == "extra_forbidden":
        return 1, str(error["loc"][0]), n
    return (2 if error["type"] == "missing" else 3), "", n


def invalid_field(exc: ValidationError, model: type[BaseModel]) -> InvalidField:
    """The one ``InvalidField`` the API answers for ``exc`` (pydantic lists every error)."""
    _, error = min(enumerate(exc.errors(include_url=False)), key=_rank)
    loc, kind = error["loc"], error["type"]
    if kind == REFUSED:
        return InvalidField(error["ctx"]["field"] or _dotted(loc), error["ctx"]["detail"])
    if issubclass(model, Body):
        if not loc:
            return model.not_object()
        if kind == "extra_forbidden":
            return model.unknown_field(str(loc[0]))
        if kind == "missing":
            return model.missing_field(str(loc[0]))
    return InvalidField(_dotted(loc) or "body", error["msg"])


def _dotted(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)
