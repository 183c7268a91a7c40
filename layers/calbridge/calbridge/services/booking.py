"""Booking: the saga's steps (one method per task of statemachines/booking.asl.json) and the call
that runs the state machine synchronously (`run_booking`).

Plan -> AcquireLock -> ReserveHolds (Map, parallel) -> Finalize (which checks every hold's host
first: `assign_staff`); any failure -> Compensate -> Fail. The tool layer may pass the plan and
the lease it took (`lease_ahead`): the workflow then starts at ReserveHolds (docs/adr/0019).
Decisions and their reasons: docs/adr/0006-booking-saga.md. In short:

- Every Cal.com booking carries our ids in `metadata` (booking id, hold key, company), because
  Cal.com has no idempotency key. A retried ReserveHold first looks for its own booking by that
  metadata in the hold's window and reuses it, so a lost response never makes a duplicate.
- Compensation does not trust what the workflow remembers: it lists Cal.com's bookings of the
  plan's event types in the plan's window and cancels every active one carrying this booking id
  (plus the uids the reservations reported). Whatever the order, the concurrency, or a response
  that got lost, what was booked gets cancelled; cancelling again is harmless.
- One slot lease per staff member and local day (conditional write, owner, ~60 s expiry) keeps
  two calls from reserving the same staff member's holds at the same time.

Each step raises named exceptions (calbridge.errors); their class names are the error names the
state machine retries, catches and ends with.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from calbridge.adapters.parsing import parse_model
from calbridge.adapters.store.bookings import BookingRecordRepository, LeaseRef
from calbridge.adapters.store.event_map import EventMapRepository
from calbridge.adapters.store.leases import Lease, LeaseRepository
from calbridge.adapters.store.repositories import ServiceRepository
from calbridge.adapters.store.slot_cache import cache_key
from calbridge.config import get_settings
from calbridge.domain.booking import (
    INACTIVE_STATUSES,
    AppointmentSummary,
    BookingPlan,
    BookingRequest,
    HoldFailure,
    HoldRequest,
    PlannedHold,
    Reservation,
    SegmentSummary,
    StaffAssignment,
    booking_metadata,
    error_message,
    is_ours,
    lease_key,
    parse_reservations,
)
from calbridge.domain.booking_requests import BOOKING_WORKFLOW_TIMEOUT_S
from calbridge.domain.calls import AppointmentAction, CallAppointment
from calbridge.domain.confirmation_text import ConfirmationEvent
from calbridge.domain.event_types import event_type_for, index_event_map
from calbridge.domain.models import Service, StaffMember
from calbridge.domain.planning import plan_service
from calbridge.errors import (
    CalbridgeError,
    CalcomContractError,
    CalcomRejected,
    CalcomUnavailable,
    InvalidRequest,
    LeaseBusy,
    NotFound,
    RateLimited,
    ReservationFailed,
    SlotUnavailable,
    StaffMismatch,
    StaffNotBookable,
    StoreUnavailable,
    UnknownCompany,
    UnknownService,
    UnknownStaff,
    WorkflowUnavailable,
)
from calbridge.observability import logger, metrics
from calbridge.services.confirmations import ConfirmationJob, queue_confirmation
from calbridge.services.host_resolution import HostResolver

if TYPE_CHECKING:
    from calbridge.adapters.calcom.client import CalcomClient
    from calbridge.adapters.calcom.models import Booking
    from calbridge.adapters.queue import JobQueue

#: Bookings that can still hold a slot, for Cal.com's list filter (the result is checked again).
LISTED_STATUSES = ("upcoming", "unconfirmed")
CANCEL_REASON = "calbridge: booking attempt failed, segments released"


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ step inputs and outputs


class _StepInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReserveHoldInput(_StepInput):
    """ReserveHold's task input: the Map item, and Step Functions' retry count of this attempt."""

    request: HoldRequest
    retry: int = Field(default=0, ge=0)


class AssignStaffInput(_StepInput):
    plan: BookingPlan
    reservations: list[dict[str, Any]]


class Assignment(_StepInput):
    assignments: list[StaffAssignment]


class FinalizeInput(_StepInput):
    plan: BookingPlan
    reservations: list[dict[str, Any]]


class StepError(_StepInput):
    """What a Catch puts at `$.error`."""

    error: str = Field(default="States.Runtime", alias="Error")
    cause: str = Field(default="", alias="Cause")


class CompensateInput(_StepInput):
    """The whole state at the time of the failure: whatever steps had run by then."""

    company_id: str | None = None
    booking_id: str | None = None
    plan: BookingPlan | None = None
    reservations: list[dict[str, Any]] | None = None
    error: StepError = StepError()


class CompensationReport(BaseModel):
    cancelled: list[str] = Field(default_factory=list)
    already_cancelled: list[str] = Field(default_factory=list)
    lease_released: bool = False
    recorded: bool = False
    deferred_s: int | None = None  # Cal.com refused the cancels for now: queued, retried after this


class DeferredCompensation(_StepInput):
    """The cancels of a failed attempt that Cal.com refused for now (rate limit, outage, open
    breaker): a job of the compensation queue (docs/adr/0024-compensation-that-cannot-give-up.md)."""

    kind: Literal["attempt"] = "attempt"
    plan: BookingPlan
    reservations: list[dict[str, Any]] = Field(default_factory=list)
    error: str = Field(description="the error that started the compensation, e.g. SlotUnavailable")


#: SQS delays a message by at most 15 minutes; a deferral waits at least a second.
MAX_DEFER_S = 900
#: How long a deferral waits when Cal.com did not say (an outage rather than a rate limit).
DEFAULT_DEFER_S = 30


# ------------------------------------------------------------------ the saga


class BookingSaga:
    def __init__(
        self,
        *,
        calcom: Callable[[], CalcomClient],
        resolver: HostResolver,
        services: ServiceRepository,
        event_map: EventMapRepository,
        leases: LeaseRepository,
        records: BookingRecordRepository,
        deferrals: Callable[[], JobQueue] | None = None,
        confirmations: Callable[[], JobQueue] | None = None,
        lease_ttl_s: int = 60,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._calcom = calcom  # called on first use: steps without Cal.com never build a client
        self._confirmations = confirmations  # the notifications queue (ADR 0029), built on first use
        self._resolver = resolver
        self._services = services
        self._event_map = event_map
        self._leases = leases
        self._records = records
        self._deferrals = deferrals  # the compensation queue, built on first use
        self._lease_ttl_s = lease_ttl_s
        self._clock = clock

    # ---------------------------------------------------------------- Plan

    def plan(self, request: BookingRequest) -> BookingPlan:
        """Company, service and staff member checked; the segment plan with an event type per hold."""
        company = self._resolver.company(request.company_id)
        service = self._service(request)
        staff, calcom_user_id = self._staff(request, service)
        try:
            planned = plan_service(service, request.start, gap_stretch=request.gap_stretch)
        except ValueError as exc:
            raise InvalidRequest(str(exc), field="gap_stretch") from exc
        entries = index_event_map(self._event_map.list(company.company_id, service.service_id))
        holds = tuple(
            PlannedHold(
                **hold.model_dump(),
                event_type_id=event_type_for(hold, service, entries, calcom_user_id),
            )
            for hold in planned.holds
        )
        return BookingPlan(
            company_id=company.company_id,
            booking_id=request.booking_id,
            service_id=service.service_id,
            service_name=service.name,
            composite=service.composite,
            policy=service.pause_policy,
            staff_id=staff.staff_id,
            calcom_user_id=calcom_user_id,
            timezone=company.timezone,
            language=company.language,
            start=planned.start,
            end=planned.end,
            lease_key=lease_key(staff.staff_id, planned.start.astimezone(company.zone).date()),
            customer=request.customer,
            call_id=request.call_id,
            change_of=request.change_of,
            segments=planned.segments,
            holds=holds,
        )

    def _service(self, request: BookingRequest) -> Service:
        try:
            service = self._services.get(request.company_id, request.service_id)
        except NotFound as exc:
            raise UnknownService(f"unknown service {request.service_id!r}") from exc
        if not service.active:
            raise UnknownService(f"service {request.service_id!r} is not offered any more")
        return service

    def _staff(self, request: BookingRequest, service: Service) -> tuple[StaffMember, int]:
        """The requested staff member and the Cal.com user they are booked as."""
        member = self._resolver.directory(request.company_id).get(request.staff_id)
        if member is None:
            raise UnknownStaff(f"unknown staff member {request.staff_id!r}")
        if not member.active:
            raise StaffNotBookable(f"staff member {member.staff_id!r} is inactive")
        if service.staff_ids and member.staff_id not in service.staff_ids:
            raise StaffNotBookable(
                f"staff member {member.staff_id!r} does not perform service {service.service_id!r}"
            )
        calcom_user_id = self._resolver.calcom_user(request.company_id, member)
        if calcom_user_id is None:
            raise StaffNotBookable(f"staff member {member.staff_id!r} has no Cal.com user to book")
        return member, calcom_user_id

    # ---------------------------------------------------------------- AcquireLock

    def acquire_lock(self, plan: BookingPlan) -> Lease:
        return self._leases.acquire(
            plan.company_id, plan.lease_key, plan.booking_id, ttl_s=self._lease_ttl_s, now=self._clock()
        )

    def lease_ahead(self, plan: BookingPlan) -> Lease | None:
        """The plan's lease, taken before the workflow starts so that it skips AcquireLock
        (docs/adr/0019); None when another booking holds it or the store failed: the workflow's
        AcquireLock then waits and retries as it always does."""
        try:
            return self.acquire_lock(plan)
        except (LeaseBusy, StoreUnavailable) as exc:
            logger.info("lease not taken ahead: the workflow takes it", reason=type(exc).__name__)
            return None

    # ---------------------------------------------------------------- ReserveHold

    def reserve_hold(self, step: ReserveHoldInput) -> Reservation:
        """Book one hold in Cal.com on the plan's staff member's own event type of it (its only
        host: docs/adr/0013), so the booking is theirs.

        A retried attempt (retry > 0) first looks for the booking an earlier attempt may have made
        (the response was lost, Cal.com did the work): found by our metadata, it is reused.
        SlotUnavailable is raised as is: the state machine never retries it.
        """
        from calbridge.adapters.calcom.models import AttendeeInput, CreateBookingRequest

        request, hold = step.request, step.request.hold
        calcom = self._calcom().for_company(request.company_id)
        if step.retry > 0:
            existing = self._find_own(calcom, request.company_id, request.booking_id, hold)
            if existing is not None:
                logger.info("reusing the booking of an earlier attempt", hold=hold.key, retry=step.retry)
                return _reservation(hold, existing, reused=True)
        customer = request.customer
        booking = calcom.create_booking(
            CreateBookingRequest(
                start=hold.start,
                event_type_id=hold.event_type_id,
                attendee=AttendeeInput(
                    name=customer.name,
                    email=customer.email,
                    phone_number=customer.phone,
                    time_zone=request.timezone,
                    language=request.language,
                ),
                metadata=booking_metadata(request.company_id, request.booking_id, hold.key),
            )
        )
        return _reservation(hold, booking, reused=False)

    @staticmethod
    def _find_own(
        calcom: CalcomClient, company_id: str, booking_id: str, hold: PlannedHold
    ) -> Booking | None:
        listed = calcom.list_bookings(
            event_type_ids=[hold.event_type_id],
            after_start=hold.start,
            before_end=hold.end,
            status=LISTED_STATUSES,
        )
        own = [
            b
            for b in listed
            if b.status not in INACTIVE_STATUSES and is_ours(b.metadata, company_id, booking_id, hold.key)
        ]
        if len(own) > 1:
            logger.warning("more than one booking for one hold", hold=hold.key, count=len(own))
        return own[0] if own else None

    # ---------------------------------------------------------------- AssignStaff

    def assign_staff(self, plan: BookingPlan, items: list[dict[str, Any]]) -> list[StaffAssignment]:
        """Every hold reserved, and hosted by the staff member asked for (via host resolution)."""
        results = parse_reservations(items)
        failures = [r for r in results if isinstance(r, HoldFailure)]
        if failures:
            detail = "; ".join(f"{f.hold}: {f.error}: {error_message(f.cause)}" for f in failures)
            if any(f.error == CalcomContractError.__name__ for f in failures):
                # Our request was malformed: no time is "taken", and the workflow ends by this name.
                raise CalcomContractError(
                    f"Cal.com refused a hold of {plan.booking_id} as malformed: {detail}"
                )
            if any(f.error == SlotUnavailable.__name__ for f in failures):
                taken = ", ".join(f.hold for f in failures if f.error == SlotUnavailable.__name__)
                raise SlotUnavailable(
                    f"{plan.staff_id} is not free for {plan.service_name} at "
                    f"{plan.start.isoformat()} (hold {taken}): {detail}"
                )
            raise ReservationFailed(f"{len(failures)} of {len(plan.holds)} hold(s) not reserved: {detail}")
        reservations = {r.hold: r for r in results if isinstance(r, Reservation)}
        missing = [h.key for h in plan.holds if h.key not in reservations]
        if missing:
            raise ReservationFailed(f"no reservation for hold(s) {', '.join(missing)}")

        assignments = []
        for hold in plan.holds:
            reservation = reservations[hold.key]
            booking = {
                "uid": reservation.uid,
                "hosts": reservation.hosts,
                "attendees": reservation.attendees,
            }
            primary = self._resolver.resolve_booking(plan.company_id, booking).primary
            if primary is None or primary.staff_id != plan.staff_id:
                who = (
                    "nobody"
                    if primary is None
                    else (primary.staff_id or f"unmapped host {primary.calcom_host_id}")
                )
                raise StaffMismatch(
                    f"hold {hold.key} went to {who} in Cal.com instead of {plan.staff_id}"
                    + (f" ({primary.reason})" if primary is not None else "")
                )
            assignments.append(
                StaffAssignment(
                    hold=hold.key,
                    uid=reservation.uid,
                    staff_id=primary.staff_id,
                    calcom_host_id=primary.calcom_host_id,
                    strategy=primary.strategy,
                    confidence=primary.confidence,
                    reason=primary.reason,
                )
            )
        return assignments

    # ---------------------------------------------------------------- Finalize

    def finalize(self, plan: BookingPlan, items: list[dict[str, Any]]) -> AppointmentSummary:
        """Every hold reserved and hosted by the staff member asked for (`assign_staff`, which
        raises otherwise), then appointment + segments + confirmation code + lease release + the
        booking noted on the call's record: one transaction. The booking workflow checks and
        stores in one task (docs/adr/0019-fewer-booking-tasks.md)."""
        assignments = self.assign_staff(plan, items)
        summary, by_hold = build_summary(
            plan,
            items,
            assignments,
            appointment_id=plan.booking_id,
            confirmation_code="------",  # the store draws a free one
            composite_group_uid=str(uuid.uuid4()),
        )
        lease = LeaseRef(plan.company_id, plan.lease_key, plan.booking_id)
        call_note = None
        if plan.call_id:
            call_note = CallAppointment(
                appointment_id=plan.booking_id,
                action=AppointmentAction.BOOKED,
                at=self._clock(),
                change_of=plan.change_of,
            )
        stored = self._records.save_booked(
            summary, plan.customer, by_hold, lease, stale_slots=stale_slot_keys(plan), call_note=call_note
        )
        # One SQS message; a retried Finalize queues it again, the sender sends it once (ADR 0029).
        queue_confirmation(
            self._confirmations,
            ConfirmationJob(
                company_id=plan.company_id,
                appointment_id=stored.appointment_id,
                event=ConfirmationEvent.BOOKED,
                change_id=stored.appointment_id,
            ),
        )
        logger.info(
            "appointment booked",
            company_id=plan.company_id,
            appointment_id=plan.booking_id,
            service_id=plan.service_id,
            holds=len(plan.holds),
        )
        return stored

    # ---------------------------------------------------------------- Compensate

    def compensate(self, state: CompensateInput) -> CompensationReport:
        """Undo an attempt: cancel its Cal.com bookings, release the lease, record the failure.

        Idempotent and order-free: the bookings to cancel are found in Cal.com by our metadata
        (the plan's event types, in the plan's window), joined with the uids the reservations
        reported; one already cancelled counts as done.
        """
        report = CompensationReport()
        plan = state.plan
        company_id = plan.company_id if plan else state.company_id
        booking_id = plan.booking_id if plan else state.booking_id
        if plan is not None:
            reservations = state.reservations or []
            try:
                self._cancel_all(plan, reservations, report)
            except (RateLimited, CalcomUnavailable) as refused:
                job = DeferredCompensation(plan=plan, reservations=reservations, error=state.error.error)
                report.deferred_s = self._defer(job, refused)
            report.lease_released = self._leases.release(plan.company_id, plan.lease_key, plan.booking_id)
        if company_id and booking_id and state.error.error != UnknownCompany.__name__:
            self._records.save_failed(
                company_id,
                booking_id,
                error=state.error.error,
                cause=error_message(state.error.cause),
                details=_failure_details(plan) | {"compensation": "deferred" if report.deferred_s else None},
                segment_keys=[s.key for s in plan.segments] if plan else [],
                stale_slots=stale_slot_keys(plan) if plan else (),
            )
            report.recorded = True
        logger.info(
            "booking attempt compensated",
            company_id=company_id,
            booking_id=booking_id,
            error=state.error.error,
            cancelled=len(report.cancelled),
            already_cancelled=len(report.already_cancelled),
        )
        return report

    def _defer(self, job: DeferredCompensation, refused: RateLimited | CalcomUnavailable) -> int:
        """Queue the cancels Cal.com refused for now, to run when it takes them again (a rate
        limit's reset, else DEFAULT_DEFER_S): the workflow then ends at once with its error instead
        of waiting out a 60 s block while the caller waits. QueueUnavailable is raised: the
        workflow retries Compensate."""
        if self._deferrals is None:
            raise refused
        delay = deferral_s(refused, attempt=1)
        self._deferrals().send(job, delay_s=delay)
        metrics.add_metric(name="CompensationDeferred", unit=MetricUnit.Count, value=1)
        logger.warning(
            "compensation deferred: Cal.com refused the cancels for now",
            company_id=job.plan.company_id,
            booking_id=job.plan.booking_id,
            reason=type(refused).__name__,
            retry_in_s=delay,
        )
        return delay

    def finish_compensation(self, job: DeferredCompensation) -> CompensationReport:
        """A deferred compensation's cancels (the workflow released the lease and recorded the
        failed attempt already): every active Cal.com booking of the attempt is cancelled, then the
        failed attempt's record says so. RateLimited and CalcomUnavailable are raised: the
        compensation worker puts the job back for later."""
        report = self.cancel_attempt(job.plan, job.reservations)
        report.recorded = self._records.mark_compensated(job.plan.company_id, job.plan.booking_id)
        metrics.add_metric(name="DeferredCompensationDone", unit=MetricUnit.Count, value=1)
        logger.info(
            "deferred compensation done",
            company_id=job.plan.company_id,
            booking_id=job.plan.booking_id,
            cancelled=len(report.cancelled),
            already_cancelled=len(report.already_cancelled),
        )
        return report

    def cancel_attempt(
        self, plan: BookingPlan, reservations: list[dict[str, Any]] | None = None
    ) -> CompensationReport:
        """Cancel every active Cal.com booking of the plan's attempt (found by our metadata, joined
        with the `reservations` reported): a deferred compensation, or an attempt whose workflow
        never ended (docs/adr/0026-tool-call-budget.md). RateLimited and CalcomUnavailable raise."""
        report = CompensationReport()
        self._cancel_all(plan, reservations or [], report)
        return report

    def _cancel_all(self, plan: BookingPlan, items: list[dict[str, Any]], report: CompensationReport) -> None:
        calcom = self._calcom().for_company(plan.company_id)
        listed = calcom.list_bookings(
            event_type_ids=plan.event_type_ids,
            after_start=plan.start,
            before_end=plan.end,
            status=LISTED_STATUSES,
        )
        active = {
            b.uid
            for b in listed
            if b.status not in INACTIVE_STATUSES and is_ours(b.metadata, plan.company_id, plan.booking_id)
        }
        reported = {r.uid for r in parse_reservations(items) if isinstance(r, Reservation)}
        for uid in sorted(active | reported):
            try:
                calcom.cancel_booking(uid, CANCEL_REASON)
                report.cancelled.append(uid)
            except CalcomRejected:
                # Refused: already cancelled (done) - or a real refusal, which must surface.
                if calcom.get_booking(uid).status not in INACTIVE_STATUSES:
                    raise
                report.already_cancelled.append(uid)


def deferral_s(refused: CalbridgeError, *, attempt: int) -> int:
    """How long a deferred job waits before its `attempt`-th try: until a rate limit's reset, an
    open breaker's probe or whatever `retry_after_s` the refusal names, else DEFAULT_DEFER_S
    doubled per attempt; 1 s to SQS's 15 minutes."""
    said = getattr(refused, "retry_after_s", None)
    wait = said if said else DEFAULT_DEFER_S * 2 ** max(0, attempt - 1)
    return min(MAX_DEFER_S, max(1, math.ceil(wait)))


