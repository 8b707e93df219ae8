"""The providers this Vani serves, listed once. ``create_app`` builds the app's ``ProviderRegistry``
from ``PROVIDERS``, where areas and views find it through ``vani.plugins.installed()``; the names
below answer the same where no app runs yet (the command line's, a test's parameters).

Adding a provider: create its package (``vani/providers/<name>/``, a ``Provider`` subclass and its
parts), add its ``provider`` here, and write its webhook URLs in ``vani.inbound``.
"""
from __future__ import annotations

from vani.plugins import ProviderRegistry
from vani.providers.cal_com import provider as cal_com
from vani.providers.calendly import provider as calendly
from vani.providers.gmail import provider as gmail
from vani.providers.imap import provider as imap
from vani.providers.kapso import provider as kapso
from vani.providers.twilio import provider as twilio

PROVIDERS = (calendly, cal_com, kapso, twilio, gmail, imap)

REGISTRY = ProviderRegistry(PROVIDERS)

all_providers = REGISTRY.all
webhook_providers = REGISTRY.webhook
get_provider = REGISTRY.get
webhook_paths = REGISTRY.webhook_paths
installed_providers = REGISTRY.names
