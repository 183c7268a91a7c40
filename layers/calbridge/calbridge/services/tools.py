"""Retell tool calls: the tenant comes from the signed call metadata, never from LLM-filled args.

Tools: get_service_info, list_staff, check_availability (read-only, answered fresh every time) and
book_appointment, cancel_appointment, reschedule_appointment (they change appointments). Retell
sends no id per tool invocation, so a changing tool runs once per call, tool, normalised arguments
and number of changes other tool calls made in the call before it: Retell's retry gets the first
answer, the caller asking again after a cancel or a reschedule gets a new run (docs/adr/0008, 0017).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from calbridge.adapters.idempotency import OnceOnly, StillRunning
from calbridge.adapters.parsing import parse_model
from calbridge.adapters.retell.payloads import Call, ToolCallRequest
from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
from calbridge.domain import phrasing
from calbridge.domain.booking import Customer, CustomerAppointment, normalize_code, statuses_to_change
from calbridge.domain.booking_requests import (
    AttemptInFlight,
    PendingBooking,
    calcom_was_down,
    request_id_for,
)
from calbridge.domain.models import (
    Company,
    Language,
    Service,
    StaffMember,
    phone_in_country,
)
from calbridge.domain.name_matching import find_person
from calbridge.domain.text import fold, lookup, without_controls
from calbridge.domain.when import Unclear, resolve_when
from calbridge.errors import (
    CalcomContractError,
    CalcomError,
    CalcomUnavailable,
    EventTypeMissing,
    InvalidRequest,
    NotFound,
    RateLimited,
    StoreUnavailable,
    UnknownCompany,
    WorkflowUnavailable,
)
from calbridge.observability import logger, metrics, timed
from calbridge.services.booking_attempts import MIN_WORKFLOW_S, BookingAttempts, Wish
from calbridge.services.tenancy import CallTenancy
from calbridge.timing import Deadline

if TYPE_CHECKING:
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.services.availability import AvailabilityAnswer, AvailabilityService, StartOption
    from calbridge.services.booking import BookingOutcome, BookingSaga
    from calbridge.services.booking_requests import BookingRequests
    from calbridge.services.call_records import CallRecords

#: Tools that change appointments: run once per (call, tool, normalised args).
CHANGING_TOOLS = frozenset({"book_appointment", "cancel_appointment", "reschedule_appointment"})
#: What a successful cancel or reschedule did to its appointment, as the call record lists it (a
#: booking is noted by the booking saga's Finalize, in its transaction).
_CALL_ACTIONS = {"cancel_appointment": "cancelled", "reschedule_appointment": "rescheduled"}


class ToolResult(BaseModel):
    """What the agent gets back: `message` is spoken, `data` is for the LLM's reasoning."""

    success: bool
    message: str
    data: dict[str, Any] = Field(default_factory=dict)
    # False: a transient failure (calendar unreachable, workflow failed) that a repeat of the same
    # call may change, so it is never replayed to one. Not part of the answer.
    final: bool = Field(default=True, exclude=True)


def refusal(message: str, error: str, *, final: bool = True, **data: Any) -> ToolResult:
    """A business "no" the agent says out loud (HTTP 200, success false)."""
    return ToolResult(success=False, message=message, data={"error": error, **data}, final=final)


def our_error(lang: Language) -> ToolResult:
    """Cal.com refused our request as malformed (CalcomContractError): said as our fault, never as
    a taken time; not kept, so the same call runs again once it is fixed."""
    return refusal(phrasing.our_error(lang), "booking_system_error", final=False)


def _clean_name(value: Any) -> Any:
    return without_controls(value) if isinstance(value, str) else value


#: A name as said (service, staff member, customer): control characters never reach Cal.com or
#: a spoken answer. Days and times keep theirs, so domain/when.py asks them back.
SpokenName = Annotated[str, BeforeValidator(_clean_name)]


def argument_mistake(exc: InvalidRequest, lang: Language) -> ToolResult:
    """The agent called a tool without an argument it needs, or with one the tool cannot use: a
    question the agent can ask the caller (HTTP 200), naming the argument for the LLM. Not kept,
    so the corrected call runs."""
    field = exc.field or "args"
    argument = field.split(".")[1] if field.count(".") else None
    return refusal(
        phrasing.ask_for(argument, lang),
        "invalid_argument",
        final=False,
        argument=argument,
        problem=exc.message,
    )


class _Args(BaseModel):
    # LLM-filled; extra keys (e.g. a smuggled company_id) are ignored, not trusted. No argument a
    # caller says is longer than a few hundred characters.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, str_max_length=500)


