"""The admin API: staff import, manual host mappings and rules, the review queue, the audit trail,
services (saving one provisions its segment event types in Cal.com), the company's settings, and
queueing a team sync or a reconciliation with Cal.com, and reading their run reports.

Two doors lead to the same routes (docs/adr/0037-console.md): `/admin/...`, IAM-authorized in API
Gateway, for automation and operators; and `/console/api/...`, behind the console's Cognito JWT
authorizer, for a salon's admins. One middleware turns either identity into a Principal and scopes
every route to the companies it may access; the principal is who every audit record names. Thin by
design: parse, call one use case of `services.admin`, and map domain errors to HTTP answers in one
place (below). See docs/admin-api.md.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from calbridge.adapters.http import error_response, json_app, map_common_errors, request_principal
from calbridge.adapters.http import raw_body as raw_body_of
from calbridge.adapters.parsing import parse_json, parse_model
from calbridge.adapters.store.audits import AUDIT_SUBJECTS, AdminAuditLog
from calbridge.adapters.store.host_mappings import HostMappingRepository, HostReviewRepository
from calbridge.adapters.store.repositories import CompanyRepository, StaffRepository
from calbridge.config import get_settings
from calbridge.domain.access import NotAPrincipal, Principal
from calbridge.domain.salon_records import AppointmentListing, CallListing
from calbridge.errors import (
    CalbridgeError,
    InvalidRequest,
    MappingConflict,
    NoCalcomTeam,
    NotFound,
    PhoneNumberTaken,
    UnknownBranch,
    UnknownCompany,
)
from calbridge.observability import logger, metrics, tracer
from calbridge.services.admin import (
    AdminService,
    CreateMappingRequest,
    DeactivateRequest,
    InvalidImport,
    NoActiveMapping,
    TooManyRows,
    UnknownStaff,
    UnsupportedMediaType,
    parse_host_id,
)
from calbridge.services.companies import CompanyAdmin
from calbridge.services.credentials import CalcomKeyRefused
from calbridge.services.privacy import CallerPrivacy
from calbridge.services.salon_records import SalonRecordsService
from calbridge.services.wiring import (
    booking_requests,
    calcom_credentials,
    event_type_provisioner,
    host_resolver,
    reconciler,
    reconciliation_fan_out,
    team_sync_fan_out,
    team_sync_runner,
)

MAX_BODY_BYTES = 1024 * 1024
COMPANY = "/companies/<company_id>"

settings = get_settings()
app = json_app(strip_prefixes=["/admin", "/console/api"])


@cache
def admin() -> AdminService:
    """Built on the first request, not at import: its event type provisioner holds the Cal.com
    client, whose httpx transport and Cal.com models cost a cold start ~100 ms
    (docs/benchmarks.md, cold starts)."""
    return AdminService(
        host_resolver(),
        StaffRepository(),
        HostMappingRepository(),
        HostReviewRepository(),
        provisioner=event_type_provisioner(),
    )


@cache
def companies() -> CompanyAdmin:
    return CompanyAdmin(
        CompanyRepository(), AdminAuditLog(), team_sync_fan_out, forget=host_resolver().forget
    )


class Forbidden(CalbridgeError):
    pass


def principal() -> Principal:
    """The caller API Gateway authenticated: an IAM principal or a console user."""
    try:
        found = request_principal(app)
    except NotAPrincipal as exc:
        raise Forbidden(str(exc)) from exc
    if found is None:  # API Gateway lets nobody through without one; a direct invoke might
        raise Forbidden("the request carries no IAM identity and no console user")
    return found


def actor() -> str:
    return principal().actor


def scope_to_company(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """Every route that names a company answers only a principal that may access it: a console
    user's own company, or any for an operator. Routes without a company scope themselves."""
    me = principal()
    company_id = (app.context.get("_route_args") or {}).get("company_id")
    if company_id is not None and not me.may_access(company_id):
        raise Forbidden(f"this user may not access company {company_id!r}")
    return next_middleware(app)


