"""Retell tool calls: the tenant comes from the signed call metadata, never from LLM-filled args."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from calbridge.adapters.retell.payloads import Call, ToolCallRequest, parse_model
from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
from calbridge.domain import phrasing
from calbridge.domain.booking import Customer
from calbridge.domain.models import Company, Service
from calbridge.domain.text import lookup
from calbridge.errors import InvalidRequest
from calbridge.observability import logger

if TYPE_CHECKING:
    from calbridge.services.availability import AvailabilityAnswer, AvailabilityService, StartOption


class ToolResult(BaseModel):
    """What the agent gets back: `message` is spoken, `data` is for the LLM's reasoning."""

    success: bool
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


def refusal(message: str, error: str, **data: Any) -> ToolResult:
    """A business "no" the agent says out loud (HTTP 200, success false)."""
    return ToolResult(success=False, message=message, data={"error": error, **data})


class _Args(BaseModel):
    # LLM-filled; extra keys (e.g. a smuggled company_id) are ignored, not trusted.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class ServiceInfoArgs(_Args):
    service: str | None = Field(default=None, validation_alias=AliasChoices("service", "service_name"))


class AvailabilityArgs(_Args):
    service: str = Field(min_length=1, validation_alias=AliasChoices("service", "service_name"))
    date: str = Field(min_length=1, description="YYYY-MM-DD in the company's time zone")
    time: str | None = Field(default=None, description="HH:MM, 24 h")
    mitarbeiter: str | None = Field(default=None, validation_alias=AliasChoices("mitarbeiter", "staff"))


class BookingArgs(AvailabilityArgs):
    time: str = Field(min_length=1, description="HH:MM, 24 h")
    customer_name: str = Field(min_length=1, max_length=200)
    customer_phone: str | None = None
    customer_email: str | None = None


@dataclass(frozen=True)
class _Ask:
    """A caller's question, resolved: which service, when, with whom (company local time)."""

    company: Company
    service: Service
    day: date
    at: time | None
    staff_id: str | None
    names: dict[str, str]
    today: date

    def name_of(self, option: StartOption) -> str:
        return self.names.get(option.staff_id, option.staff_id)

    def spoken(self, option: StartOption) -> str:
        return phrasing.spoken_when(
            option.start.astimezone(self.company.zone), self.today, self.company.language
        )

    def data(self, option: StartOption) -> dict[str, Any]:
        zone = self.company.zone
        return {
            "start": option.start.astimezone(zone).isoformat(),
            "staff_id": option.staff_id,
            "staff_name": self.name_of(option),
            "segments": [
                {"key": key, "name": name, "start": start, "end": end}
                for key, name, start, end in option.plan.local_times(zone)
            ],
        }


ToolHandler = Callable[[Company, dict[str, Any], Call], ToolResult]


