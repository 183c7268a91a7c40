"""Step Functions task (and direct invoke): which staff member serves a Cal.com booking or host.

Input: {"company_id", "booking": {...}} or {"company_id", "host": {...}}, optional "appointment_id"
(then staff_id and calcom_host_id are recorded on that appointment). Output: the organizer's
resolution {staff_id, calcom_host_id, outcome, strategy, source, confidence, reason}, the
co-hosts' under "others", and warnings. Bad host data is a result (outcome "invalid"), not a
failure; an unknown company or appointment raises, so the workflow's Catch sees a named error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, model_validator

from calbridge.adapters.parsing import parse_model
from calbridge.config import get_settings
from calbridge.domain.hosts import HostRef, InvalidHost
from calbridge.observability import logger, metrics, tracer
from calbridge.services.host_resolution import Resolution
from calbridge.services.wiring import host_resolver

settings = get_settings()
resolver = host_resolver()


class HostResolutionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    company_id: str = Field(min_length=1, max_length=64)
    booking: dict[str, Any] | None = None
    host: dict[str, Any] | None = None
    appointment_id: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_source(self) -> HostResolutionRequest:
        if (self.booking is None) == (self.host is None):
            raise ValueError("give exactly one of 'booking' or 'host'")
        return self


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_model(HostResolutionRequest, event)
    if request.host is not None:
        try:
            host = HostRef.from_calcom(request.host)
        except InvalidHost as exc:
            return {"staff_id": None, "calcom_host_id": None, "outcome": "invalid", "reason": str(exc)}
        return resolver.resolve(request.company_id, host).model_dump(mode="json")

    booking = request.booking or {}
    resolution = (
        resolver.assign_appointment(request.company_id, request.appointment_id, booking)
        if request.appointment_id
        else resolver.resolve_booking(request.company_id, booking)
    )
    return {
        **_answer(resolution.primary),
        "others": [r.model_dump(mode="json") for r in resolution.others],
        "warnings": list(resolution.warnings),
    }


def _answer(primary: Resolution | None) -> dict[str, Any]:
    if primary is None:
        return {
            "staff_id": None,
            "calcom_host_id": None,
            "outcome": "unmatched",
            "reason": "the booking has no hosts",
        }
    return primary.model_dump(mode="json")
