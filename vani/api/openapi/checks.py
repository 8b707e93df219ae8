"""Vani's words inside the input models: a field's failure answered as ``InvalidField`` answers it.

Pydantic checks a field's type and constraints (what the OpenAPI document shows); ``says`` puts
Vani's message on any failure of them, and ``checked_by``/``parsed_by`` run one of the domain's
own checks (which raise ``InvalidField``) on the value as sent. Either way the failure reaches
``parsing.invalid_field`` as a ``refusal``, carrying the field and the message the API answers.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from vani.errors import InvalidField

REFUSED = "vani_refused"


def refusal(detail: str, field: str | None = None) -> PydanticCustomError:
    """A validation error in Vani's words (``field`` None: the field where it was raised)."""
    return PydanticCustomError(REFUSED, "{detail}", {"detail": detail, "field": field})


def says(message: str, **by_type: str) -> WrapValidator:
    """The field's own type and constraints, failing with ``message`` (or ``by_type[error type]``)."""

    def wrap(value: Any, handler: Callable) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            raise refusal(by_type.get(exc.errors()[0]["type"], message)) from None

    return WrapValidator(wrap)


def parsed_by(check: Callable[[Any], Any]) -> WrapValidator:
    """What ``check`` makes of the value as sent: the domain's own check is the field's check
    (its ``InvalidField`` the field's error), and the annotated type says in the document what
    it takes."""

    def run(value: Any, _handler: Callable) -> Any:
        try:
            return check(value)
        except InvalidField as exc:
            raise refusal(exc.detail, exc.field) from None

    return WrapValidator(run)


def checked_by(check: Callable[[Any], Any]) -> WrapValidator:
    """The value as sent, once ``check`` found nothing wrong with it (the service it goes to
    reads it as before)."""

    def keep(value: Any) -> Any:
        check(value)
        return value

    return parsed_by(keep)
