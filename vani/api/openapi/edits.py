"""The request bodies of changes made by hand: prospects, their notes and stages, and a first
WhatsApp message. Each is read by the service's own checks (``editing.clean``,
``starting.template_only``), so the API and the dashboard answer alike.
(Models carry comments, not docstrings: a docstring would become a description in the document.)"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, model_validator

from vani.api.openapi.bodies import Template
from vani.api.openapi.checks import checked_by, refusal
from vani.api.openapi.parsing import Body
from vani.conversations import starting
from vani.errors import MAX_ID, InvalidField
from vani.models import ProspectStage
from vani.prospects import editing


class ProspectIn(Body):
    # Read by ``editing.clean`` (with the stored prospect, ``context["prospect"]``, on a change).
    name: str | None = Field(None, max_length=255)
    email: str | None = Field(None, max_length=320, description="unique in the organisation (409 when taken)")
    phone: str | None = Field(None, max_length=64, description="any common spelling; stored as E.164")
    timezone: str | None = Field(None, max_length=64, description="an IANA time zone, e.g. Europe/Berlin")
    owner_id: int | None = Field(None, ge=1, le=MAX_ID, description="a member's user id, or null for nobody")

    @model_validator(mode="wrap")
    @classmethod
    def _fields(cls, data: Any, handler, info: ValidationInfo) -> ProspectIn:
        if not isinstance(data, dict):
            return handler(data)  # not an object
        try:
            values = editing.clean(data, (info.context or {}).get("prospect"))
        except InvalidField as exc:
            raise refusal(exc.detail, exc.field) from None
        values.pop("owner_email", None)
        return cls.model_construct(_fields_set=set(values), **values)


def _note(value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > editing.MAX_NOTE:
        raise InvalidField("body", f"write the note (1 to {editing.MAX_NOTE} characters)")


class NoteIn(Body):
    body: Annotated[str, checked_by(_note)] = Field(description=f"the note (at most {editing.MAX_NOTE} characters)")


class StageIn(Body):
    stage: Annotated[ProspectStage, checked_by(editing.parse_stage)] = \
        Field(description="forward freely; back (lower in lead, booked, met / no_show, paid) only with a reason")
    reason: str | None = Field(None, max_length=editing.MAX_REASON,
                               description="why; required to move back (409 reason_required)")


class ConversationStart(Body):
    template: Template = Field(description="an approved template: {name, language, variables}")

    @model_validator(mode="wrap")
    @classmethod
    def _payload(cls, data: Any, handler) -> ConversationStart:
        if not isinstance(data, dict):
            return handler(data)  # not an object
        unknown = sorted(set(data) - {"template"})
        if unknown and unknown != ["text"]:
            raise refusal("unknown field; allowed: template", unknown[0])
        try:
            return cls.model_construct(template=starting.template_only(data)["template"])
        except InvalidField as exc:
            raise refusal(exc.detail, exc.field) from None