class ToolCalls:
    def __init__(
        self,
        companies: CompanyRepository,
        staff: StaffRepository,
        services: ServiceRepository,
        availability: Callable[[], AvailabilityService] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._companies = companies
        self._staff = staff
        self._services = services
        self._availability = availability  # built on first use: Cal.com stays out of other tools
        self._clock = clock
        self._tools: dict[str, ToolHandler] = {"get_service_info": self.get_service_info}
        if availability is not None:
            self._tools["check_availability"] = self.check_availability
            self._tools["book_appointment"] = self.book_appointment

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def handle(self, request: ToolCallRequest) -> ToolResult:
        company_id = request.call.metadata.company_id
        if not company_id:
            raise InvalidRequest(
                "call.metadata.company_id is missing: the call was not routed by /retell/inbound",
                field="call.metadata.company_id",
            )
        tool = self._tools.get(request.name)
        if tool is None:
            raise InvalidRequest(
                f"unknown tool {request.name!r}; known tools: {', '.join(self.names)}", field="name"
            )
        company = self._companies.get(company_id)
        logger.info("tool call", tool=request.name, company_id=company_id, call_id=request.call.call_id)
        return tool(company, request.args, request.call)

    def get_service_info(self, company: Company, raw_args: dict[str, Any], call: Call) -> ToolResult:
        args = parse_model(ServiceInfoArgs, raw_args, at="args")
        lang = company.language
        services = self._services.list(company.company_id)
        if not args.service:
            return ToolResult(
                success=True,
                message=phrasing.list_services(services, lang),
                data={"services": [self._service_data(s) for s in services]},
            )
        found = lookup(services, args.service, lambda s: s.name)
        if found.match is not None:
            staff = {m.staff_id: m.name for m in self._staff.list(company.company_id)}
            names = [staff[i] for i in found.match.staff_ids if i in staff]
            return ToolResult(
                success=True,
                message=phrasing.describe_service(found.match, names, lang),
                data={"service": self._service_data(found.match, names)},
            )
        if found.ambiguous:
            return ToolResult(
                success=False,
                message=phrasing.which_service(found.candidates, lang),
                data={"error": "ambiguous_service", "candidates": [s.name for s in found.candidates]},
            )
        return ToolResult(
            success=False,
            message=phrasing.unknown_service(args.service, services, lang),
            data={"error": "unknown_service", "services": [s.name for s in services]},
        )

    def check_availability(self, company: Company, raw_args: dict[str, Any], call: Call) -> ToolResult:
        asked = self._ask(company, parse_model(AvailabilityArgs, raw_args, at="args"))
        if isinstance(asked, ToolResult):
            return asked
        answer = self._check(asked)
        if answer.match is not None:
            return ToolResult(
                success=True,
                message=phrasing.slot_free(
                    asked.service, asked.spoken(answer.match), asked.name_of(answer.match), company.language
                ),
                data={"available": True, "service_id": asked.service.service_id, **asked.data(answer.match)},
            )
        if asked.at is None and answer.starts:
            first = answer.starts[:3]
            return ToolResult(
                success=True,
                message=phrasing.free_starts([asked.spoken(o) for o in first], company.language),
                data={
                    "available": True,
                    "service_id": asked.service.service_id,
                    "starts": [asked.data(o) for o in first],
                },
            )
        return self._taken(asked, answer, success=True)

    def book_appointment(self, company: Company, raw_args: dict[str, Any], call: Call) -> ToolResult:
        from calbridge.services.booking import run_booking  # boto3's Step Functions client: on first use

        args = parse_model(BookingArgs, raw_args, at="args")
        asked = self._ask(company, args)
        if isinstance(asked, ToolResult):
            return asked
        phone = args.customer_phone or call.from_number
        try:
            customer = Customer(name=args.customer_name, email=args.customer_email, phone=phone)
        except ValueError:
            return refusal(phrasing.need_contact(company.language), "customer_unreachable")
        answer = self._check(asked)
        if answer.match is None:
            return self._taken(asked, answer, success=False)
        outcome = run_booking(
            {
                "company_id": company.company_id,
                "booking_id": f"bk_{uuid.uuid4().hex}",
                "service_id": asked.service.service_id,
                "start": answer.match.start.isoformat(),
                "staff_id": answer.match.staff_id,
                "customer": customer.model_dump(exclude_none=True),
                "call_id": call.call_id,
                "gap_stretch": list(answer.match.plan.gap_stretch),
            }
        )
        availability = self._availability_service()
        availability.forget(company, asked.service, answer.match)  # our booking changed the slots
        if outcome.booked and outcome.appointment is not None:
            appointment = outcome.appointment
            return ToolResult(
                success=True,
                message=phrasing.booked(
                    asked.service,
                    asked.spoken(answer.match),
                    asked.name_of(answer.match),
                    appointment.confirmation_code,
                    company.language,
                ),
                data={
                    "booked": True,
                    "appointment_id": appointment.appointment_id,
                    "confirmation_code": appointment.confirmation_code,
                    **asked.data(answer.match),
                },
            )
        if outcome.error in ("SlotUnavailable", "LeaseBusy"):
            return self._taken(asked, self._check(asked), success=False)  # someone was faster
        logger.warning("booking failed", error=outcome.error, call_id=call.call_id)
        return refusal(
            phrasing.calendar_unavailable(company.language), "booking_failed", reason=outcome.error
        )

    def _ask(self, company: Company, args: AvailabilityArgs) -> _Ask | ToolResult:
        """Service, day, time and preferred staff member, or a speakable refusal."""
        lang = company.language
        services = self._services.list(company.company_id)
        found = lookup(services, args.service, lambda s: s.name)
        if found.match is None:
            message = (
                phrasing.which_service(found.candidates, lang)
                if found.ambiguous
                else phrasing.unknown_service(args.service, services, lang)
            )
            return refusal(message, "unknown_service")
        service = found.match
        when = self._parse_when(company, args)
        if isinstance(when, ToolResult):
            return when
        staff = self._staff.list(company.company_id)
        names = {m.staff_id: m.name for m in staff}
        staff_id = None
        if args.mitarbeiter:
            person = lookup(staff, args.mitarbeiter, lambda m: m.name)
            if person.match is None:
                return refusal(
                    phrasing.unknown_staff(args.mitarbeiter, list(names.values()), lang), "unknown_staff"
                )
            if person.match.staff_id not in service.staff_ids:
                return refusal(
                    phrasing.staff_not_for_service(person.match.name, service, lang), "staff_not_for_service"
                )
            staff_id = person.match.staff_id
        today = self._clock().astimezone(company.zone).date()
        return _Ask(company, service, when[0], when[1], staff_id, names, today)

    def _availability_service(self) -> AvailabilityService:
        assert self._availability is not None  # the availability tools exist only with the service
        return self._availability()

    def _check(self, asked: _Ask) -> AvailabilityAnswer:
        return self._availability_service().check(
            asked.company, asked.service, asked.day, asked.at, asked.staff_id
        )

    @staticmethod
    def _taken(asked: _Ask, answer: AvailabilityAnswer, *, success: bool) -> ToolResult:
        """The asked time is not free: say so and offer the nearest alternatives."""
        lang = asked.company.language
        requested = (
            phrasing.spoken_when(answer.requested.astimezone(asked.company.zone), asked.today, lang)
            if answer.requested
            else None
        )
        data: dict[str, Any] = {
            "available": False,
            "service_id": asked.service.service_id,
            "alternatives": [asked.data(o) for o in answer.alternatives],
        }
        if not success:
            data["error"] = "slot_unavailable"
        return ToolResult(
            success=success,
            message=phrasing.slot_taken(requested, [asked.spoken(o) for o in answer.alternatives], lang),
            data=data,
        )

    def _parse_when(self, company: Company, args: AvailabilityArgs) -> tuple[date, time | None] | ToolResult:
        """ISO date and time in the company's zone, or a speakable refusal (bad, past, too far)."""
        lang = company.language
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            return refusal(phrasing.invalid_date(args.date, lang), "invalid_date")
        at = None
        if args.time:
            try:
                at = time.fromisoformat(args.time)
            except ValueError:
                return refusal(phrasing.invalid_time(args.time, lang), "invalid_time")
        now = self._clock().astimezone(company.zone)
        moment = datetime.combine(day, at or time(23, 59), tzinfo=company.zone)
        if moment <= now:
            return refusal(phrasing.date_in_past(lang), "date_in_past")
        if day > now.date() + timedelta(days=company.booking_window_days):
            return refusal(phrasing.beyond_window(company.booking_window_days, lang), "beyond_booking_window")
        return day, at

    @staticmethod
    def _service_data(service: Service, staff_names: list[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "service_id": service.service_id,
            "name": service.name,
            "duration_minutes": service.duration,
            "price": None if service.price_cents is None else service.price_cents / 100,
            "currency": service.currency,
            "composite": service.composite,
        }
        if service.composite:
            data["waiting_minutes"] = service.gap_minutes
            data["segments"] = [s.model_dump() for s in service.segments]
        if staff_names is not None:
            data["staff"] = staff_names
        return data
