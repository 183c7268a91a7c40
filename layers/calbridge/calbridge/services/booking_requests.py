"""Booking requests kept while Cal.com is down (docs/adr/0025-pending-booking-requests.md).

`record`: `book_appointment` could not book because Cal.com was unavailable; the caller's wish is
stored (once per tool call) and queued for BookingRequestsWorkerFunction. `settle`: the worker
tries the booking as the tool does (services/booking_attempts.py): booked, or the nearest free
starts when the time was taken meanwhile (nothing is booked that the caller did not agree to: the
salon calls back), or failed with the reason. Cal.com still down raises (CalcomUnavailable,
RateLimited, WorkflowUnavailable): the worker puts the job back. `listing`: the admin API's view.

A request recorded while its booking workflow was still running (the tool call's time budget ran
out, docs/adr/0026-tool-call-budget.md) names that attempt: the worker first reads how it ended.
Booked: settled with its appointment. Failed: tried anew. No record yet: AttemptStillRunning (put
back) until the workflow has surely ended; then what it left in Cal.com is cancelled (found by our
metadata) and the request is tried anew. The worker waits for a workflow only within its own
deadline too: one still running then is recorded on the request the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from calbridge.domain.booking_requests import (
    AttemptInFlight,
    BookingRequestJob,
    PendingBooking,
    RequestStatus,
    Settlement,
    attempt_result,
    calcom_was_down,
)
from calbridge.errors import (
    AttemptStillRunning,
    CalcomUnavailable,
    NotFound,
    QueueUnavailable,
    RateLimited,
    UnknownService,
    WorkflowUnavailable,
)
from calbridge.observability import follow, logger, metrics
from calbridge.services.booking_attempts import Attempt, Wish

if TYPE_CHECKING:
    from calbridge.adapters.queue import JobQueue
    from calbridge.adapters.store.booking_requests import BookingRequestRepository
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository
    from calbridge.services.booking import BookingSaga
    from calbridge.services.booking_attempts import BookingAttempts
    from calbridge.timing import Deadline

#: How often a request whose attempt is still running looks again.
ATTEMPT_RECHECK_S = 30


def settlement_of(attempt: Attempt) -> Settlement | None:
    """What a try at a request comes to; None when Cal.com was down again (try later). A check
    that could not read the whole calendar never calls the time taken: try later too."""
    if attempt.outcome is None:
        answer = attempt.answer
        assert answer is not None
        if not answer.complete:
            return None
        return Settlement(
            status=RequestStatus.ALTERNATIVES,
            alternatives=tuple(o.start for o in answer.alternatives),
            reason="the asked time was taken",
        )
    outcome = attempt.outcome
    if outcome.booked and outcome.appointment is not None:
        return Settlement(
            status=RequestStatus.BOOKED,
            appointment_id=outcome.appointment.appointment_id,
            confirmation_code=outcome.appointment.confirmation_code,
            staff_booked=attempt.option.staff_id if attempt.option else None,
        )
    if calcom_was_down(outcome.error, outcome.message):
        return None
    return Settlement(status=RequestStatus.FAILED, reason=f"{outcome.error}: {outcome.message or ''}"[:1000])


class BookingRequests:
    def __init__(
        self,
        store: BookingRequestRepository,
        queue: Callable[[], JobQueue],
        *,
        companies: CompanyRepository,
        services: ServiceRepository,
        attempts: Callable[[], BookingAttempts],
        records: BookingRecordRepository,
        saga: Callable[[], BookingSaga],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._records = records  # how an attempt still running at the answer ended
        self._saga = saga  # cancels what an attempt that never ended left in Cal.com
        self._queue = queue  # built on first use
        self._companies = companies
        self._services = services
        self._attempts = attempts  # the worker's booking path, built on first use
        self._clock = clock

    def record(self, pending: PendingBooking, *, retry_in_s: int) -> PendingBooking:
        """Keep the wish and queue it for the worker (visible after `retry_in_s`). A request this
        tool call recorded before is returned as it is, and not queued again. The request is the
        salon's to see even when the queue cannot take it: that is logged and counted."""
        stored, new = self._store.add(pending)
        if not new:
            logger.info("booking request recorded before", request_id=stored.request_id)
            return stored
        metrics.add_metric(name="BookingRequestRecorded", unit=MetricUnit.Count, value=1)
        try:
            self._queue().send(
                BookingRequestJob(company_id=stored.company_id, request_id=stored.request_id),
                delay_s=retry_in_s,
            )
        except QueueUnavailable:
            metrics.add_metric(name="BookingRequestNotQueued", unit=MetricUnit.Count, value=1)
            logger.error("booking request recorded but not queued", request_id=stored.request_id)
        logger.info(
            "booking request recorded: Cal.com unavailable",
            company_id=stored.company_id,
            request_id=stored.request_id,
            retry_in_s=retry_in_s,
        )
        return stored

    def settle(self, job: BookingRequestJob, *, deadline: Deadline | None = None) -> PendingBooking:
        """Settle the request: by its attempt still running at the answer when that one ended,
        else by one try at its booking. A settled request is left as it is. CalcomUnavailable,
        RateLimited, WorkflowUnavailable (AttemptStillRunning included): try later (counted)."""
        pending = self._store.get(job.company_id, job.request_id)
        follow(call_id=pending.call_id)
        if pending.settled:
            logger.info("booking request settled before", request_id=pending.request_id)
            return pending
        tried = pending.model_copy(update={"attempts": pending.attempts + 1, "updated_at": self._clock()})
        settlement: Settlement | AttemptInFlight | None = None
        if pending.attempt is not None:
            settlement = self._ended(pending.company_id, pending.attempt)
            tried = tried.model_copy(update={"attempt": None})
        try:
            if settlement is None:
                settlement = self._try(pending, deadline)
        except (CalcomUnavailable, RateLimited, WorkflowUnavailable) as down:
            self._store.replace(pending, tried.model_copy(update={"reason": type(down).__name__}))
            raise
        if isinstance(settlement, AttemptInFlight):
            self._store.replace(
                pending, tried.model_copy(update={"attempt": settlement, "reason": "booking still running"})
            )
            raise AttemptStillRunning(
                f"booking {settlement.booking_id} still running", retry_after_s=ATTEMPT_RECHECK_S
            )
        if settlement is None:
            self._store.replace(pending, tried.model_copy(update={"reason": "Cal.com unavailable"}))
            raise CalcomUnavailable("Cal.com was unavailable for the booking request again")
        settled = tried.model_copy(update=settlement.model_dump())
        if not self._store.replace(pending, settled):  # another worker got there first
            return self._store.get(job.company_id, job.request_id)
        metrics.add_metric(
            name=f"BookingRequest{settlement.status.value.capitalize()}", unit=MetricUnit.Count, value=1
        )
        logger.info(
            "booking request settled",
            company_id=settled.company_id,
            request_id=settled.request_id,
            status=settled.status.value,
            attempts=settled.attempts,
        )
        return settled

    def _ended(self, company_id: str, attempt: AttemptInFlight) -> Settlement | AttemptInFlight | None:
        """How the attempt still running at the answer ended: booked (its appointment), failed
        (None: try anew), or not yet (the attempt itself: look again later). An attempt with no
        record after its workflow surely ended never finished: what it left in Cal.com is
        cancelled, then None."""
        record = self._records.get(company_id, attempt.booking_id)
        result = attempt_result(record)
        if result == "booked":
            assert record is not None
            return Settlement(
                status=RequestStatus.BOOKED,
                appointment_id=attempt.booking_id,
                confirmation_code=record.get("confirmation_code"),
                staff_booked=record.get("staff_id"),
            )
        if result == "failed":
            return None
        if self._clock() < attempt.ended_by:
            return attempt
        logger.warning("booking attempt never ended: cancelling what it left", booking_id=attempt.booking_id)
        if attempt.plan is not None:
            self._saga().cancel_attempt(attempt.plan)
        return None

    def _try(self, pending: PendingBooking, deadline: Deadline | None) -> Settlement | AttemptInFlight | None:
        company = self._companies.get(pending.company_id)
        try:
            service = self._services.get(pending.company_id, pending.service_id)
        except NotFound:
            service = None
        if service is None or not service.active:
            return Settlement(
                status=RequestStatus.FAILED, reason=UnknownService.__name__ + ": not offered any more"
            )
        wish = Wish(
            company=company,
            service=service,
            day=pending.day,
            at=pending.at,
            staff_id=pending.staff_id,
            customer=pending.customer,
            call_id=pending.call_id,
            change_of=pending.change_of,
            deadline=deadline,
        )
        began = self._clock()
        attempt = self._attempts().attempt(wish)
        outcome = attempt.outcome
        if outcome is not None and outcome.running and outcome.booking_id:
            return AttemptInFlight(booking_id=outcome.booking_id, started_at=began, plan=outcome.plan)
        return settlement_of(attempt)

    def listing(self, company_id: str, which: Literal["open", "settled"]) -> dict[str, Any]:
        """The company's open or settled requests, newest first (the admin API)."""
        self._companies.get(company_id)  # UnknownCompany: 404
        found = self._store.list(company_id, settled=which == "settled")
        return {
            "company_id": company_id,
            "status": which,
            "requests": [r.model_dump(mode="json") for r in found],
        }
