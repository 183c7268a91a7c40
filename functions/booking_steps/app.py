"""Step Functions tasks of the booking state machine (statemachines/booking.asl.json).

One module, one handler per step, each deployed as its own function with its own permissions
(template.yaml: BookingPlanFunction, BookingAcquireLockFunction, BookingReserveHoldFunction,
BookingAssignStaffFunction, BookingFinalizeFunction, BookingCompensateFunction). A handler parses
its state input, calls one step of `services.booking.BookingSaga` and returns JSON. Failures are
raised as named exceptions (calbridge.errors): their class names are what the state machine's
Retry and Catch match on, and what the workflow's caller finally sees.

| handler        | input (the state)                                  | output                      |
|----------------|----------------------------------------------------|-----------------------------|
| plan           | the execution input (BookingRequest)               | BookingPlan -> $.plan       |
| acquire_lock   | $.plan                                             | lease -> $.lease            |
| reserve_hold   | {"request": <Map item>, "retry": RetryCount}       | Reservation (Map item)      |
| assign_staff   | the state ($.plan, $.reservations) (reschedule)    | {"assignments"} -> $.assignment |
| finalize       | the state ($.plan, $.reservations)                 | AppointmentSummary (output) |
| compensate     | the state at the failure, with $.error             | report -> $.compensation    |

The booking workflow has no AssignStaff state: finalize checks the holds' hosts itself, and
AcquireLock is skipped when the tool layer took the lease (docs/adr/0019-fewer-booking-tasks.md).
The cancel and reschedule state machines (statemachines/cancel.asl.json, reschedule.asl.json;
services/appointment_changes.py) add five more; reschedule also runs plan, acquire_lock,
reserve_hold, assign_staff and compensate above for its new attempt.

| handler               | input (the state)                                  | output                      |
|-----------------------|----------------------------------------------------|-----------------------------|
| load_for_cancel       | the cancel execution input (CancelRequest)         | snapshot -> $.appointment   |
| cancel_hold           | a Map item {company_id, uid, reason}               | {uid, status} (Map item)    |
| mark_cancelled        | the state ($.appointment, $.cancellations)         | CancellationResult (output) |
| load_for_reschedule   | the reschedule execution input (RescheduleRequest) | + request -> $.appointment  |
| swap_appointment      | the state (appointment, plan, reservations, ...)   | AppointmentSummary (output) |
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from calbridge.adapters.parsing import parse_model
from calbridge.config import get_settings
from calbridge.domain.booking import BookingPlan, BookingRequest
from calbridge.errors import SlotUnavailable
from calbridge.observability import add_metric_by, error_name, follow, logger, metrics, tracer
from calbridge.services.appointment_changes import (
    CancelHoldInput,
    CancelRequest,
    MarkCancelledInput,
    RescheduleRequest,
    SwapInput,
)
from calbridge.services.booking import (
    AssignStaffInput,
    CompensateInput,
    FinalizeInput,
    ReserveHoldInput,
)
from calbridge.services.wiring import appointment_changes, booking_saga

settings = get_settings()
saga = booking_saga()
changes = appointment_changes()

#: The ids a step's state may carry, at its top or one level down (the plan, a Map item's request,
#: the loaded appointment): the Retell call, the company, the booking attempt, the appointment.
_TRACE_IDS = ("call_id", "company_id", "booking_id", "appointment_id")
_TRACE_PLACES = ("plan", "request", "appointment")


def follow_state(step: str, event: Any) -> None:
    """Every log line of this step names the call and the booking it serves (ADR 0034), read from
    wherever its state keeps them, before the state is parsed (a state that fails to parse is
    logged with them too). At LogLevel DEBUG each step says it ran: a call's saga, step by step."""
    places = [event, *(event.get(place) for place in _TRACE_PLACES)] if isinstance(event, dict) else []
    found: dict[str, str] = {}
    for place in places:
        if isinstance(place, dict):
            for key in _TRACE_IDS:
                if isinstance(place.get(key), str):
                    found.setdefault(key, place[key])
    follow(**found)
    logger.debug("booking step", step=step)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("plan", event)
    request = parse_model(BookingRequest, event)
    return saga.plan(request).model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def acquire_lock(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("acquire_lock", event)
    return saga.acquire_lock(parse_model(BookingPlan, event)).model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def reserve_hold(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("reserve_hold", event)
    return saga.reserve_hold(parse_model(ReserveHoldInput, event)).model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def assign_staff(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("assign_staff", event)
    step = parse_model(AssignStaffInput, event)
    assignments = saga.assign_staff(step.plan, step.reservations)
    return {"assignments": [a.model_dump(mode="json") for a in assignments]}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def finalize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("finalize", event)
    step = parse_model(FinalizeInput, event)
    summary = saga.finalize(step.plan, step.reservations)
    metrics.add_metric(name="BookingSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="BookedHolds", unit=MetricUnit.Count, value=len(step.plan.holds))
    return summary.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def compensate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("compensate", event)
    state = parse_model(CompensateInput, event)
    report = saga.compensate(state)
    metrics.add_metric(name="BookingCompensated", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CancelledHolds", unit=MetricUnit.Count, value=len(report.cancelled))
    failure = error_name(state.error.error)
    add_metric_by("BookingAttemptFailed", MetricUnit.Count, 1, reason=failure)
    if failure != SlotUnavailable.__name__:  # a taken time is the calendar's answer: the tool offers others
        metrics.add_metric(name="BookingFailed", unit=MetricUnit.Count, value=1)
    return report.model_dump(mode="json")


# ------------------------------------------------------------------ cancel and reschedule


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def load_for_cancel(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("load_for_cancel", event)
    return changes.load_for_cancel(parse_model(CancelRequest, event)).model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def cancel_hold(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("cancel_hold", event)
    return changes.cancel_hold(parse_model(CancelHoldInput, event)).model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def mark_cancelled(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("mark_cancelled", event)
    result = changes.mark_cancelled(parse_model(MarkCancelledInput, event))
    metrics.add_metric(name="AppointmentCancelled", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def load_for_reschedule(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("load_for_reschedule", event)
    return changes.load_for_reschedule(parse_model(RescheduleRequest, event)).model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def swap_appointment(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    follow_state("swap_appointment", event)
    summary = changes.swap(parse_model(SwapInput, event))
    metrics.add_metric(name="AppointmentRescheduled", unit=MetricUnit.Count, value=1)
    return summary.model_dump(mode="json")
