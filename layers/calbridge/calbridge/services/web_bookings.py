"""Bookings from a salon's own website or tools (issue 13 item 6, docs/adr/0033-web-bookings.md).

The same path a phone booking takes: `BookingAttempts.attempt` (first choice, the booking saga,
the check when the time was taken), composite detection from the service itself. What differs is
the front: the request names service, staff and branch by id, all checked against the URL's
company; the start is an ISO 8601 moment; the answer is JSON with the segments and the code. A
website user is present, so Cal.com being down is a 503 to retry, never a pending request.

An `Idempotency-Key` makes a retry replay the first answer (OnceOnly, scoped by company and
route, with the body's fingerprint stored: the same key with another body is refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from calbridge.adapters.parsing import parse_json, parse_model
from calbridge.domain.booking import Customer
from calbridge.domain.models import Company, EntityId, Service, phone_in_country
from calbridge.errors import (
    CalbridgeError,
    CalcomContractError,
    CalcomUnavailable,
    InvalidRequest,
    NotFound,
    RateLimited,
    UnknownBranch,
    UnknownService,
    UnknownStaff,
    WorkflowUnavailable,
)
from calbridge.observability import logger
from calbridge.services.booking_attempts import BookingAttempts, Wish
from calbridge.timing import Deadline

if TYPE_CHECKING:
    from calbridge.adapters.idempotency import OnceOnly
    from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
    from calbridge.adapters.store.salon_records import SalonRecords
    from calbridge.services.availability import AvailabilityAnswer
    from calbridge.services.booking import BookingOutcome

#: API Gateway's HTTP API answers 504 after 30 s: the booking stops waiting well before.
BOOKING_BUDGET_S = 20.0
IDEMPOTENCY_KEY_MAX_CHARS = 128
ROUTE = "POST /api/companies/{company_id}/bookings"


class CompanyInactive(CalbridgeError):
    """The company is deactivated (Company.active False): it takes no bookings."""


class IdempotencyKeyReused(CalbridgeError):
    """The Idempotency-Key was first used with another request body."""


class CalendarUnavailable(CalbridgeError):
    """Cal.com or the booking workflow could not take the booking now; nothing was booked."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class WebCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(default=None, min_length=1, max_length=40)


class WebBookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service_id: EntityId
    start: AwareDatetime
    staff_id: EntityId | None = None
    branch_id: EntityId | None = None
    customer: WebCustomer


@dataclass(frozen=True)
class WebAnswer:
    """An HTTP answer of the booking route: status, JSON body, and Retry-After when it applies."""

    status_code: int
    body: dict[str, Any] = field(default_factory=dict)


def idempotency_key(raw: str | None) -> str | None:
    """The Idempotency-Key header (None when absent); 1-128 printable characters."""
    if raw is None:
        return None
    key = raw.strip()
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_CHARS or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key: 1 to {IDEMPOTENCY_KEY_MAX_CHARS} printable characters", field="Idempotency-Key"
        )
    return key


def body_fingerprint(request: WebBookingRequest) -> str:
    return _fingerprint(request.model_dump(mode="json"))