app.use(middlewares=[scope_to_company])


def operators_only(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """What routes calls to a company and whose Cal.com key it uses is the platform's to change:
    a salon's admin could otherwise claim a free number or another salon's new agent id."""
    if not principal().operator:
        raise Forbidden("only a calbridge operator may change this; ask calbridge support")
    return next_middleware(app)


def raw_body() -> bytes:
    return raw_body_of(app, MAX_BODY_BYTES)


def query(name: str) -> str | None:
    return app.current_event.get_query_string_value(name)


def flag(name: str) -> bool:
    value = (query(name) or "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name}: use true or false, not {value!r}", field=name)
    return value in ("true", "1")


# ------------------------------------------------------------------ routes: companies (ADR 0032)


@app.get("/me")
@tracer.capture_method
def who_am_i() -> dict[str, Any]:
    """The signed-in user and the companies they may open, each with its local "today" (the
    console's default day: the stack's clock, never the browser's)."""
    me = principal()
    return {
        "user": me.actor.removeprefix("console:"),
        "operator": me.operator,
        "company_id": me.company_id,
        "companies": companies().summaries(None if me.operator else me.company_id),
    }


@app.get("/companies")
@tracer.capture_method
def list_companies() -> dict[str, Any]:
    me = principal()
    return companies().list(None if me.operator else me.company_id)


@app.get(COMPANY)
@tracer.capture_method
def get_company(company_id: str) -> dict[str, Any]:
    return companies().get(company_id)


@app.put(COMPANY, middlewares=[operators_only])
@tracer.capture_method
def put_company(company_id: str) -> tuple[dict[str, Any], int]:
    answer, created = companies().put(company_id, raw_body(), actor())
    return answer, 201 if created else 200


@app.patch(COMPANY, middlewares=[operators_only])
@tracer.capture_method
def patch_company(company_id: str) -> dict[str, Any]:
    return companies().patch(company_id, raw_body(), actor())


@app.put(f"{COMPANY}/branches/<branch_id>", middlewares=[operators_only])
@tracer.capture_method
def put_branch(company_id: str, branch_id: str) -> tuple[dict[str, Any], int]:
    answer, created = companies().put_branch(company_id, branch_id, raw_body(), actor())
    return answer, 201 if created else 200


@app.delete(f"{COMPANY}/branches/<branch_id>", middlewares=[operators_only])
@tracer.capture_method
def delete_branch(company_id: str, branch_id: str) -> dict[str, Any]:
    return companies().delete_branch(company_id, branch_id, actor())


@app.post(f"{COMPANY}/deactivate", middlewares=[operators_only])
@tracer.capture_method
def deactivate_company(company_id: str) -> dict[str, Any]:
    reason = parse_model(DeactivateRequest, parse_json(raw_body())).reason
    return companies().set_active(company_id, False, actor(), reason)


@app.post(f"{COMPANY}/activate", middlewares=[operators_only])
@tracer.capture_method
def activate_company(company_id: str) -> dict[str, Any]:
    body = raw_body()
    reason = parse_model(DeactivateRequest, parse_json(body)).reason if body.strip() else "reactivated"
    return companies().set_active(company_id, True, actor(), reason)


@app.get(f"{COMPANY}/audit")
@tracer.capture_method
def company_audit(company_id: str) -> dict[str, Any]:
    """The company's admin audit trail, newest first: `?subject=company` (default),
    `calcom-credential` or `erasure`."""
    subject = query("subject") or "company"
    if subject not in AUDIT_SUBJECTS:
        raise InvalidRequest(f"subject: one of {', '.join(AUDIT_SUBJECTS)}, not {subject!r}", field="subject")
    return companies().audit_trail(company_id, subject)


# ------------------------------------------------------------------ routes: staff, mappings, services


@app.get(f"{COMPANY}/staff")
@tracer.capture_method
def list_staff(company_id: str) -> dict[str, Any]:
    return admin().list_staff(company_id)


@app.post(f"{COMPANY}/staff")
@tracer.capture_method
def import_staff(company_id: str) -> dict[str, Any]:
    return admin().import_staff(company_id, raw_body(), app.current_event.headers.get("content-type"))


@app.get(f"{COMPANY}/host-mappings")
@tracer.capture_method
def list_mappings(company_id: str) -> dict[str, Any]:
    return admin().list_mappings(company_id, include_inactive=flag("include_inactive"))


@app.post(f"{COMPANY}/host-mappings")
@tracer.capture_method
def create_mapping(company_id: str) -> tuple[dict[str, Any], int]:
    request = parse_model(CreateMappingRequest, parse_json(raw_body()))
    return admin().create_mapping(company_id, request, actor()), 201


@app.delete(f"{COMPANY}/host-mappings/<host_id>")
@tracer.capture_method
def deactivate_mapping(company_id: str, host_id: str) -> dict[str, Any]:
    host = parse_host_id(host_id)
    body = raw_body()
    if body.strip():
        reason = parse_model(DeactivateRequest, parse_json(body)).reason
    elif query("reason") is not None:
        reason = parse_model(DeactivateRequest, {"reason": query("reason")}).reason
    else:
        raise InvalidRequest('reason: required, as {"reason": "..."} in the body or ?reason=', field="reason")
    return admin().deactivate(company_id, host, actor(), reason)


@app.get(f"{COMPANY}/host-mappings/<host_id>/audit")
@tracer.capture_method
def mapping_audit(company_id: str, host_id: str) -> dict[str, Any]:
    return admin().audit_trail(company_id, parse_host_id(host_id))


@app.get(f"{COMPANY}/review-candidates")
@tracer.capture_method
def review_candidates(company_id: str) -> dict[str, Any]:
    return admin().review_candidates(company_id)


@app.get(f"{COMPANY}/unmapped-hosts")
@tracer.capture_method
def unmapped_hosts(company_id: str) -> dict[str, Any]:
    return admin().unmapped_hosts(company_id)


@app.get(f"{COMPANY}/services")
@tracer.capture_method
def list_services(company_id: str) -> dict[str, Any]:
    return admin().list_services(company_id)


@app.put(f"{COMPANY}/services/<service_id>")
@tracer.capture_method
def save_service(company_id: str, service_id: str) -> tuple[dict[str, Any], int]:
    answer, created = admin().save_service(company_id, service_id, raw_body(), actor())
    return answer, 201 if created else 200


@app.get(f"{COMPANY}/settings")
@tracer.capture_method
def company_settings(company_id: str) -> dict[str, Any]:
    return admin().company_settings(company_id)


@app.patch(f"{COMPANY}/settings")
@tracer.capture_method
def change_settings(company_id: str) -> dict[str, Any]:
    body = raw_body()
    if not principal().operator and "retell_agent_ids" in _json_object(body):
        raise Forbidden("retell_agent_ids route calls: only a calbridge operator may change them")
    return admin().change_settings(company_id, body, actor())


def _json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    return data if isinstance(data, dict) else {}


@app.post(f"{COMPANY}/sync")
@tracer.capture_method
def sync_team(company_id: str) -> tuple[dict[str, Any], int]:
    """Queue a team sync of the company (the nightly job's path: lease, retries, run report)."""
    message_id = team_sync_fan_out().enqueue_one(company_id, requested_by=actor())
    return {"company_id": company_id, "status": "queued", "message_id": message_id}, 202


@app.get(f"{COMPANY}/sync-runs")
@tracer.capture_method
def sync_runs(company_id: str) -> dict[str, Any]:
    """The company's latest team sync runs with their reports, newest first (`?limit=`, 1-100)."""
    raw = query("limit") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise InvalidRequest(f"limit: a number from 1 to 100, not {raw!r}", field="limit")
    return {"company_id": company_id, "runs": team_sync_runner().recent_runs(company_id, int(raw))}


@app.post(f"{COMPANY}/reconcile")
@tracer.capture_method
def reconcile(company_id: str) -> tuple[dict[str, Any], int]:
    """Queue a reconciliation of the company with Cal.com (the hourly job's path: lease, retries,
    report; docs/adr/0023-reconciliation.md)."""
    message_id = reconciliation_fan_out().enqueue_one(company_id, requested_by=actor())
    return {"company_id": company_id, "status": "queued", "message_id": message_id}, 202


@app.get(f"{COMPANY}/reconciliation-runs")
@tracer.capture_method
def reconciliation_runs(company_id: str) -> dict[str, Any]:
    """The company's latest reconciliation reports, newest first (`?limit=`, 1-100)."""
    raw = query("limit") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise InvalidRequest(f"limit: a number from 1 to 100, not {raw!r}", field="limit")
    return {"company_id": company_id, "runs": reconciler().recent_runs(company_id, int(raw))}


@app.get(f"{COMPANY}/booking-requests")
@tracer.capture_method
def booking_requests_listing(company_id: str) -> dict[str, Any]:
    """Booking requests kept while Cal.com was down (docs/adr/0025): `?status=open` (default), the
    ones the salon still has to confirm, or `settled` (booked, alternatives, failed), newest first."""
    which = query("status") or "open"
    if which not in ("open", "settled"):
        raise InvalidRequest(f"status: open or settled, not {which!r}", field="status")
    return booking_requests().listing(company_id, "settled" if which == "settled" else "open")


# ------------------------------------------------------------------ issue 13 item 3: what happened, readable
# A local day's appointments and calls, paged, and one of each (docs/adr/0031).


@cache
def salon_records() -> SalonRecordsService:
    from calbridge.adapters.store.calls import CallRepository
    from calbridge.adapters.store.salon_records import SalonRecords

    return SalonRecordsService(CompanyRepository(), SalonRecords(), CallRepository())


def _queried(*names: str) -> dict[str, str | None]:
    return {name: query(name) for name in names}


@app.get(f"{COMPANY}/appointments")
@tracer.capture_method
def list_appointments(company_id: str) -> dict[str, Any]:
    """`?date=YYYY-MM-DD` (required) [&branch_id=][&staff_id=][&status=][&limit=][&cursor=]."""
    listing = AppointmentListing.parse(_queried("date", "branch_id", "staff_id", "status", "limit", "cursor"))
    return salon_records().appointments(company_id, listing)


@app.get(f"{COMPANY}/appointments/<appointment_id>")
@tracer.capture_method
def get_appointment(company_id: str, appointment_id: str) -> dict[str, Any]:
    return salon_records().appointment(company_id, appointment_id)


@app.get(f"{COMPANY}/calls")
@tracer.capture_method
def list_calls(company_id: str) -> dict[str, Any]:
    """`?date=YYYY-MM-DD` (required) [&outcome=][&limit=][&cursor=], newest first."""
    listing = CallListing.parse(_queried("date", "outcome", "limit", "cursor"))
    return salon_records().calls(company_id, listing)


@app.get(f"{COMPANY}/calls/<call_id>")
@tracer.capture_method
def get_call(company_id: str, call_id: str) -> dict[str, Any]:
    return salon_records().call(company_id, call_id)


# ------------------------------------------------------------------ routes: the company's Cal.com key
# Issue 13 item 2 (docs/adr/0030-calcom-credential-per-company.md): the key is written to Secrets
# Manager, never answered nor logged.


@app.get(f"{COMPANY}/calcom-credential")
@tracer.capture_method
def calcom_credential(company_id: str) -> dict[str, Any]:
    return calcom_credentials().view(company_id)


@app.put(f"{COMPANY}/calcom-credential", middlewares=[operators_only])
@tracer.capture_method
def set_calcom_credential(company_id: str) -> dict[str, Any]:
    return calcom_credentials().set_key(company_id, raw_body(), actor())


@app.delete(f"{COMPANY}/calcom-credential", middlewares=[operators_only])
@tracer.capture_method
def remove_calcom_credential(company_id: str) -> dict[str, Any]:
    return calcom_credentials().remove_key(company_id, raw_body(), actor())


@app.exception_handler(CalcomKeyRefused)
def _calcom_key_refused(exc: CalcomKeyRefused) -> Response:
    logger.info("rejected Cal.com key", reason=exc.message)
    return error_response(400, "calcom_key_refused", exc.message, field="api_key")


# ------------------------------------------------------------------ issue 13 item 4: a caller's data
# Export and erasure of one caller's data (docs/adr/0028-retention-and-erasure.md): the caller is
# named in the JSON body ({"phone"} or {"email"}), never in the URL (access logs keep URLs).


@cache
def caller_privacy() -> CallerPrivacy:
    from calbridge.adapters.store.caller_data import CallerDataStore

    return CallerPrivacy(CompanyRepository(), CallerDataStore(), AdminAuditLog())


@app.post(f"{COMPANY}/customer-data")
@tracer.capture_method
def export_customer_data(company_id: str) -> dict[str, Any]:
    return caller_privacy().export(company_id, raw_body())


@app.post(f"{COMPANY}/erasures")
@tracer.capture_method
def erase_customer_data(company_id: str) -> dict[str, Any]:
    return caller_privacy().erase(company_id, raw_body(), actor())


# ------------------------------------------------------------------ error mapping, in one place


map_common_errors(app)


@app.exception_handler(Forbidden)
def _forbidden(exc: Forbidden) -> Response:
    logger.warning("rejected admin request: forbidden", reason=exc.message)
    return error_response(403, "forbidden", exc.message)


@app.exception_handler(InvalidImport)
def _invalid_import(exc: InvalidImport) -> Response:
    logger.info("rejected staff import", field=exc.field, problems=len(exc.problems))
    return error_response(400, "invalid_request", exc.message, field=exc.field, problems=exc.problems)


@app.exception_handler(InvalidRequest)
def _invalid_request(exc: InvalidRequest) -> Response:
    logger.info("rejected admin request: invalid", field=exc.field, reason=exc.message)
    return error_response(400, "invalid_request", exc.message, field=exc.field)


@app.exception_handler(TooManyRows)
def _too_many_rows(exc: TooManyRows) -> Response:
    return error_response(413, "too_many_rows", exc.message)


@app.exception_handler(UnsupportedMediaType)
def _unsupported_media_type(exc: UnsupportedMediaType) -> Response:
    return error_response(415, "unsupported_media_type", exc.message)


@app.exception_handler(UnknownCompany)
def _unknown_company(exc: UnknownCompany) -> Response:
    return error_response(404, "unknown_company", exc.message)


@app.exception_handler(UnknownBranch)
def _unknown_branch(exc: UnknownBranch) -> Response:
    return error_response(404, "unknown_branch", exc.message, field="branch_id")


@app.exception_handler(PhoneNumberTaken)
def _number_taken(exc: PhoneNumberTaken) -> Response:
    logger.info("rejected company write: a phone number routes to another company")
    return error_response(409, "phone_number_taken", exc.message, field="branches")


@app.exception_handler(UnknownStaff)
def _unknown_staff(exc: UnknownStaff) -> Response:
    return error_response(404, "unknown_staff", exc.message, field="staff_id")


@app.exception_handler(NoActiveMapping)
def _no_active_mapping(exc: NoActiveMapping) -> Response:
    return error_response(404, "no_active_mapping", exc.message)


@app.exception_handler(NoCalcomTeam)
def _no_calcom_team(exc: NoCalcomTeam) -> Response:
    return error_response(409, "no_calcom_team", exc.message)


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return error_response(404, "not_found", exc.message)


@app.exception_handler(NotFoundError)
def _no_route(exc: NotFoundError) -> Response:
    return error_response(404, "not_found", "no such admin route")


@app.exception_handler(MappingConflict)
def _conflict(exc: MappingConflict) -> Response:
    logger.warning("admin change lost a race", reason=exc.message)
    return error_response(409, "conflict", f"{exc.message}; read the mapping again and retry")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
