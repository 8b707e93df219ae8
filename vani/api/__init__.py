"""The token API under /api/v1: the blueprint (``blueprint``) and every route module."""
from __future__ import annotations

from vani.api.blueprint import PUBLIC_ENDPOINTS, bp, needs, scope_of  # noqa: F401  (the API's names)
from vani.api import idempotency  # noqa: F401  (after the token check: keys are per token)
from vani.api import conversations, events, prospects, reference, replies, webhooks  # noqa: F401  (routes)
from vani.api import prospect_changes  # noqa: F401  (routes)
