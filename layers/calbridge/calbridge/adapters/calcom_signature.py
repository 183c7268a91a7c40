"""Cal.com's X-Cal-Signature-256 and the per-company webhook secrets it is checked with.

The header is the lower-case hex HMAC-SHA256 of the raw body with the webhook's secret, no prefix,
no timestamp; `no-secret-provided` when the webhook has no secret (docs/reference/calcom.md §6.4,
Cal.com's sendPayload.ts createWebhookSignature). Compared in constant time on the exact bytes.
Outside the Cal.com client package on purpose: the webhook's cold start needs no httpx.

Each company has its own secret in Secrets Manager, named `<CALCOM_WEBHOOK_SECRET_SECRET>/<company
id>` (docs/adr/0021-calcom-webhook-intake.md). A company without one is answered like a bad
signature, so a stranger cannot tell company ids that exist from those that do not.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from botocore.exceptions import ClientError

from calbridge.adapters.cache import TtlCache
from calbridge.adapters.secrets import get_secret
from calbridge.errors import InvalidConfiguration, SignatureInvalid

HEADER = "x-cal-signature-256"


def sign(raw_body: bytes, secret: str) -> str:
    """The header value Cal.com sends for this body (tests, the stand-in's twin, events/)."""
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def verify(raw_body: bytes, header: str | None, secret: str | None) -> None:
    """Raise SignatureInvalid unless `header` signs `raw_body` with `secret` (None: no secret known,
    which fails after the same work as a wrong signature)."""
    if not header:
        raise SignatureInvalid("missing X-Cal-Signature-256 header")
    expected = sign(raw_body, secret if secret is not None else "")
    if secret is None or not hmac.compare_digest(expected, header.strip().lower()):
        raise SignatureInvalid("X-Cal-Signature-256 does not match the body")


def secret_name(prefix: str, company_id: str) -> str:
    return f"{prefix}/{company_id}"


def company_secret(prefix: str, company_id: str, max_age_s: int) -> str | None:
    """The company's webhook secret, None when Secrets Manager has none. Both answers are cached
    for `max_age_s`: a stranger probing made-up company ids costs one lookup per id and TTL."""
    name = secret_name(prefix, company_id)
    return _cache(max_age_s).get(name, lambda: _read(name, max_age_s))


@cache
def _cache(max_age_s: int) -> TtlCache[str, str | None]:
    return TtlCache(max_age_s)


def _read(name: str, max_age_s: int) -> str | None:
    try:
        return get_secret(name, max_age_s)
    except InvalidConfiguration as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == (
            "ResourceNotFoundException"
        ):
            return None
        raise
