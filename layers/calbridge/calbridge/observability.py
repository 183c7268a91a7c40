"""The one place that builds Logger, Tracer and Metrics, with PII redaction for logs.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE (template Globals), so every function shares one setup.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import wrapt
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from calbridge import errors

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


# ---------------------------------------------------------------- one trace per call (ADR 0034)


def follow(**ids: str | None) -> None:
    """Put the ids of what this invocation handles (call_id, company_id, booking_id, ...) on every
    later log line of it and on its X-Ray trace (annotations, searchable). Handlers call it as soon
    as they have parsed them; `@logger.inject_lambda_context(clear_state=True)` clears them for the
    next invocation. An id given as None (or "") is removed: a batch's next record has its own."""
    present = {key: value for key, value in ids.items() if value}
    absent = [key for key in ids if key not in present]
    logger.thread_safe_remove_keys(absent)
    logger.remove_keys(absent)
    # This thread's keys win over the process-wide ones: on the local stack every function shares
    # this logger, and a saga step clearing its state must not strip the waiting webhook's lines.
    # The process-wide ones reach threads the handler starts (parallel Cal.com reads), which begin
    # without this thread's context.
    logger.thread_safe_append_keys(**present)
    logger.append_keys(**present)
    for key, value in present.items():
        tracer.put_annotation(key=key, value=value)


# ---------------------------------------------------------------- metrics (docs/metrics.md)
# Every handler flushes `metrics` per invocation (@metrics.log_metrics). Powertools gives every
# metric of one flush the same dimensions (`service`), so a metric with dimensions of its own is
# printed at once as its own EMF record; dimension values must be few (a tool, an endpoint
# template, an error name), never ids.

#: Error names a dimension may carry: calbridge's own exception classes; AWS's (`States.Timeout`,
#: `Lambda.ServiceException`, `Sandbox.Timedout`) are a short fixed list too.
_ERROR_NAMES = frozenset(
    name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, Exception)
)
_AWS_ERROR_NAME = re.compile(r"(States|Lambda|Sandbox|Runtime)\.[A-Za-z]+")


def error_name(name: str) -> str:
    """`name` when it names one of calbridge's or AWS's errors, else "Other" (a bounded dimension)."""
    return name if name in _ERROR_NAMES or _AWS_ERROR_NAME.fullmatch(name) else "Other"


def add_metric_by(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    """Metric `name` with `dimensions` (printed now, as its own record), and the same value in this
    invocation's flush without them (dimension `service` only): the whole for alarms, the parts
    for dashboards. Nothing without a namespace (a unit test, a local command: no Lambda): there is
    nowhere to publish, and Powertools refuses a record without one (also when 100 values of a
    metric flush themselves: a long run of Cal.com requests)."""
    if not metrics.namespace:
        return
    with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(name=dimension, value=dimension_value)
    metrics.add_metric(name=name, unit=unit, value=value)


@contextmanager
def timed(name: str, **dimensions: str) -> Iterator[None]:
    """How long the block took, in milliseconds, as metric `name` (add_metric_by), also when it raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        add_metric_by(name, MetricUnit.Milliseconds, (time.perf_counter() - started) * 1000, **dimensions)