class ServiceInfoArgs(_Args):
    service: SpokenName | None = Field(default=None, validation_alias=AliasChoices("service", "service_name"))


class AvailabilityArgs(_Args):
    service: SpokenName = Field(min_length=1, validation_alias=AliasChoices("service", "service_name"))
    date: str = Field(min_length=1, description="the day as said ('morgen') or YYYY-MM-DD, company-local")
    time: str | None = Field(default=None, description="the time as said ('halb drei') or HH:MM, 24 h")
    mitarbeiter: SpokenName | None = Field(
        default=None, validation_alias=AliasChoices("mitarbeiter", "staff")
    )


class BookingArgs(AvailabilityArgs):
    time: str = Field(min_length=1, description="the time as said or HH:MM, 24 h")
    customer_name: SpokenName = Field(min_length=1, max_length=200)
    customer_phone: str | None = Field(default=None, max_length=40)
    customer_email: str | None = Field(default=None, max_length=254)


class StaffArgs(_Args):
    service: SpokenName | None = Field(default=None, validation_alias=AliasChoices("service", "service_name"))


class FindAppointmentArgs(_Args):
    """Which appointment: by confirmation code, else the caller's phone narrowed by day/time/service."""

    confirmation_code: str | None = Field(
        default=None, max_length=40, validation_alias=AliasChoices("confirmation_code", "code")
    )
    date: str | None = Field(default=None, description="the appointment's day")
    time: str | None = Field(default=None, description="the appointment's time")
    service: SpokenName | None = Field(default=None, validation_alias=AliasChoices("service", "service_name"))
    customer_phone: str | None = Field(
        default=None, max_length=40, description="finds only; a change needs the caller ID or the code"
    )


class RescheduleArgs(FindAppointmentArgs):
    new_date: str = Field(min_length=1)
    new_time: str = Field(min_length=1)
    mitarbeiter: SpokenName | None = Field(
        default=None, validation_alias=AliasChoices("mitarbeiter", "staff")
    )