def put_back(queue: JobQueue, receipt_handle: str, receive_count: int, refused: CalbridgeError) -> None:
    """A queued job Cal.com refused again becomes visible after `deferral_s` of its next attempt;
    when SQS cannot be told, the queue's own visibility timeout applies instead."""
    from calbridge.errors import QueueUnavailable

    try:
        queue.postpone(receipt_handle, deferral_s(refused, attempt=receive_count + 1))
    except QueueUnavailable:
        logger.warning("job not postponed: the queue's visibility timeout applies", queue=queue.queue_url)


def stale_slot_keys(plan: BookingPlan) -> list[str]:
    """The slot-cache entries (adapters/store/slot_cache.py) a plan's holds fall in: each hold's
    event type for the staff member's Cal.com user on the hold's local day. Booking them, Cal.com
    refusing one, and later a cancel or a reschedule make these entries stale."""
    zone, user = ZoneInfo(plan.timezone), plan.calcom_user_id
    days = {(hold.event_type_id, hold.start.astimezone(zone).date()) for hold in plan.holds}
    return sorted(cache_key(plan.company_id, event_type, user, day) for event_type, day in days)


def build_summary(
    plan: BookingPlan,
    items: list[dict[str, Any]],
    assignments: list[StaffAssignment],
    *,
    appointment_id: str,
    confirmation_code: str,
    composite_group_uid: str,
) -> tuple[AppointmentSummary, dict[str, StaffAssignment]]:
    """The appointment a plan, its reservations and their staff make (Finalize, and Reschedule's
    swap, which keeps the appointment's id, code and group uid); also the assignments by hold."""
    reservations = {r.hold: r for r in parse_reservations(items) if isinstance(r, Reservation)}
    by_hold = {a.hold: a for a in assignments}
    segments = []
    for segment in plan.segments:
        hold = plan.hold_of(segment.key)
        assignment = by_hold[hold]
        segments.append(
            SegmentSummary(
                key=segment.key,
                name=segment.name,
                start=segment.start,
                end=segment.end,
                gap_after=segment.gap_after,
                hold=hold,
                staff_id=assignment.staff_id,
                calcom_host_id=assignment.calcom_host_id,
                calcom_booking_uid=reservations[hold].uid,
            )
        )
    summary = AppointmentSummary(
        appointment_id=appointment_id,
        company_id=plan.company_id,
        confirmation_code=confirmation_code,
        composite_group_uid=composite_group_uid,
        service_id=plan.service_id,
        service_name=plan.service_name,
        composite=plan.composite,
        pause_policy=plan.policy,
        staff_id=plan.staff_id,
        start=plan.start,
        end=plan.end,
        timezone=plan.timezone,
        customer_name=plan.customer.name,
        call_id=plan.call_id,
        segments=segments,
        calcom_booking_uids={key: r.uid for key, r in reservations.items()},
    )
    return summary, by_hold


