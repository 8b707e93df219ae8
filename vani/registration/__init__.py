"""Webhook registration at providers (``flask vani webhooks register|status``).

``base`` decides what to change at a provider (keep, create, delete Vani's own subscriptions) and
stores the secret; ``http`` is the JSON client the providers' registrars use; ``registrars`` finds
the installed providers that bring a registrar (each lives in its provider's package, named on its
``Provider`` as ``registrar``) and builds one per call.
"""
