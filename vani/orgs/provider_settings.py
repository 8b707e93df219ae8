"""The provider API settings an organisation works with (API keys, a Kapso number id): its own,
stored encrypted per organisation, and for the default organisation the environment's as well
(a stored one wins). Registrars and syncs read them through ``config_for``; a stored one no key
can decrypt counts as not set (``secrets.unreadable_credentials`` lists it)."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import defer

from vani import crypto, plugins, tenancy
from vani.errors import InvalidField
from vani.extensions import db
from vani.models import ProviderCredential
from vani.models.base import utcnow

ORG_SETTINGS: dict[str, tuple[str, ...]] = {
    "calendly": ("CALENDLY_API_TOKEN",),
    "cal_com": ("CAL_COM_API_KEY",),
    "kapso": ("KAPSO_API_KEY", "KAPSO_PHONE_NUMBER_ID", "KAPSO_BUSINESS_ACCOUNT_ID"),
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_WHATSAPP_FROM"),
}
ALL_SETTINGS = {name for names in ORG_SETTINGS.values() for name in names}


def _stored(org_id: int) -> dict[str, str]:
    rows = db.session.execute(select(ProviderCredential.name, crypto.token(ProviderCredential.value)).where(
        ProviderCredential.org_id == org_id, ProviderCredential.name.in_([n.lower() for n in ALL_SETTINGS]))
        .execution_options(unscoped=True)).all()
    values = {name.upper(): crypto.readable(token) for name, token in rows}
    return {name: value for name, value in values.items() if value}


def config_for(org_id: int | None = None) -> dict:
    """The app's settings as the organisation (in force unless given) sees them; a provider
    connected through OAuth puts its access token (refreshed when about to expire) in the API
    setting it stands in for (``CALENDLY_API_TOKEN`` for "Connect Calendly"), over a stored one."""
    from vani import orgs

    org_id = org_id or tenancy.require()
    config = dict(current_app.config)
    if org_id != orgs.default_id():
        for name in ALL_SETTINGS:
            config[name] = None  # the environment's keys are the default organisation's
    config.update(_stored(org_id))
    for provider in plugins.installed().with_part("connector"):
        setting = provider.connector.api_setting
        token = provider.connector.api_token(org_id) if setting else None
        if token:
            config[setting] = token
    return config


def configured_settings(org_id: int | None = None) -> set[str]:
    """Which API settings the organisation has (stored, or the environment's for the default one)."""
    config = config_for(org_id)
    return {name for name in ALL_SETTINGS if config.get(name)}


def store_setting(provider_name: str, setting: str, value: str) -> None:
    """Store (encrypted) one of a provider's API settings for the organisation in force; commits."""
    setting = setting.strip().upper()
    if setting not in ORG_SETTINGS.get(provider_name, ()):
        known = ", ".join(ORG_SETTINGS.get(provider_name, ())) or "none"
        raise InvalidField("setting", f"{provider_name} settings are {known}")
    value = (value or "").strip()
    if not value or len(value) > 4000:
        raise InvalidField("value", "give a value of 1 to 4000 characters")
    row = db.session.execute(select(ProviderCredential).where(
        ProviderCredential.provider == provider_name, ProviderCredential.name == setting.lower())
        .options(defer(ProviderCredential.value))).scalar_one_or_none()  # overwritten, even when unreadable
    if row is None:
        row = ProviderCredential(org_id=tenancy.require(), provider=provider_name, name=setting.lower())
        db.session.add(row)
    row.value, row.updated_at = value, utcnow()
    db.session.commit()
