"""Cancel and reschedule a whole appointment, as sagas (statemachines/cancel.asl.json and
statemachines/reschedule.asl.json, docs/adr/0007-appointment-changes.md).

Cancel: LoadAppointment -> CancelHolds (Map: one idempotent Cal.com cancel per uid, retried) ->
MarkCancelled (one transaction; some cancels failed -> the appointment is `cancel_failed` naming
them, and the execution fails with CancellationFailed).

Reschedule: LoadAppointment -> the booking saga's own Plan, AcquireLock, ReserveHolds and
AssignStaff steps for a new attempt (new booking id, the new start, the same service, staff member
and customer) -> CancelOld (Map over the old uids, like CancelHolds) -> SwapAppointment (one
transaction: same appointment id and confirmation code, new times, segments and Cal.com uids).
Any failure before CancelOld -> the booking saga's Compensate, which cancels only the NEW holds
(found by the attempt's booking id in their metadata): the old appointment is never touched. New
bookings are made before the old ones are cancelled, so Cal.com's own reschedule endpoint (which
cancels first, and one booking at a time) is not used.

Each step raises named exceptions (calbridge.errors); their class names are the error names the
state machines retry, catch and end with.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from calbridge.adapters.parsing import parse_model
from calbridge.adapters.store.bookings import BookingRecordRepository, LeaseRef, stored_uids
from calbridge.config import get_settings
from calbridge.domain.booking import (
    BOOKING_ID_PATTERN,
    INACTIVE_STATUSES,
    AppointmentSummary,
    BookingPlan,
    BookingRequest,
    Customer,
    error_message,
)
from calbridge.domain.confirmation_text import ConfirmationEvent
from calbridge.domain.models import EntityId
from calbridge.errors import (
    AppointmentNotActive,
    CalcomRejected,
    CancellationFailed,
    NotFound,
    QueueUnavailable,
    WorkflowUnavailable,
)
from calbridge.observability import logger, metrics
from calbridge.services.booking import (
    Assignment,
    _stepfunctions,
    build_summary,
    stale_slot_keys,
    start_sync,
)
from calbridge.services.confirmations import ConfirmationJob, queue_confirmation

if TYPE_CHECKING:
    from calbridge.adapters.calcom.client import CalcomClient
    from calbridge.adapters.queue import JobQueue
    from calbridge.adapters.store.models import AppointmentRecord

CANCEL_REASON = "calbridge: appointment cancelled"
RESCHEDULE_REASON = "calbridge: appointment rescheduled"
#: Appointment statuses a cancel or reschedule can find (a failed booking attempt is no appointment).
KNOWN_STATUSES = frozenset({"booked", "cancelled", "cancel_failed"})


def _now() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


# ------------------------------------------------------------------ execution inputs


class CancelRequest(_Model):
    """The cancel state machine's input."""

    company_id: EntityId
    appointment_id: str = Field(pattern=BOOKING_ID_PATTERN)
    reason: str | None = Field(default=None, max_length=500)
    call_id: str | None = Field(default=None, max_length=128)  # the Retell call that asked, if any


class RescheduleRequest(_Model):
    """The reschedule state machine's input; `booking_id` is the new attempt's id (new per attempt,
    also the execution name): the new Cal.com bookings carry it in their metadata."""

    company_id: EntityId
    appointment_id: str = Field(pattern=BOOKING_ID_PATTERN)
    booking_id: str = Field(pattern=BOOKING_ID_PATTERN)
    start: AwareDatetime
    call_id: str | None = Field(default=None, max_length=128)
    # Another staff member than the appointment's (the caller asked for someone else).
    staff_id: EntityId | None = None
    # Minutes each gap of a `flexible` plan is stretched by, as availability found the new start.
    gap_stretch: tuple[int, ...] = ()


# ------------------------------------------------------------------ step inputs and outputs


