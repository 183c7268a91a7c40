"""Direct invoke (the admin API, the nightly run, `make provision`): provision segment event types.

Input: {"company_id", "service_id"?, "repair"?}. Without a service id every service of the company
is provisioned; `"repair": false` only checks (differences are recorded as drifted/pending and
nothing is written to Cal.com). Output: the report {created, updated, unchanged, failed, drifted,
pending, removed, skipped, warnings, errors} (services/event_types.py). Cal.com failures are in
the report, segment by segment; an unknown company or service raises, so a caller's Catch sees a
named error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from calbridge.adapters.parsing import parse_model
from calbridge.config import get_settings
from calbridge.observability import logger, metrics, tracer
from calbridge.services.wiring import event_type_provisioner

settings = get_settings()
# The provisioner (its Cal.com client: httpx's transport, a TLS context, Cal.com's models) is built
# by the first invocation, as every Cal.com piece is (services/wiring.py), not at import.


class ProvisionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    company_id: str = Field(min_length=1, max_length=64)
    service_id: str | None = Field(default=None, min_length=1, max_length=64)
    repair: bool = True


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_model(ProvisionRequest, event)
    report = event_type_provisioner().provision(request.company_id, request.service_id, repair=request.repair)
    return {**report.model_dump(mode="json"), "ok": report.ok, "summary": report.summary()}
