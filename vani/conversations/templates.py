"""The organisation's approved WhatsApp templates, for whoever starts a conversation: asked of its
WhatsApp provider (``starting.provider_for``, then the provider's messenger) and kept in Redis
for ``TTL`` seconds per organisation and provider, so a prospect page drawn again (a live update)
asks nobody. A failure is kept for ``FAILED_TTL`` seconds, so a provider that is down slows one
page, not every one. Without Redis every call asks the provider.

Errors: ``starting.NoProvider`` (409) when the organisation has no WhatsApp provider,
``NotConfigured`` (409) when the provider lacks a setting the list needs, ``Unavailable`` (502)
when the provider failed or did not answer.
"""
from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError

from vani import plugins, tenancy
from vani.conversations import starting
from vani.errors import Conflict, InvalidField, ProviderUnavailable
from vani.extensions import redis_ext
from vani.orgs.provider_settings import config_for
from vani.plugins.messaging import Template, TemplateListError, variable_label

log = logging.getLogger(__name__)

TTL = 300
FAILED_TTL = 30
KEY = "vani:wa-templates:{org}:{provider}"


class NotConfigured(Conflict):
    code = "templates_not_configured"


class Unavailable(ProviderUnavailable):
    code = "templates_unavailable"


def _read(key: str) -> dict | None:
    if not redis_ext.available():
        return None
    try:
        raw = redis_ext.client.get(key)
        redis_ext.succeeded()
    except RedisError as exc:
        redis_ext.trip(exc)
        return None
    try:
        kept = json.loads(raw) if raw else None
    except ValueError:
        return None
    return kept if isinstance(kept, dict) else None


def _keep(key: str, value: dict, seconds: int) -> None:
    if not redis_ext.available():
        return
    try:
        redis_ext.client.set(key, json.dumps(value, ensure_ascii=False), ex=seconds)
    except RedisError as exc:
        redis_ext.trip(exc)


def _ask(org_id: int, provider: str) -> list[Template]:
    try:
        messenger = plugins.installed().get(provider).messenger
    except KeyError:
        messenger = None
    if messenger is None:
        raise NotConfigured(f"Vani cannot list {provider}'s templates")
    return messenger.templates(org_id, config_for(org_id))


def approved(org_id: int | None = None) -> list[Template]:
    """The approved templates of the organisation (in force unless given), by name and language."""
    org_id = org_id or tenancy.require()
    provider, _ = starting.provider_for(org_id)
    key = KEY.format(org=org_id, provider=provider)
    kept = _read(key)
    if kept is not None and "failed" in kept:
        raise Unavailable(str(kept["failed"]))
    if kept is not None and isinstance(kept.get("templates"), list):
        return [Template.from_dict(t) for t in kept["templates"]]
    try:
        found = _ask(org_id, provider)
    except TemplateListError as exc:
        if not exc.configured:
            raise NotConfigured(exc.message) from None
        reason = f"{provider} did not list the approved templates: {exc.message}"
        log.warning("organisation %s: %s", org_id, reason)
        _keep(key, {"failed": reason}, FAILED_TTL)
        raise Unavailable(reason) from None
    found.sort(key=lambda t: ((t.label or t.name).lower(), t.language))
    _keep(key, {"templates": [t.to_dict() for t in found]}, TTL)
    return found


def offer(provider: str | None = None) -> tuple[list[Template] | None, str | None]:
    """The approved templates to pick from (a form), or why there are none to pick (the name is
    typed then). ``provider``: the conversation's, when it must be the organisation's own."""
    try:
        if provider is not None and starting.provider_for(tenancy.require())[0] != provider:
            return None, f"the organisation's templates are not {provider}'s"
        found = approved()
    except (Conflict, ProviderUnavailable) as exc:
        return None, exc.detail
    return (found, None) if found else (None, "the provider lists no approved templates")


def forget(org_id: int | None = None) -> None:
    """Ask the provider afresh next time (after the organisation's provider settings change)."""
    org_id = org_id or tenancy.require()
    keys = [KEY.format(org=org_id, provider=p.name) for p in plugins.installed().with_part("messenger")]
    try:
        redis_ext.client.delete(*keys)
    except RedisError as exc:
        redis_ext.trip(exc)


def choice_value(template: Template) -> str:
    """How a form names one template: its language and name (a name may be in several languages)."""
    return f"{template.language}:{template.name}"


def _field(name: str) -> str:
    """A value's name in an error: ``{{2}}`` for the body's, the form's label for the others."""
    label = variable_label(name)
    return label[0].lower() + label[1:] if label != f"Value for {{{{{name}}}}}" else f"{{{{{name}}}}}"


def chosen(choice: str, values: list[str], org_id: int | None = None) -> dict:
    """The reply payload for a template picked from the list (``choice_value``) with the values
    typed for its variables: as many as it has, each filled in. A template no longer listed (or
    a list that cannot be had now) goes out with the values given, trailing empty ones dropped."""
    language, _, name = (choice or "").partition(":")
    if not name:
        raise InvalidField("template.name", "choose a template")
    values = [v.strip() for v in values]
    try:
        template = next((t for t in approved(org_id) if t.name == name and t.language == language), None)
    except (Conflict, ProviderUnavailable):
        template = None
    if template is None:
        while values and not values[-1]:
            values.pop()
    else:
        values = (values + [""] * len(template.variables))[:len(template.variables)]
        missing = [n for n, v in zip(template.variables, values) if not v]
        if missing:
            raise InvalidField("template.variables", f"{template.label or name} takes {len(values)} value"
                               f"{'s' if len(values) != 1 else ''}: fill in {_field(missing[0])}")
    if template is not None and not all(v.isdecimal() for v in template.variables):
        # Named placeholders ({{first_name}}) are sent by name.
        return {"template": {"name": name, "language": language, "variables": dict(zip(template.variables, values))}}
    return {"template": {"name": name, "language": language, "variables": values}}