class AppointmentSnapshot(_Model):
    """LoadAppointment's output: what the later steps need of the appointment as it was."""

    company_id: str
    appointment_id: str
    status: str
    service_id: str | None = None
    staff_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    confirmation_code: str | None = None
    calcom_booking_uids: dict[str, str] = Field(default_factory=dict, description="hold key -> uid")
    uids: list[str] = Field(default_factory=list, description="the Cal.com bookings to cancel")
    reason: str = CANCEL_REASON
    request: BookingRequest | None = Field(default=None, description="reschedule: the new attempt's input")


class CancelHoldInput(_Model):
    company_id: str
    uid: str = Field(min_length=1)
    reason: str = CANCEL_REASON


class CancelHoldResult(_Model):
    failed: Literal[False] = False
    uid: str
    status: Literal["cancelled", "already_cancelled"]


class CancelHoldFailure(_Model):
    """What the Map's per-item Catch makes of a cancel that gave up."""

    failed: Literal[True] = True
    uid: str
    error: str
    cause: str = ""


def parse_cancellations(items: list[Mapping[str, Any]]) -> list[CancelHoldResult | CancelHoldFailure]:
    parsed: list[CancelHoldResult | CancelHoldFailure] = []
    for item in items:
        model = CancelHoldFailure if item.get("failed") else CancelHoldResult
        parsed.append(model.model_validate(item))
    return parsed


class MarkCancelledInput(_Model):
    appointment: AppointmentSnapshot
    cancellations: list[dict[str, Any]] = Field(default_factory=list)


class CancellationResult(_Model):
    """The cancel state machine's output."""

    company_id: str
    appointment_id: str
    status: Literal["cancelled"] = "cancelled"
    already_cancelled: bool = Field(default=False, description="it was cancelled before this run")
    cancelled_uids: list[str] = Field(default_factory=list)
    already_cancelled_uids: list[str] = Field(default_factory=list)
    cancelled_at: datetime | None = None


class DeferredCancel(_Model):
    """Old Cal.com bookings of a rescheduled appointment that Cal.com kept refusing to cancel: a
    job of the compensation queue (docs/adr/0024-compensation-that-cannot-give-up.md)."""

    kind: Literal["old_holds"] = "old_holds"
    company_id: str
    appointment_id: str
    uids: list[str] = Field(min_length=1)
    reason: str = RESCHEDULE_REASON


class SwapInput(_Model):
    appointment: AppointmentSnapshot
    plan: BookingPlan
    reservations: list[dict[str, Any]]
    assignment: Assignment
    old_cancellations: list[dict[str, Any]] = Field(default_factory=list)


# ------------------------------------------------------------------ the steps