def _reservation(hold: PlannedHold, booking: Booking, *, reused: bool) -> Reservation:
    dumped = booking.model_dump(mode="json", by_alias=True, include={"hosts", "attendees"})
    return Reservation(
        hold=hold.key,
        uid=booking.uid,
        calcom_booking_id=booking.id,
        event_type_id=booking.resolved_event_type_id or hold.event_type_id,
        start=booking.start,
        end=booking.end,
        reused=reused,
        hosts=dumped.get("hosts", []),
        attendees=dumped.get("attendees", []),
    )


def _failure_details(plan: BookingPlan | None) -> dict[str, Any]:
    if plan is None:
        return {}
    return {
        "service_id": plan.service_id,
        "service_name": plan.service_name,
        "pause_policy": plan.policy.value,
        "timezone": plan.timezone,
        "starts_at": plan.start,
        "ends_at": plan.end,
        "staff_id": plan.staff_id,
        "customer_name": plan.customer.name,
        "customer_email": plan.customer.email,
        "customer_phone": plan.customer.phone,
        "call_id": plan.call_id,
    }


# ------------------------------------------------------------------ running the state machine


class BookingOutcome(BaseModel):
    """What `run_booking` gives the tool layer: the appointment, or the named error and its message."""

    model_config = ConfigDict(frozen=True)

    status: Literal["booked", "failed", "running"]
    appointment: AppointmentSummary | None = None
    error: str | None = Field(
        default=None, description="the state machine's error name, e.g. SlotUnavailable"
    )
    message: str | None = None
    execution_arn: str | None = None
    # "running": the caller stopped waiting at its time budget; the workflow goes on and records
    # its outcome under `booking_id` (docs/adr/0026-tool-call-budget.md).
    booking_id: str | None = None
    plan: BookingPlan | None = None

    @property
    def booked(self) -> bool:
        return self.status == "booked"

    @property
    def running(self) -> bool:
        return self.status == "running"


