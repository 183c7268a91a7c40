"""Retell's HTTP traffic: inbound-call routing, tool calls and call lifecycle webhooks.

Thin by design: verify the signature on the raw body, parse, call one service, and map domain
errors to HTTP answers in one place (below). Protocol faults are 4xx; business outcomes of a
tool call are 200 with `success: false` and a sentence the agent can say.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from calbridge.adapters.http import error_response, json_app, map_common_errors
from calbridge.adapters.http import raw_body as raw_body_of
from calbridge.adapters.parsing import parse_model
from calbridge.adapters.retell import signature
from calbridge.adapters.retell.payloads import InboundRequest, ToolCallRequest
from calbridge.adapters.secrets import get_secret
from calbridge.adapters.store.bookings import BookingRecordRepository
from calbridge.config import get_settings
from calbridge.errors import (
    InvalidRequest,
    SignatureInvalid,
    UnknownCompany,
)
from calbridge.observability import follow, logger, metrics, tracer
from calbridge.services import wiring
from calbridge.services.inbound import InboundRouting
from calbridge.services.tools import ToolCalls

# Tool calls and lifecycle webhooks carry the call's transcript with word timings: a long call is
# megabytes. Every route takes what Lambda takes in a synchronous request; the handlers parse only
# the fields they declare (adapters/retell/payloads.py).
MAX_BODY_BYTES = 6 * 1024 * 1024

settings = get_settings()
_companies, _staff, _services = wiring.config_reads()  # cached per container for a few seconds
inbound_routing = InboundRouting(_companies, _staff, _services, availability=wiring.availability)
call_records = wiring.call_records()
tool_calls = ToolCalls(
    _companies,
    _staff,
    _services,
    availability=wiring.availability,
    appointments=BookingRecordRepository(),
    once=wiring.tool_call_once(),
    call_records=call_records,
    booking=wiring.booking_saga,
    pending=wiring.booking_requests,  # Cal.com down: the booking is kept as a request (ADR 0025)
    read_budget_ms=settings.tool_read_budget_ms,  # answers within Retell's timeout_ms (ADR 0026)
    change_budget_ms=settings.tool_change_budget_ms,
)
app = json_app()


def raw_body() -> bytes:
    """The exact bytes Retell signed."""
    return raw_body_of(app, MAX_BODY_BYTES)


def verify_retell_signature(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    body = raw_body()
    signature.verify(
        body,
        app.current_event.headers.get("x-retell-signature"),
        get_secret(settings.retell_api_key_secret, settings.secret_cache_s),
        tolerance_ms=settings.signature_tolerance_s * 1000,
    )
    return next_middleware(app)


app.use(middlewares=[verify_retell_signature])


@app.post("/retell/inbound")
@tracer.capture_method
def inbound_call() -> dict[str, Any]:
    request = parse_model(InboundRequest, raw_body())
    follow(call_id=request.call_inbound.call_id)  # every log line of the call names it (ADR 0034)
    return inbound_routing.answer(request)


@app.post("/retell/functions")
@tracer.capture_method
def tool_call() -> dict[str, Any]:
    request = parse_model(ToolCallRequest, raw_body())
    # Every later log line of this tool call, and the X-Ray trace, name the call (ADR 0034).
    follow(call_id=request.call.call_id, company_id=request.call.metadata.company_id)
    return tool_calls.handle(request, waited_s=waited_s()).model_dump()


#: A longer wait than this before the handler is no cold start: a replayed event or a skewed clock.
MAX_PLAUSIBLE_WAIT_S = 5.0


def waited_s() -> float:
    """How long the request waited before this handler ran (a cold start): API Gateway's receipt
    time to now; 0 when unknown or implausible."""
    received_ms = app.current_event.request_context.time_epoch
    waited = time.time() - received_ms / 1000 if received_ms else 0.0
    return waited if 0.0 <= waited <= MAX_PLAUSIBLE_WAIT_S else 0.0


@app.post("/retell/events")
@tracer.capture_method
def call_event() -> Response:
    # Retell only needs a fast 2xx; a redelivered or unrecorded event, or one of a call no company
    # claims, gets the same answer.
    call_records.receive(raw_body())
    return Response(status_code=204)


# ------------------------------------------------------------------ error mapping, in one place


map_common_errors(app)


@app.exception_handler(SignatureInvalid)
def _signature_invalid(exc: SignatureInvalid) -> Response:
    logger.warning("rejected request: bad signature", reason=exc.message)
    return error_response(401, "invalid_signature", exc.message)


@app.exception_handler(InvalidRequest)
def _invalid_request(exc: InvalidRequest) -> Response:
    logger.info("rejected request: invalid", field=exc.field, reason=exc.message)
    return error_response(400, "invalid_request", exc.message, field=exc.field)


@app.exception_handler(UnknownCompany)
def _unknown_company(exc: UnknownCompany) -> Response:
    # A tool call of a call no company claims (services/tenancy.py), or metadata naming a company
    # that no longer exists. The fix is configuration: the field says where to look.
    logger.warning("rejected request: unknown company", reason=exc.message)
    return error_response(400, "unknown_company", exc.message, field="call.metadata.company_id")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # An idempotency record left "in progress" by an invocation that timed out expires with it.
    wiring.tool_call_once().register_lambda_context(context)
    return app.resolve(event, context)
