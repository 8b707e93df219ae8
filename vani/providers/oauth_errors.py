"""What an OAuth token endpoint's error answer says (RFC 6749 §5.2), for the compliance hooks
that turn such answers into each provider's own error."""
from __future__ import annotations

import requests


def token_error(response: requests.Response, fallback) -> tuple[str | None, str]:
    """``(error code, detail)`` of an error answer: ``error`` and ``error_description`` from a
    JSON body, else whatever ``fallback(response)`` makes of it."""
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), str) else None
    if error:
        return error, ": ".join(str(data[k]) for k in ("error", "error_description") if data.get(k))
    return None, fallback(response)