@cache
def _stepfunctions() -> Any:
    import boto3
    from botocore.config import Config

    # Waits as long as the longest workflow; never sent twice: a StartSyncExecution whose answer
    # was lost may have done the work (a second run would book again).
    return boto3.client(
        "stepfunctions",
        config=Config(read_timeout=BOOKING_WORKFLOW_TIMEOUT_S + 10, retries={"total_max_attempts": 1}),
    )


@cache
def _waiting() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="workflow-wait")


def start_sync(sfn: Any, wait_s: float | None, **request: Any) -> dict[str, Any] | None:
    """StartSyncExecution, waited for at most `wait_s` (None: until it ends). None when the wait
    ran out first: the execution goes on in Step Functions and records its own outcome; only this
    caller stopped waiting (a caller's time budget, docs/adr/0026-tool-call-budget.md). A request
    not yet sent by then is withdrawn: WorkflowUnavailable."""
    if wait_s is None:
        return dict(sfn.start_sync_execution(**request))
    running = _waiting().submit(sfn.start_sync_execution, **request)
    try:
        return dict(running.result(timeout=max(wait_s, 0.0)))
    except FutureTimeout:
        if running.cancel():  # never sent (every waiting thread busy): it must not start later
            raise WorkflowUnavailable("the workflow was not started within the caller's budget") from None
        return None