class AppointmentChanges:
    def __init__(
        self,
        *,
        calcom: Callable[[], CalcomClient],
        records: BookingRecordRepository,
        deferrals: Callable[[], JobQueue] | None = None,
        confirmations: Callable[[], JobQueue] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._calcom = calcom
        self._records = records
        self._deferrals = deferrals  # the compensation queue, built on first use
        self._confirmations = confirmations  # the notifications queue (ADR 0029), built on first use
        self._clock = clock

    # ---------------------------------------------------------------- LoadAppointment

    def load_for_cancel(self, request: CancelRequest) -> AppointmentSnapshot:
        head = self._load(request.company_id, request.appointment_id)
        return _snapshot(head, reason=request.reason or CANCEL_REASON)

    def load_for_reschedule(self, request: RescheduleRequest) -> AppointmentSnapshot:
        """The appointment (booked, else AppointmentNotActive) and the new attempt's BookingRequest:
        the same service and customer at the new start, with the same staff member unless the
        request names another one."""
        head = self._load(request.company_id, request.appointment_id)
        if head.status != "booked":
            raise AppointmentNotActive(f"appointment {request.appointment_id} is {head.status}")
        if not (head.service_id and head.staff_id and head.customer_name):
            raise AppointmentNotActive(f"appointment {request.appointment_id} is incomplete")
        new = BookingRequest(
            company_id=request.company_id,
            booking_id=request.booking_id,
            service_id=head.service_id,
            start=request.start,
            staff_id=request.staff_id or head.staff_id,
            customer=Customer(name=head.customer_name, email=head.customer_email, phone=head.customer_phone),
            call_id=request.call_id or head.call_id,
            gap_stretch=request.gap_stretch,
        )
        reason = f"{RESCHEDULE_REASON} to {request.start.isoformat()}"
        return _snapshot(head, reason=reason).model_copy(update={"request": new})

    def _load(self, company_id: str, appointment_id: str) -> AppointmentRecord:
        head, _ = self._records.load(company_id, appointment_id)
        if head.status not in KNOWN_STATUSES:  # a failed booking attempt
            raise NotFound(f"no appointment {appointment_id!r}")
        return head

    # ---------------------------------------------------------------- CancelHold (Map item)

    def cancel_hold(self, step: CancelHoldInput) -> CancelHoldResult:
        """Cancel one Cal.com booking. Refused because it is cancelled already: done (read back)."""
        calcom = self._calcom().for_company(step.company_id)
        try:
            calcom.cancel_booking(step.uid, step.reason)
        except CalcomRejected:
            if calcom.get_booking(step.uid).status not in INACTIVE_STATUSES:
                raise
            return CancelHoldResult(uid=step.uid, status="already_cancelled")
        return CancelHoldResult(uid=step.uid, status="cancelled")

    # ---------------------------------------------------------------- MarkCancelled

    def mark_cancelled(self, step: MarkCancelledInput) -> CancellationResult:
        """Appointment + segments cancelled in one transaction, or `cancel_failed` naming the uids
        Cal.com kept (then CancellationFailed, so the caller knows)."""
        snapshot = step.appointment
        results = parse_cancellations(step.cancellations)
        failed = [r for r in results if isinstance(r, CancelHoldFailure)]
        record = self._records.save_cancelled(
            snapshot.company_id,
            snapshot.appointment_id,
            reason=snapshot.reason,
            failed_uids=[f.uid for f in failed],
        )
        if failed:
            detail = "; ".join(f"{f.uid}: {f.error}: {error_message(f.cause)}" for f in failed)
            logger.warning(
                "appointment cancel failed", appointment_id=snapshot.appointment_id, failed=len(failed)
            )
            raise CancellationFailed(
                f"{len(failed)} of {len(results)} Cal.com booking(s) of appointment "
                f"{snapshot.appointment_id} not cancelled: {detail}"
            )
        logger.info("appointment cancelled", appointment_id=snapshot.appointment_id, holds=len(results))
        queue_confirmation(
            self._confirmations,
            ConfirmationJob(
                company_id=snapshot.company_id,
                appointment_id=snapshot.appointment_id,
                event=ConfirmationEvent.CANCELLED,
                change_id="cancel",
            ),
        )
        done = [r for r in results if isinstance(r, CancelHoldResult)]
        return CancellationResult(
            company_id=snapshot.company_id,
            appointment_id=snapshot.appointment_id,
            cancelled_uids=[r.uid for r in done if r.status == "cancelled"],
            already_cancelled_uids=[r.uid for r in done if r.status == "already_cancelled"],
            cancelled_at=record.cancelled_at,
        )

    # ---------------------------------------------------------------- SwapAppointment

    def swap(self, step: SwapInput) -> AppointmentSummary:
        """The appointment moves to its new bookings: same id, code and group uid; new times,
        segments, staff (from the new bookings' hosts) and Cal.com uids; lease released."""
        snapshot, plan = step.appointment, step.plan
        head, _ = self._records.load(snapshot.company_id, snapshot.appointment_id)
        summary, by_hold = build_summary(
            plan,
            step.reservations,
            step.assignment.assignments,
            appointment_id=snapshot.appointment_id,
            confirmation_code=head.confirmation_code or snapshot.confirmation_code or "------",
            composite_group_uid=head.composite_group_uid or str(uuid.uuid4()),
        )
        summary = summary.model_copy(update={"call_id": head.call_id})
        failed = [r for r in parse_cancellations(step.old_cancellations) if isinstance(r, CancelHoldFailure)]
        lease = LeaseRef(plan.company_id, plan.lease_key, plan.booking_id)
        stored = self._records.save_rescheduled(
            summary,
            by_hold,
            old_uids=snapshot.calcom_booking_uids,
            lease=lease,
            stale_slots=stale_slot_keys(plan),
        )
        if failed:  # the new bookings stand; the old ones are cancelled later, durably
            self._defer_old_cancels(snapshot, sorted(f.uid for f in failed))
        queue_confirmation(
            self._confirmations,
            ConfirmationJob(
                company_id=snapshot.company_id,
                appointment_id=snapshot.appointment_id,
                event=ConfirmationEvent.RESCHEDULED,
                change_id=plan.booking_id,
                calcom_booking_uids=sorted(stored.calcom_booking_uids.values()),
            ),
        )
        logger.info(
            "appointment rescheduled",
            company_id=plan.company_id,
            appointment_id=snapshot.appointment_id,
            attempt=plan.booking_id,
            holds=len(plan.holds),
        )
        return stored

    def _defer_old_cancels(self, snapshot: AppointmentSnapshot, uids: list[str]) -> None:
        """Queue the old bookings Cal.com kept (CancelOld's retries spent) and note them on the
        appointment (`failed_cancel_uids`) until the compensation worker has cancelled them. Both
        are idempotent: a retried SwapAppointment queues and notes again, harmlessly."""
        job = DeferredCancel(
            company_id=snapshot.company_id,
            appointment_id=snapshot.appointment_id,
            uids=uids,
            reason=snapshot.reason or RESCHEDULE_REASON,
        )
        if self._deferrals is None:
            raise QueueUnavailable("no queue for the old bookings' cancels")
        # At once: a worker's refused try is put back until Cal.com's reset or by its backoff.
        self._deferrals().send(job)
        self._records.note_pending_cancels(snapshot.company_id, snapshot.appointment_id, uids)
        metrics.add_metric(name="OldCancelsDeferred", unit=MetricUnit.Count, value=1)
        logger.warning(
            "old Cal.com bookings of a rescheduled appointment not cancelled yet: queued",
            appointment_id=snapshot.appointment_id,
            uids=uids,
        )

    def finish_old_cancels(self, job: DeferredCancel) -> list[CancelHoldResult]:
        """The compensation worker's part: cancel each old booking (one already cancelled counts
        as done), then clear the appointment's note. RateLimited and CalcomUnavailable are raised:
        the worker puts the job back for later."""
        done = [
            self.cancel_hold(CancelHoldInput(company_id=job.company_id, uid=uid, reason=job.reason))
            for uid in job.uids
        ]
        self._records.clear_pending_cancels(job.company_id, job.appointment_id, job.uids)
        logger.info(
            "old Cal.com bookings of a rescheduled appointment cancelled", appointment_id=job.appointment_id
        )
        return done


def _snapshot(head: AppointmentRecord, *, reason: str) -> AppointmentSnapshot:
    uids = stored_uids(head)
    return AppointmentSnapshot(
        company_id=head.company_id,
        appointment_id=head.appointment_id,
        status=head.status or "",
        service_id=head.service_id,
        staff_id=head.staff_id,
        start=head.starts_at,
        end=head.ends_at,
        confirmation_code=head.confirmation_code,
        calcom_booking_uids=uids,
        uids=sorted(set(uids.values())),
        reason=reason,
    )


# ------------------------------------------------------------------ running the state machines


class ChangeOutcome(BaseModel):
    """What `run_cancel` / `run_reschedule` give the caller."""

    model_config = ConfigDict(frozen=True)

    status: Literal["cancelled", "rescheduled", "failed", "running"]
    appointment: AppointmentSummary | None = Field(default=None, description="reschedule: the moved one")
    cancellation: CancellationResult | None = None
    error: str | None = Field(default=None, description="the state machine's error name, e.g. NotFound")
    message: str | None = None
    execution_arn: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status in ("cancelled", "rescheduled")

    @property
    def running(self) -> bool:
        """The caller stopped waiting at its time budget; the workflow goes on and records how it
        ends on the appointment (docs/adr/0026-tool-call-budget.md)."""
        return self.status == "running"


def _run(
    arn: str, name: str, body: str, what: str, client: Any, wait_s: float | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The execution's response, or None when it outlasted `wait_s` (it goes on)."""
    from botocore.exceptions import BotoCoreError, ClientError

    sfn = client or _stepfunctions()
    try:
        response = start_sync(sfn, wait_s, stateMachineArn=arn, name=name, input=body)
    except (BotoCoreError, ClientError) as exc:
        raise WorkflowUnavailable(f"the {what} workflow could not be started") from exc
    if response is None:
        logger.warning(f"{what} still running at the caller's time budget", execution=name)
        metrics.add_metric(name="ChangeOutlastedBudget", unit=MetricUnit.Count, value=1)
        return None, None
    return response, response.get("executionArn")


def _failure(response: Mapping[str, Any], what: str, arn: str | None) -> ChangeOutcome:
    if response.get("status") == "TIMED_OUT":
        error, message = WorkflowUnavailable.__name__, f"the {what} workflow timed out"
    else:
        error = response.get("error") or "States.Runtime"
        message = error_message(response.get("cause"))
    logger.info(f"{what} failed", error=error)
    return ChangeOutcome(status="failed", error=error, message=message, execution_arn=arn)


def run_cancel(
    execution_input: Mapping[str, Any], *, client: Any = None, wait_s: float | None = None
) -> ChangeOutcome:
    """Run the cancel state machine synchronously (StartSyncExecution). SUCCEEDED (also for an
    appointment cancelled before) gives the CancellationResult; FAILED the error name (NotFound,
    CancellationFailed, ...) and message. Raises InvalidRequest before starting on bad input."""
    request = parse_model(CancelRequest, execution_input)
    # call_id even when None: the CancelHolds Map names it in every item ($.call_id).
    response, arn = _run(
        get_settings().cancel_state_machine_arn,
        f"cx_{uuid.uuid4().hex}",
        json.dumps({**request.model_dump(mode="json", exclude_none=True), "call_id": request.call_id}),
        "cancel",
        client,
        wait_s,
    )
    if response is None:
        return ChangeOutcome(status="running")
    if response.get("status") != "SUCCEEDED":
        return _failure(response, "cancel", arn)
    result = CancellationResult.model_validate(json.loads(response["output"]))
    return ChangeOutcome(status="cancelled", cancellation=result, execution_arn=arn)


def run_reschedule(
    execution_input: Mapping[str, Any], *, client: Any = None, wait_s: float | None = None
) -> ChangeOutcome:
    """Run the reschedule state machine synchronously (StartSyncExecution). SUCCEEDED gives the
    appointment as moved; FAILED the error name (SlotUnavailable, NotFound, ...) and message, with
    the old appointment unchanged. A missing `booking_id` (the new attempt's id) is drawn here."""
    data = dict(execution_input)
    data.setdefault("booking_id", f"bk_{uuid.uuid4().hex}")
    request = parse_model(RescheduleRequest, data)
    response, arn = _run(
        get_settings().reschedule_state_machine_arn,
        request.booking_id,
        request.model_dump_json(exclude_none=True),
        "reschedule",
        client,
        wait_s,
    )
    if response is None:
        return ChangeOutcome(status="running")
    if response.get("status") != "SUCCEEDED":
        return _failure(response, "reschedule", arn)
    appointment = AppointmentSummary.model_validate(json.loads(response["output"]))
    return ChangeOutcome(status="rescheduled", appointment=appointment, execution_arn=arn)