def tool_call_identity(company_id: str, call_id: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """What a retry of a tool call repeats: company, call, tool and the arguments normalised (keys
    sorted by the hash, strings trimmed, inner whitespace collapsed and case-folded, empty values
    dropped). Retell's request has no tool-call id (docs/reference/retell.md §2.2)."""
    return {"company_id": company_id, "call_id": call_id, "tool": tool, "args": _normalised(args)}


def fingerprint(identity: dict[str, Any]) -> str:
    """A short stable name of a tool call's identity, noted on the call record with its change."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def tool_call_key(identity: dict[str, Any], changes_before: int) -> dict[str, Any]:
    """The once-only key: the identity and the number of changes other tool calls made in the call
    before it. A retry sees the same number (its own first run's change does not count) and gets
    the first answer; the same words after a cancel or reschedule in between run again."""
    return {**identity, "changes_before": changes_before}


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, dict):
        pairs = ((str(k).strip(), _normalised(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


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


ToolHandler = Callable[[Company, dict[str, Any], Call, Deadline], ToolResult]


class ToolCalls:
    def __init__(
        self,
        companies: CompanyRepository,
        staff: StaffRepository,
        services: ServiceRepository,
        availability: Callable[[], AvailabilityService] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        appointments: BookingRecordRepository | None = None,
        once: OnceOnly | None = None,
        call_records: CallRecords | None = None,
        booking: Callable[[], BookingSaga] | None = None,
        pending: Callable[[], BookingRequests] | None = None,
        read_budget_ms: int = 6500,
        change_budget_ms: int = 10000,
    ) -> None:
        self._companies = companies
        self._staff = staff
        self._services = services
        self._availability = availability  # built on first use: Cal.com stays out of other tools
        self._clock = clock
        self._appointments = appointments
        self._once = once  # None: changing tools run every time (tests of the tools alone)
        self._call_records = call_records
        self._tenancy = CallTenancy(companies)  # whose call: metadata, agent id, dialled number
        # plans a booking here, so the saga reads nothing (booking None: the workflow plans)
        self._attempts = BookingAttempts(availability, booking) if availability is not None else None
        # Cal.com down: a booking is kept as a request (docs/adr/0025); None: "calendar unavailable"
        self._pending = pending
        # Every answer within Retell's timeout_ms less a margin (docs/adr/0026-tool-call-budget.md).
        self._budget_s = {"read": read_budget_ms / 1000, "change": change_budget_ms / 1000}
        self._tools: dict[str, ToolHandler] = {
            "get_service_info": self.get_service_info,
            "list_staff": self.list_staff,
        }
        if availability is not None:
            self._tools["check_availability"] = self.check_availability
            self._tools["book_appointment"] = self.book_appointment
        if appointments is not None:
            self._tools["cancel_appointment"] = self.cancel_appointment
            if availability is not None:
                self._tools["reschedule_appointment"] = self.reschedule_appointment

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def handle(self, request: ToolCallRequest, *, waited_s: float = 0.0) -> ToolResult:
        """The tool's answer, within its time budget less `waited_s` (how long the request waited
        before it reached us: a cold start)."""
        budget_s = self._budget_s["change" if request.name in CHANGING_TOOLS else "read"]
        deadline = Deadline(budget_s - max(waited_s, 0.0))
        tool = self._tools.get(request.name)
        if tool is None:
            raise InvalidRequest(
                f"unknown tool {request.name!r}; known tools: {', '.join(self.names)}", field="name"
            )
        tenant = self._tenancy.tenant_of(request.call)  # UnknownCompany: metadata naming no company
        if tenant is None:
            metrics.add_metric(name="ToolCallUnknownCompany", unit=MetricUnit.Count, value=1)
            raise UnknownCompany(
                "no company for this call: it has no call.metadata.company_id (it did not pass "
                "/retell/inbound), and neither its agent id nor its dialled number routes to a company; "
                "list the agent id in the company's retell_agent_ids"
            )
        company = tenant.company
        if not company.active:
            metrics.add_metric(name="ToolCallCompanyInactive", unit=MetricUnit.Count, value=1)
            logger.info("tool call for a deactivated company", company_id=company.company_id)
            return refusal(phrasing.salon_not_taking_calls(company.language), "company_inactive")
        logger.info(
            "tool call",
            tool=request.name,
            company_id=company.company_id,
            call_id=request.call.call_id,
            routed_by=tenant.routed_by,
        )
        identity = tool_call_identity(company.company_id, request.call.call_id, request.name, request.args)
        change_of = fingerprint(identity)
        try:
            with timed("ToolLatency", tool=request.name):  # a known tool's name: a bounded dimension
                if request.name in CHANGING_TOOLS and self._once is not None:
                    result = self._run_once(self._once, company, request, tool, identity, change_of, deadline)
                else:
                    result = tool(company, request.args, request.call, deadline)
        except InvalidRequest as exc:
            if not (exc.field or "").startswith("args"):
                raise  # a protocol fault of the request itself: HTTP 400
            return argument_mistake(exc, company.language)
        except EventTypeMissing as exc:
            logger.warning("service not bookable: booking event types missing", reason=exc.message)
            return refusal(phrasing.not_bookable_by_phone(company.language), "not_bookable")
        except CalcomContractError:  # the client logged Cal.com's message at error level
            return our_error(company.language)
        except (CalcomError, WorkflowUnavailable) as exc:
            status = exc.status_code if isinstance(exc, CalcomError) else None
            logger.warning("calendar unavailable during a tool call", error=type(exc).__name__, status=status)
            return refusal(
                phrasing.calendar_unavailable(company.language), "calendar_unavailable", final=False
            )
        if request.name in _CALL_ACTIONS and result.success:
            self._note_on_call(company, request, result, change_of)
        return result

    def _note_on_call(
        self, company: Company, request: ToolCallRequest, result: ToolResult, change_of: str
    ) -> None:
        """List the appointment on the call's record. The appointment is made already, so a store
        failure here is logged, not turned into a failed answer (noting again is harmless)."""
        appointment_id = result.data.get("appointment_id")
        if self._call_records is None or not appointment_id:
            return
        try:
            self._call_records.note_appointment(
                company.company_id,
                request.call.call_id,
                appointment_id,
                _CALL_ACTIONS[request.name],
                change_of=change_of,
            )
        except StoreUnavailable:
            logger.warning("could not note the appointment on the call record", call_id=request.call.call_id)

    def _run_once(
        self,
        once: OnceOnly,
        company: Company,
        request: ToolCallRequest,
        tool: ToolHandler,
        identity: dict[str, Any],
        change_of: str,
        deadline: Deadline,
    ) -> ToolResult:
        """The first answer of this tool call (same identity, same changes before it); protocol
        errors (raised) and transient failures (not final) are not kept, so a repeat runs again."""

        def action() -> tuple[dict[str, Any], bool]:
            result = tool(company, request.args, request.call, deadline)
            return result.model_dump(mode="json"), result.final

        changes_before = (
            0
            if self._call_records is None
            else self._call_records.changes_not_by(company.company_id, request.call.call_id, change_of)
        )
        try:
            answer = once.run(tool_call_key(identity, changes_before), action)
        except StillRunning:
            logger.info("duplicate tool call still running", tool=request.name, call_id=request.call.call_id)
            return refusal(
                phrasing.still_working(company.language), "in_progress", final=False, retry_after_s=2
            )
        return ToolResult.model_validate(answer)

    def get_service_info(
        self, company: Company, raw_args: dict[str, Any], call: Call, _deadline: Deadline
    ) -> ToolResult:
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
            bookable = self._bookable(company, [found.match])
            names = [staff[i] for i in found.match.staff_ids if i in staff and i in bookable]
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

    def list_staff(
        self, company: Company, raw_args: dict[str, Any], call: Call, _deadline: Deadline
    ) -> ToolResult:
        """Who can be booked: for any service, or for the service asked about."""
        args = parse_model(StaffArgs, raw_args, at="args")
        staff = self._staff.list(company.company_id)
        services = self._services.list(company.company_id)
        service = None
        if args.service:
            found = self._find_service(company, args.service, services)
            if isinstance(found, ToolResult):
                return found
            service = found
            staff = [m for m in staff if m.staff_id in service.staff_ids]
        # Who can be booked, per service once: the team offered and each member's services.
        bookable_for = {s.service_id: self._bookable(company, [s]) for s in services}
        bookable = bookable_for[service.service_id] if service else set().union(*bookable_for.values())
        staff = [m for m in staff if m.staff_id in bookable]
        return ToolResult(
            success=True,
            message=phrasing.staff_list([m.name for m in staff], service, company.language),
            data={
                **({"service_id": service.service_id} if service else {}),
                "staff": [
                    {
                        "staff_id": m.staff_id,
                        "name": m.name,
                        "services": [s.name for s in services if m.staff_id in bookable_for[s.service_id]],
                    }
                    for m in staff
                ],
            },
        )

    def check_availability(
        self, company: Company, raw_args: dict[str, Any], call: Call, deadline: Deadline
    ) -> ToolResult:
        asked = self._ask(company, parse_model(AvailabilityArgs, raw_args, at="args"))
        if isinstance(asked, ToolResult):
            return asked
        answer = self._check(asked, deadline)
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
                    "complete": answer.complete,
                },
            )
        return self._taken(asked, answer, success=True)

    def book_appointment(
        self, company: Company, raw_args: dict[str, Any], call: Call, deadline: Deadline
    ) -> ToolResult:
        """Book without asking Cal.com first: the saga's creates decide (docs/adr/0018). The first
        try goes to the staff member named, else the one the slot cache last saw free, else the
        first who can be booked; a taken time then asks Cal.com who is free, books them or
        answers with the nearest alternatives."""
        args = parse_model(BookingArgs, raw_args, at="args")
        asked = self._ask(company, args)
        if isinstance(asked, ToolResult):
            return asked
        if asked.at is None:  # "am Nachmittag": a time to book is needed
            return refusal(
                phrasing.ask_for("time", company.language), "invalid_argument", final=False, argument="time"
            )
        # A number the caller names is read in the salon's country; else the caller ID.
        phone = self._phone(company, args.customer_phone, call)
        if args.customer_phone and phone is None:
            return refusal(phrasing.need_contact(company.language), "customer_unreachable")
        phone = phone or self._phone(company, call.from_number, call)
        try:
            customer = Customer(name=args.customer_name, email=args.customer_email, phone=phone)
        except ValueError:
            return refusal(phrasing.need_contact(company.language), "customer_unreachable")
        change_of = fingerprint(
            tool_call_identity(company.company_id, call.call_id, "book_appointment", raw_args)
        )
        assert self._attempts is not None  # book_appointment exists only with the availability service
        wish = Wish(
            company=company,
            service=asked.service,
            day=asked.day,
            at=asked.at,
            staff_id=asked.staff_id,
            customer=customer,
            call_id=call.call_id,
            change_of=change_of,
            deadline=deadline,
        )
        started = self._clock()
        try:
            attempt = self._attempts.attempt(wish)
        except (CalcomUnavailable, RateLimited, WorkflowUnavailable) as down:
            if self._pending is None:
                raise
            return self._keep_pending(asked, wish, down)
        if attempt.outcome is None:
            assert attempt.answer is not None
            return self._taken(asked, attempt.answer, success=False)
        outcome = attempt.outcome
        if outcome.running and outcome.booking_id and self._pending is not None:
            # The workflow goes on; the request names it, so the worker settles by its outcome.
            running = AttemptInFlight(booking_id=outcome.booking_id, started_at=started, plan=outcome.plan)
            return self._keep_pending(asked, wish, None, running=running)
        down = not outcome.booked and calcom_was_down(outcome.error, outcome.message)
        if down and self._pending is not None:
            return self._keep_pending(asked, wish, None)
        assert attempt.option is not None
        return self._booking_answer(asked, attempt.option, outcome, call)

    def _keep_pending(
        self,
        asked: _Ask,
        wish: Wish,
        down: CalcomUnavailable | RateLimited | WorkflowUnavailable | None,
        *,
        running: AttemptInFlight | None = None,
    ) -> ToolResult:
        """Cal.com could not take the booking now, or its workflow is still `running` at the time
        budget: the wish is recorded (with the running attempt) and queued for the worker
        (docs/adr/0025, 0026), and the caller hears that the salon confirms it shortly. Final: a
        retry of this tool call replays it, and its request id is this tool call's, so nothing is
        recorded twice."""
        from calbridge.services.booking import DEFAULT_DEFER_S, deferral_s  # the saga's module: on first use
        from calbridge.services.booking_requests import ATTEMPT_RECHECK_S

        assert self._pending is not None
        company = asked.company
        now = self._clock()
        assert wish.at is not None and wish.change_of is not None
        pending = PendingBooking(
            company_id=company.company_id,
            request_id=request_id_for(wish.change_of),
            call_id=wish.call_id,
            change_of=wish.change_of,
            service_id=asked.service.service_id,
            service_name=asked.service.name,
            day=asked.day,
            at=wish.at,
            start=datetime.combine(asked.day, wish.at, tzinfo=company.zone),
            staff_id=asked.staff_id,
            customer=wish.customer,
            created_at=now,
            updated_at=now,
            attempt=running,
        )
        if running is not None:
            retry_in_s, reason = ATTEMPT_RECHECK_S, "booking still running"
        elif down is not None:
            retry_in_s, reason = deferral_s(down, attempt=1), type(down).__name__
        else:
            retry_in_s, reason = DEFAULT_DEFER_S, "workflow outcome"
        logger.warning("booking kept as a request", reason=reason, call_id=wish.call_id)
        stored = self._pending().record(pending, retry_in_s=retry_in_s)
        staff_name = asked.names.get(asked.staff_id) if asked.staff_id else None
        when = phrasing.spoken_when(stored.start.astimezone(company.zone), asked.today, company.language)
        return ToolResult(
            success=True,
            message=phrasing.booking_noted(
                asked.service, when, staff_name, company.language, still_running=running is not None
            ),
            data={
                "booked": False,
                "pending": True,
                "request_id": stored.request_id,
                "service_id": asked.service.service_id,
                "start": stored.start.isoformat(),
                "staff_name": staff_name,
            },
        )

    def _booking_answer(
        self, asked: _Ask, option: StartOption, outcome: BookingOutcome, call: Call
    ) -> ToolResult:
        lang = asked.company.language
        if outcome.booked and outcome.appointment is not None:
            appointment = outcome.appointment
            return ToolResult(
                success=True,
                message=phrasing.booked(
                    asked.service,
                    asked.spoken(option),
                    asked.name_of(option),
                    appointment.confirmation_code,
                    lang,
                ),
                data={
                    "booked": True,
                    "appointment_id": appointment.appointment_id,
                    "confirmation_code": appointment.confirmation_code,
                    **asked.data(option),
                },
            )
        if outcome.error == CalcomContractError.__name__:
            return our_error(lang)
        logger.warning("booking failed", error=outcome.error, call_id=call.call_id)
        return refusal(
            phrasing.calendar_unavailable(lang), "booking_failed", final=False, reason=outcome.error
        )

    def cancel_appointment(
        self, company: Company, raw_args: dict[str, Any], call: Call, deadline: Deadline
    ) -> ToolResult:
        from calbridge.services.appointment_changes import run_cancel  # Step Functions: on first use

        args = parse_model(FindAppointmentArgs, raw_args, at="args")
        found = self._find_appointment(company, args, call, cancelling=True)
        if isinstance(found, ToolResult):
            return found
        appointment, phrase, names = found
        outcome = run_cancel(
            {
                "company_id": company.company_id,
                "appointment_id": appointment.appointment_id,
                # "calbridge..." marks the cancel as ours when Cal.com's webhook about it arrives
                # before the workflow recorded it (domain/calcom_events.py, ADR 0021)
                "reason": f"calbridge: cancelled by the caller (Retell call {call.call_id})"[:500],
                "call_id": call.call_id,
            },
            wait_s=deadline.remaining(),
        )
        lang = company.language
        if outcome.running:  # goes on; its outcome is recorded on the appointment (ADR 0026)
            return refusal(
                phrasing.change_still_running("cancel", phrase, lang),
                "still_running",
                **self._appointment_data(company, appointment, names),
            )
        if outcome.status == "cancelled":
            return ToolResult(
                success=True,
                message=phrasing.cancelled(phrase, lang),
                data={"cancelled": True, **self._appointment_data(company, appointment, names)},
            )
        if outcome.error in ("NotFound", "AppointmentNotActive"):  # changed since we found it
            return refusal(phrasing.appointment_not_active(phrase, lang), "appointment_not_active")
        logger.warning("cancel failed", error=outcome.error, call_id=call.call_id)
        if outcome.error == "CancellationFailed":  # running the cancel again finishes it (ADR 0007)
            return refusal(phrasing.cancel_incomplete(lang), "cancel_incomplete", final=False)
        return refusal(
            phrasing.calendar_unavailable(lang), "cancel_failed", final=False, reason=outcome.error
        )

    def reschedule_appointment(
        self, company: Company, raw_args: dict[str, Any], call: Call, deadline: Deadline
    ) -> ToolResult:
        from calbridge.services.appointment_changes import run_reschedule  # Step Functions: on first use

        args = parse_model(RescheduleArgs, raw_args, at="args")
        found = self._find_appointment(company, args, call)
        if isinstance(found, ToolResult):
            return found
        appointment, phrase, _ = found
        lang = company.language
        try:
            service = self._services.get(company.company_id, appointment.service_id or "")
        except NotFound:
            service = None
        if service is None or not service.active:
            return refusal(
                phrasing.service_not_offered(appointment.service_name or "", lang), "unknown_service"
            )
        # Without a wish the appointment stays with its staff member.
        asked = self._ask_for(
            company, service, args.new_date, args.new_time, args.mitarbeiter, keep=appointment.staff_id
        )
        if isinstance(asked, ToolResult):
            return asked
        answer = self._check(asked, deadline)
        if answer.match is None:
            return self._taken(asked, answer, success=False)
        if deadline.remaining() < MIN_WORKFLOW_S:  # the check took the time: say so, not "moved"
            return refusal(phrasing.calendar_unavailable(lang), "calendar_unavailable", final=False)
        outcome = run_reschedule(
            {
                "company_id": company.company_id,
                "appointment_id": appointment.appointment_id,
                "start": answer.match.start.isoformat(),
                "staff_id": answer.match.staff_id,
                "call_id": call.call_id,
                "gap_stretch": list(answer.match.plan.gap_stretch),
            },
            wait_s=deadline.remaining(),
        )
        if outcome.running:  # goes on; its outcome is recorded on the appointment (ADR 0026)
            return refusal(phrasing.change_still_running("reschedule", phrase, lang), "still_running")
        if outcome.status == "rescheduled" and outcome.appointment is not None:
            moved = outcome.appointment
            return ToolResult(
                success=True,
                message=phrasing.rescheduled(
                    service,
                    asked.spoken(answer.match),
                    asked.name_of(answer.match),
                    moved.confirmation_code,
                    lang,
                ),
                data={
                    "rescheduled": True,
                    "appointment_id": moved.appointment_id,
                    "confirmation_code": moved.confirmation_code,
                    "previous_start": appointment.start.astimezone(company.zone).isoformat(),
                    **asked.data(answer.match),
                },
            )
        if outcome.error in ("SlotUnavailable", "LeaseBusy"):
            return self._taken(asked, self._check(asked, deadline), success=False)  # someone was faster
        if outcome.error in ("NotFound", "AppointmentNotActive"):
            return refusal(phrasing.appointment_not_active(phrase, lang), "appointment_not_active")
        if outcome.error == CalcomContractError.__name__:
            return our_error(lang)
        logger.warning("reschedule failed", error=outcome.error, call_id=call.call_id)
        return refusal(
            phrasing.calendar_unavailable(lang), "reschedule_failed", final=False, reason=outcome.error
        )

    # ------------------------------------------------------------------ finding what the caller means

    def _find_service(
        self, company: Company, query: str, services: list[Service] | None = None
    ) -> Service | ToolResult:
        lang = company.language
        services = self._services.list(company.company_id) if services is None else services
        found = lookup(services, query, lambda s: s.name)
        if found.match is not None:
            return found.match
        message = (
            phrasing.which_service(found.candidates, lang)
            if found.ambiguous
            else phrasing.unknown_service(query, services, lang)
        )
        return refusal(message, "unknown_service")

    def _find_staff(
        self, company: Company, staff: list[StaffMember], service: Service, query: str
    ) -> StaffMember | ToolResult:
        """The staff member a caller names (typos, umlauts, first or last name alone); two who fit
        equally well are asked about, unless only one of them performs the service."""
        lang = company.language
        found = find_person(staff, query, lambda m: m.name)
        person = found.match
        if person is None and found.ambiguous:
            performing = [m for m in found.candidates if m.staff_id in service.staff_ids]
            if len(performing) != 1:
                names = [m.name for m in found.candidates]
                return refusal(phrasing.which_staff(names, lang), "ambiguous_staff", candidates=names)
            person = performing[0]
        if person is None:
            return refusal(phrasing.unknown_staff(query, [m.name for m in staff], lang), "unknown_staff")
        if person.staff_id not in service.staff_ids:
            return refusal(
                phrasing.staff_not_for_service(person.name, service, lang), "staff_not_for_service"
            )
        bookable = self._bookable(company, [service])
        if person.staff_id not in bookable:
            others = [m.name for m in staff if m.staff_id in bookable]
            return refusal(
                phrasing.staff_not_bookable(person.name, others, lang), "staff_not_bookable", others=others
            )
        return person

    def _find_appointment(
        self, company: Company, args: FindAppointmentArgs, call: Call, *, cancelling: bool = False
    ) -> tuple[CustomerAppointment, str, dict[str, str]] | ToolResult:
        """The one upcoming booked appointment the caller means (`cancelling`: or one a cancel left
        half done), with its spoken phrase and the staff names; else a speakable no, or a question
        listing the candidates."""
        assert self._appointments is not None
        lang = company.language
        now = self._clock()
        names = {m.staff_id: m.name for m in self._staff.list(company.company_id, active_only=False)}
        if args.confirmation_code:
            code = normalize_code(args.confirmation_code)
            found = self._appointments.by_confirmation_code(company.company_id, code) if code else None
            if found is None:
                return refusal(phrasing.appointment_not_found(True, lang), "appointment_not_found")
            if not found.changeable(now, cancelling=cancelling):
                return refusal(
                    phrasing.appointment_not_active(None, lang), "appointment_not_active", status=found.status
                )
            return found, self._phrase(company, found, names), names
        # Only the caller changes their appointment: their caller ID or the code says who they are.
        # A number they name (or one while their caller ID is withheld) only finds.
        caller_id = self._phone(company, call.from_number, call)
        named = self._phone(company, args.customer_phone, call)
        phone = named or caller_id
        if phone is None:
            return refusal(phrasing.need_identification(lang), "need_identification")
        candidates = self._appointments.for_customer_phone(
            company.company_id, phone, after=now, statuses=statuses_to_change(cancelling)
        )
        if args.date:
            when = self._interpret_when(company, args.date, args.time)
            if isinstance(when, ToolResult):
                return when
            day, at = when
            candidates = [
                a
                for a in candidates
                if a.start.astimezone(company.zone).date() == day
                and (at is None or a.start.astimezone(company.zone).time().replace(tzinfo=None) == at)
            ]
        if args.service:
            candidates = self._of_service(company, candidates, args.service)
        if not candidates:
            return refusal(phrasing.appointment_not_found(False, lang), "appointment_not_found")
        if phone != caller_id:
            logger.info("appointment found by a number that is not the caller's; code needed")
            return refusal(phrasing.code_needed_for_other_number(lang), "confirmation_code_needed")
        if len(candidates) > 1:
            phrases = [self._phrase(company, a, names) for a in candidates]
            return refusal(
                phrasing.which_appointment(phrases, lang),
                "ambiguous_appointment",
                appointments=[self._appointment_data(company, a, names, with_code=False) for a in candidates],
            )
        return candidates[0], self._phrase(company, candidates[0], names), names

    def _of_service(
        self, company: Company, appointments: list[CustomerAppointment], query: str
    ) -> list[CustomerAppointment]:
        """The appointments of the service the caller names (one service, or all it could mean)."""
        found = lookup(self._services.list(company.company_id), query, lambda s: s.name)
        ids = {s.service_id for s in ([found.match] if found.match else found.candidates)}
        if ids:
            return [a for a in appointments if a.service_id in ids]
        wanted = fold(query)  # a service no longer offered: its stored name
        return [a for a in appointments if wanted and wanted in fold(a.service_name or "")]

    @staticmethod
    def _phone(company: Company, value: str | None, call: Call) -> str | None:
        """`value` in E.164 (a national number read in the salon's country), or None when it is no
        phone number (withheld caller ID, anonymous SIP)."""
        if not value:
            return None
        home = call.to_number or next((n for b in company.branches for n in b.phone_numbers), None)
        try:
            return phone_in_country(value, home, company.country)
        except ValueError:
            return None

    def _phrase(self, company: Company, appointment: CustomerAppointment, names: dict[str, str]) -> str:
        today = self._clock().astimezone(company.zone).date()
        when = phrasing.spoken_when(appointment.start.astimezone(company.zone), today, company.language)
        staff = names.get(appointment.staff_id or "")
        return phrasing.appointment_phrase(appointment.service_name or "", when, staff, company.language)

    @staticmethod
    def _appointment_data(
        company: Company, appointment: CustomerAppointment, names: dict[str, str], *, with_code: bool = True
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "appointment_id": appointment.appointment_id,
            "service": appointment.service_name,
            "start": appointment.start.astimezone(company.zone).isoformat(),
            "staff_name": names.get(appointment.staff_id or ""),
        }
        if with_code:
            data["confirmation_code"] = appointment.confirmation_code
        return data

    # ------------------------------------------------------------------ the asked service, time and staff

    def _ask(self, company: Company, args: AvailabilityArgs) -> _Ask | ToolResult:
        """Service, day, time and preferred staff member, or a speakable refusal."""
        service = self._find_service(company, args.service)
        if isinstance(service, ToolResult):
            return service
        return self._ask_for(company, service, args.date, args.time, args.mitarbeiter)

    def _ask_for(
        self,
        company: Company,
        service: Service,
        date_text: str,
        time_text: str | None,
        mitarbeiter: str | None,
        *,
        keep: str | None = None,
    ) -> _Ask | ToolResult:
        """When and with whom for `service`; `keep`: the staff member when none is named (if they
        still perform it)."""
        when = self._parse_when(company, date_text, time_text)
        if isinstance(when, ToolResult):
            return when
        staff = self._staff.list(company.company_id)
        names = {m.staff_id: m.name for m in staff}
        staff_id = keep if keep in names and keep in service.staff_ids else None
        if mitarbeiter:
            person = self._find_staff(company, staff, service, mitarbeiter)
            if isinstance(person, ToolResult):
                return person
            staff_id = person.staff_id
        today = self._clock().astimezone(company.zone).date()
        return _Ask(company, service, when[0], when[1], staff_id, names, today)

    def _bookable(self, company: Company, services: list[Service]) -> set[str]:
        """Who can be booked for `services` now: a Cal.com user and booking event types (a staff
        member whose link waits for review is not offered). Without the availability service (tests
        of the tools alone) everyone who performs them."""
        if self._availability is None:
            return {staff_id for service in services for staff_id in service.staff_ids}
        return self._availability_service().bookable_team(company, services)

    def _availability_service(self) -> AvailabilityService:
        assert self._availability is not None  # the availability tools exist only with the service
        return self._availability()

    def _check(self, asked: _Ask, deadline: Deadline) -> AvailabilityAnswer:
        return self._availability_service().check(
            asked.company, asked.service, asked.day, asked.at, asked.staff_id, deadline=deadline
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
            "complete": answer.complete,
        }
        if not success:
            data["error"] = "slot_unavailable"
        spoken = [asked.spoken(o) for o in answer.alternatives]
        # Part of the calendar unread (docs/adr/0016): the asked time is not known to be taken, so
        # it is not said to be, and the answer is not kept for a repeat.
        return ToolResult(
            success=success,
            message=(
                phrasing.slot_taken(requested, spoken, lang)
                if answer.complete
                else phrasing.partly_checked(requested, spoken, lang)
            ),
            data=data,
            final=answer.complete,
        )

    def _parse_when(
        self, company: Company, date_text: str, time_text: str | None
    ) -> tuple[date, time | None] | ToolResult:
        """A day and time to book in the company's zone, or a speakable refusal (unclear, past, too far)."""
        lang = company.language
        when = self._interpret_when(company, date_text, time_text)
        if isinstance(when, ToolResult):
            return when
        day, at = when
        now = self._clock().astimezone(company.zone)
        moment = datetime.combine(day, at or time(23, 59), tzinfo=company.zone)
        if moment <= now:
            return refusal(phrasing.date_in_past(lang), "date_in_past")
        if day > now.date() + timedelta(days=company.booking_window_days):
            return refusal(phrasing.beyond_window(company.booking_window_days, lang), "beyond_booking_window")
        return day, at

    def _interpret_when(
        self, company: Company, date_text: str, time_text: str | None
    ) -> tuple[date, time | None] | ToolResult:
        """What the caller's day and time mean (company local; ISO or as said: "morgen um halb
        drei"), or the question domain/when.py asks back (unclear, ambiguous)."""
        now = self._clock().astimezone(company.zone)
        when = resolve_when(
            date_text, time_text, now=now, language=company.language, opening_hours=company.opening_hours
        )
        if isinstance(when, Unclear):
            return refusal(when.message, when.reason, options=when.options)
        return when.day, when.at

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
