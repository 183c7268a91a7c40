"""Bookings from a salon's own website or tools (docs/web-bookings.md, docs/adr/0033-web-bookings.md).

Every route is IAM-authorized in API Gateway (`Auth: {Authorizer: AWS_IAM}`); a salon's website
backend holds a principal allowed `execute-api:Invoke` on its own company's routes only. Thin by
design: parse, call one use case of `services.web_bookings`, and map domain errors to HTTP answers
in one place (below).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from calbridge.adapters.http import error_response, iam_caller, json_app, map_common_errors
from calbridge.adapters.http import raw_body as raw_body_of
from calbridge.adapters.idempotency import StillRunning
from calbridge.errors import (
    InvalidRequest,
    NotFound,
    UnknownBranch,
    UnknownCompany,
    UnknownService,
    UnknownStaff,
)
from calbridge.observability import logger, metrics, tracer
from calbridge.services import wiring
from calbridge.services.booking_attempts import BookingAttempts
from calbridge.services.web_bookings import (
    CalendarUnavailable,
    CompanyInactive,
    IdempotencyKeyReused,
    WebBookings,
)

MAX_BODY_BYTES = 64 * 1024
COMPANY = "/api/companies/<company_id>"

app = json_app()
once = wiring.tool_call_once()


@cache
def web_bookings() -> WebBookings:
    from calbridge.adapters.store.salon_records import SalonRecords

    companies, staff, services = wiring.config_reads()
    return WebBookings(
        companies,
        staff,
        services,
        BookingAttempts(wiring.availability, wiring.booking_saga),
        SalonRecords(),
        once,
    )


def require_identity(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    if iam_caller(app) is None:
        logger.warning("rejected web booking request: no IAM identity")
        return error_response(403, "forbidden", "the request carries no IAM identity")
    return next_middleware(app)


app.use(middlewares=[require_identity])


# ------------------------------------------------------------------ routes (issue 13 item 6)


@app.post(f"{COMPANY}/bookings")
@tracer.capture_method
def book(company_id: str) -> Response:
    answer = web_bookings().book(
        company_id,
        raw_body_of(app, MAX_BODY_BYTES),
        app.current_event.headers.get("Idempotency-Key"),
    )
    return Response(
        status_code=answer.status_code, content_type=content_types.APPLICATION_JSON, body=answer.body
    )


@app.get(f"{COMPANY}/bookings/<appointment_id>")
@tracer.capture_method
def booking(company_id: str, appointment_id: str) -> dict[str, Any]:
    return web_bookings().appointment(company_id, appointment_id)


# ------------------------------------------------------------------ error mapping, in one place


map_common_errors(app)


@app.exception_handler(InvalidRequest)
def _invalid_request(exc: InvalidRequest) -> Response:
    logger.info("rejected web booking: invalid", field=exc.field, reason=exc.message)
    return error_response(400, "invalid_request", exc.message, field=exc.field)


@app.exception_handler(UnknownCompany)
def _unknown_company(exc: UnknownCompany) -> Response:
    return error_response(404, "unknown_company", exc.message)


@app.exception_handler(CompanyInactive)
def _company_inactive(exc: CompanyInactive) -> Response:
    return error_response(409, "company_inactive", exc.message)


@app.exception_handler(UnknownService)
def _unknown_service(exc: UnknownService) -> Response:
    return error_response(404, "unknown_service", exc.message, field="service_id")


@app.exception_handler(UnknownStaff)
def _unknown_staff(exc: UnknownStaff) -> Response:
    return error_response(404, "unknown_staff", exc.message, field="staff_id")


@app.exception_handler(UnknownBranch)
def _unknown_branch(exc: UnknownBranch) -> Response:
    return error_response(404, "unknown_branch", exc.message, field="branch_id")


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return error_response(404, "not_found", exc.message)


@app.exception_handler(NotFoundError)
def _no_route(exc: NotFoundError) -> Response:
    return error_response(404, "not_found", "no such route")


@app.exception_handler(IdempotencyKeyReused)
def _key_reused(exc: IdempotencyKeyReused) -> Response:
    return error_response(422, "idempotency_key_reused", exc.message, field="Idempotency-Key")


@app.exception_handler(StillRunning)
def _still_running(exc: StillRunning) -> Response:
    response = error_response(409, "in_progress", "the same booking request is still running; retry shortly")
    response.headers["Retry-After"] = "2"
    return response


@app.exception_handler(CalendarUnavailable)
def _calendar_unavailable(exc: CalendarUnavailable) -> Response:
    response = error_response(503, "calendar_unavailable", exc.message)
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    once.register_lambda_context(context)
    return app.resolve(event, context)
