"""Cal.com's booking webhooks: `POST /calcom/webhook/{company_id}`.

Thin by design: the company in the path picks its webhook secret, X-Cal-Signature-256 is checked
on the raw body before anything is parsed, then one service applies the change
(services/calcom_events.py). Errors map to HTTP answers in one place (below): a missing or bad
signature, and a company without a secret, are 401 alike; a signed request for a company that
does not exist is 404; a signed body that is no Cal.com webhook is 400; nothing is written on any
of them. Everything else is 200, including triggers and bookings that change nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter, ValidationError

from calbridge.adapters import calcom_signature
from calbridge.adapters.http import error_response, json_app, map_common_errors
from calbridge.adapters.http import raw_body as raw_body_of
from calbridge.adapters.store.calcom_changes import CalcomChangeRecords
from calbridge.config import get_settings
from calbridge.domain.models import EntityId
from calbridge.errors import InvalidRequest, SignatureInvalid, UnknownCompany
from calbridge.observability import follow, logger, metrics, tracer
from calbridge.services import wiring
from calbridge.services.calcom_events import CalcomEvents

# A booking's payload is a few kilobytes (attendees, responses, the event type's description).
MAX_BODY_BYTES = 256 * 1024

settings = get_settings()
calcom_events = CalcomEvents(wiring.config_reads()[0], CalcomChangeRecords(), wiring.host_resolver)
app = json_app()
_company_id = TypeAdapter(EntityId)


def secret_of(company_id: str) -> str | None:
    """The company's webhook secret; None for an id no company can have or without a secret."""
    try:
        _company_id.validate_python(company_id)
    except ValidationError:
        return None
    return calcom_signature.company_secret(
        settings.calcom_webhook_secret_secret, company_id, settings.secret_cache_s
    )


@app.post("/calcom/webhook/<company_id>")
@tracer.capture_method
def calcom_webhook(company_id: str) -> dict[str, Any]:
    follow(company_id=company_id)  # every log line of this delivery names the company (ADR 0034)
    body = raw_body_of(app, MAX_BODY_BYTES)
    header = app.current_event.headers.get(calcom_signature.HEADER)
    calcom_signature.verify(body, header, secret_of(company_id))
    return calcom_events.receive(company_id, body).model_dump(exclude_none=True)


# ------------------------------------------------------------------ error mapping, in one place


map_common_errors(app)


@app.exception_handler(SignatureInvalid)
def _signature_invalid(exc: SignatureInvalid) -> Response:
    logger.warning("rejected Cal.com webhook: bad signature", reason=exc.message)
    return error_response(401, "invalid_signature", exc.message)


@app.exception_handler(UnknownCompany)
def _unknown_company(exc: UnknownCompany) -> Response:
    # Signed with a secret that exists, for a company that does not (any more): configuration.
    logger.warning("rejected Cal.com webhook: unknown company", reason=exc.message)
    return error_response(404, "unknown_company", exc.message)


@app.exception_handler(InvalidRequest)
def _invalid_request(exc: InvalidRequest) -> Response:
    logger.info("rejected Cal.com webhook: invalid", field=exc.field, reason=exc.message)
    return error_response(400, "invalid_request", exc.message, field=exc.field)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
