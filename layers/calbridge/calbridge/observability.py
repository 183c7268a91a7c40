"""The one place that builds Logger, Tracer and Metrics, with PII redaction for logs.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE (template Globals), so every function shares one setup.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import wrapt
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_E164 = re.compile(r"\+\d{6,15}")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE_KEY = re.compile(r"phone|(^|_)number(s)?$", re.IGNORECASE)


def mask_phone(value: str) -> str:
    """Keep the country prefix and the last two digits: +49*********89."""
    digits = value.strip()
    if len(digits) <= 5:
        return "***"
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def redact_text(text: str) -> str:
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _E164.sub(lambda m: mask_phone(m.group(0)), text)


def redact(value: Any, key: str = "") -> Any:
    """Recursively mask phone numbers and e-mail addresses in a log record."""
    if isinstance(value, str):
        return mask_phone(value) if key and _PHONE_KEY.search(key) else redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, key) for v in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any]) -> str:
        return super().serialize(redact(log))


# A request that records no metric (e.g. a rejected signature) is normal, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(logger_formatter=RedactingFormatter())
# Only the libraries we call out through: botocore (every AWS call, PynamoDB's included) and
# httpx (Cal.com). Patching everything (the default) also patches PynamoDB's and http.client's
# sends, tracing each DynamoDB request two or three times over, and imports libraries we never
# use (sqlite3) into every cold start.
tracer = Tracer(patch_modules=("botocore",))
# httpx is patched when something imports it (the Cal.com client, built on first use): patching
# imports the module, which would put httpx into every function's cold start. The X-Ray SDK
# patches libraries it does not know the same way (wrapt's post-import hooks, core/patcher.py);
# wrapt is its dependency. A Tracer that is disabled (the local stack) patches nothing.
wrapt.when_imported("httpx")(lambda _httpx: tracer.patch(("httpx",)))
metrics = Metrics()