def run_booking(
    execution_input: Mapping[str, Any] | BookingRequest,
    *,
    plan: BookingPlan | None = None,
    lease: Lease | None = None,
    client: Any = None,
    wait_s: float | None = None,
) -> BookingOutcome:
    """Run the booking state machine synchronously (StartSyncExecution) and read its outcome.

    The input is validated first (InvalidRequest naming the field, nothing started). With `plan`
    (made by `BookingSaga.plan` from this request, e.g. in the caller's warm container), the
    workflow starts at AcquireLock and its Plan task reads nothing; with the plan's `lease` as well
    (`BookingSaga.lease_ahead`), at ReserveHolds. A lease taken ahead is left to expire when the
    execution cannot be started: whether it started is unknown after a timeout. SUCCEEDED gives the
    appointment; FAILED gives the error name the workflow ended with (SlotUnavailable, LeaseBusy,
    StaffNotBookable, ...) and the error's message; TIMED_OUT is a WorkflowUnavailable outcome.
    With `wait_s` (a tool call's time budget), an execution still running after that long is a
    "running" outcome: it goes on, and Finalize or Compensate records how it ended.
    Raises WorkflowUnavailable when the execution cannot be started at all.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    request = (
        execution_input
        if isinstance(execution_input, BookingRequest)
        else parse_model(BookingRequest, execution_input)
    )
    if plan is not None and (plan.booking_id, plan.company_id) != (request.booking_id, request.company_id):
        raise ValueError("the plan is not this request's")
    if lease is not None and (
        plan is None
        or (lease.company_id, lease.lease_key, lease.owner)
        != (plan.company_id, plan.lease_key, plan.booking_id)
    ):
        raise ValueError("the lease is not this plan's")
    state = request.model_dump(mode="json", exclude_none=True)
    if plan is not None:
        # call_id even when None: the ReserveHolds Map names it in every item ($.plan.call_id).
        state["plan"] = {**plan.model_dump(mode="json", exclude_none=True), "call_id": plan.call_id}
    if lease is not None:
        state["lease"] = lease.model_dump(mode="json")
    sfn = client or _stepfunctions()
    try:
        response = start_sync(
            sfn,
            wait_s,
            stateMachineArn=get_settings().booking_state_machine_arn,
            name=request.booking_id,
            input=json.dumps(state, separators=(",", ":")),
        )
    except (BotoCoreError, ClientError) as exc:
        raise WorkflowUnavailable("the booking workflow could not be started") from exc
    if response is None:
        logger.warning("booking still running at the caller's time budget", booking_id=request.booking_id)
        metrics.add_metric(name="BookingOutlastedBudget", unit=MetricUnit.Count, value=1)
        return BookingOutcome(status="running", booking_id=request.booking_id, plan=plan)
    arn = response.get("executionArn")
    status = response.get("status")
    if status == "SUCCEEDED":
        appointment = AppointmentSummary.model_validate(json.loads(response["output"]))
        return BookingOutcome(status="booked", appointment=appointment, execution_arn=arn)
    if status == "TIMED_OUT":
        error, message = WorkflowUnavailable.__name__, "the booking workflow timed out"
    else:
        error = response.get("error") or "States.Runtime"
        message = error_message(response.get("cause"))
    logger.info("booking failed", booking_id=request.booking_id, error=error)
    return BookingOutcome(status="failed", error=error, message=message, execution_arn=arn)