class WebBookings:
    def __init__(
        self,
        companies: CompanyRepository,
        staff: StaffRepository,
        services: ServiceRepository,
        attempts: BookingAttempts,
        records: SalonRecords,
        once: OnceOnly,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        budget_s: float = BOOKING_BUDGET_S,
    ) -> None:
        self._companies = companies
        self._staff = staff
        self._services = services
        self._attempts = attempts
        self._records = records
        self._once = once
        self._clock = clock
        self._budget_s = budget_s

    # ---------------------------------------------------------------- POST .../bookings

    def book(self, company_id: str, raw_body: bytes, raw_key: str | None) -> WebAnswer:
        """Book, or replay the answer the same Idempotency-Key got. Every check comes first:
        a refused request writes nothing."""
        deadline = Deadline(self._budget_s)
        key = idempotency_key(raw_key)
        request = parse_model(WebBookingRequest, parse_json(raw_body))
        company = self._bookable_company(company_id)
        wish = self._wish(company, request, key, deadline)
        if key is None:
            return self._attempt(wish)
        asked = body_fingerprint(request)

        def action() -> tuple[dict[str, Any], bool]:
            answer = self._attempt(wish)
            # 201 and 202 are final: running again would book twice. A taken time may free up.
            final = answer.status_code in (201, 202)
            return {"status_code": answer.status_code, "body": answer.body, "request": asked}, final

        stored = self._once.run({"route": ROUTE, "company_id": company_id, "idempotency_key": key}, action)
        if stored["request"] != asked:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with another request body; use a new key for a new booking"
            )
        return WebAnswer(stored["status_code"], stored["body"])

    def _bookable_company(self, company_id: str) -> Company:
        company = self._companies.get(company_id)  # UnknownCompany: 404
        if not company.active:
            raise CompanyInactive(f"company {company_id!r} is deactivated and takes no bookings")
        return company

    def _wish(
        self, company: Company, request: WebBookingRequest, key: str | None, deadline: Deadline
    ) -> Wish:
        service = self._service(company, request.service_id)
        if request.staff_id is not None:
            known = {m.staff_id for m in self._staff.list(company.company_id)}
            if request.staff_id not in known or request.staff_id not in service.staff_ids:
                raise UnknownStaff(
                    f"staff {request.staff_id!r} does not perform service {service.service_id!r}"
                )
        if request.branch_id is not None and request.branch_id not in {b.branch_id for b in company.branches}:
            raise UnknownBranch(f"company {company.company_id!r} has no branch {request.branch_id!r}")
        start = request.start.astimezone(company.zone)
        now = self._clock().astimezone(company.zone)
        if start <= now:
            raise InvalidRequest("start is in the past", field="start")
        if start.date() > now.date() + timedelta(days=company.booking_window_days):
            raise InvalidRequest(
                f"start is beyond the booking window of {company.booking_window_days} days", field="start"
            )
        identity = {"route": ROUTE, "company_id": company.company_id}
        identity |= {"idempotency_key": key} if key else {"request": body_fingerprint(request)}
        return Wish(
            company=company,
            service=service,
            day=start.date(),
            at=start.time().replace(tzinfo=None),
            staff_id=request.staff_id,
            customer=self._customer(company, request.customer),
            call_id=None,
            change_of=_fingerprint(identity),
            deadline=deadline,
        )

    def _service(self, company: Company, service_id: str) -> Service:
        try:
            service = self._services.get(company.company_id, service_id)
        except NotFound:
            service = None
        if service is None or not service.active:
            raise UnknownService(f"company {company.company_id!r} offers no service {service_id!r}")
        return service

    @staticmethod
    def _customer(company: Company, given: WebCustomer) -> Customer:
        phone = None
        if given.phone:
            home = next((n for b in company.branches for n in b.phone_numbers), None)
            try:
                phone = phone_in_country(given.phone, home, company.country)
            except ValueError as exc:
                raise InvalidRequest(
                    "not a phone number of the salon's country", field="customer.phone"
                ) from exc
        if not given.email and not phone:
            raise InvalidRequest("the customer needs an email or a phone number", field="customer")
        return Customer(name=given.name, email=given.email, phone=phone)

    def _attempt(self, wish: Wish) -> WebAnswer:
        try:
            attempt = self._attempts.attempt(wish)
        except (CalcomUnavailable, RateLimited, WorkflowUnavailable) as down:
            from calbridge.services.booking import deferral_s  # the saga's module: imported by the attempt

            logger.warning("web booking: calendar unavailable", error=type(down).__name__)
            raise CalendarUnavailable(
                "the calendar is unavailable; try again", deferral_s(down, attempt=1)
            ) from down
        if attempt.outcome is None:
            assert attempt.answer is not None
            return _taken(wish, attempt.answer)
        outcome = attempt.outcome
        if outcome.running:  # goes on; Finalize or Compensate records how it ended (GET tells)
            return WebAnswer(202, {"status": "running", "appointment_id": outcome.booking_id})
        if outcome.booked:
            return WebAnswer(201, self._booked(wish, outcome))
        from calbridge.domain.booking_requests import calcom_was_down
        from calbridge.services.booking import DEFAULT_DEFER_S

        if outcome.error == CalcomContractError.__name__:
            logger.error("web booking refused by Cal.com as malformed", message=outcome.message)
        elif not calcom_was_down(outcome.error, outcome.message):
            logger.warning("web booking failed", error=outcome.error)
        # The saga compensated: nothing is booked, and a retry may succeed.
        raise CalendarUnavailable(f"the booking did not complete ({outcome.error})", DEFAULT_DEFER_S)

    def _booked(self, wish: Wish, outcome: BookingOutcome) -> dict[str, Any]:
        summary = outcome.appointment
        assert summary is not None
        zone = wish.company.zone
        names = {m.staff_id: m.name for m in self._staff.list(wish.company.company_id)}
        return {
            "appointment_id": summary.appointment_id,
            "status": "booked",
            "confirmation_code": summary.confirmation_code,
            "composite": summary.composite,
            "composite_uid": summary.composite_group_uid if summary.composite else None,
            "service": _service_view(wish.service),
            "staff": {"staff_id": summary.staff_id, "name": names.get(summary.staff_id)},
            "segments": [
                {
                    "key": s.key,
                    "name": s.name,
                    "start": s.start.astimezone(zone).isoformat(),
                    "end": s.end.astimezone(zone).isoformat(),
                    "staff_id": s.staff_id,
                }
                for s in summary.segments
            ],
            "start": summary.start.astimezone(zone).isoformat(),
            "end": summary.end.astimezone(zone).isoformat(),
            "timezone": summary.timezone,
        }

    # ---------------------------------------------------------------- GET .../bookings/<id>

    def appointment(self, company_id: str, appointment_id: str) -> dict[str, Any]:
        """One of the company's appointments as the website shows it (no contact details)."""
        company = self._companies.get(company_id)
        found = self._records.appointment(company_id, appointment_id)  # NotFound: 404
        zone = company.zone
        names = {m.staff_id: m.name for m in self._staff.list(company_id)}

        def local(moment: datetime | None) -> str | None:
            return moment.astimezone(zone).isoformat() if moment is not None else None

        return {
            "appointment_id": found.appointment_id,
            "status": found.status,
            "confirmation_code": found.confirmation_code,
            "composite": len(found.segments) > 1,
            "service": {"service_id": found.service_id, "name": found.service_name},
            "staff": {"staff_id": found.staff_id, "name": names.get(found.staff_id or "")},
            "segments": [
                {
                    "key": s.key,
                    "name": s.name,
                    "start": local(s.start),
                    "end": local(s.end),
                    "staff_id": s.staff_id,
                }
                for s in found.segments
            ],
            "start": local(found.start),
            "end": local(found.end),
            "timezone": found.timezone,
        }


def _taken(wish: Wish, answer: AvailabilityAnswer) -> WebAnswer:
    zone = wish.company.zone
    return WebAnswer(
        409,
        {
            "error": "slot_unavailable",
            "message": "the time is not free; the alternatives are the nearest free starts",
            "alternatives": [o.start.astimezone(zone).isoformat() for o in answer.alternatives],
            "complete": answer.complete,
        },
    )


def _service_view(service: Service) -> dict[str, Any]:
    return {
        "service_id": service.service_id,
        "name": service.name,
        "duration": service.duration,
        "composite": service.composite,
    }


def _fingerprint(identity: dict[str, Any]) -> str:
    from calbridge.services.tools import fingerprint  # the tool calls' change_of, one definition

    return fingerprint(identity)
