"""Pending booking requests (pure): a caller's wish that could not be booked because Cal.com was
down, kept until a worker books it or the salon calls back (docs/adr/0025-pending-booking-requests.md).

`book_appointment` records one (`PendingBooking`, status `open`) and queues a `BookingRequestJob`,
also when its booking workflow outlasted the tool call's time budget (`AttemptInFlight`,
docs/adr/0026-tool-call-budget.md): the worker then reads that attempt's outcome first. The worker
settles it: `booked` (appointment id and code), `alternatives` (the time was taken meanwhile: the
nearest free starts, nothing booked), or `failed` (why). No I/O.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from calbridge.domain.booking import BookingPlan, Customer
from calbridge.domain.models import EntityId


class RequestStatus(StrEnum):
    OPEN = "open"
    BOOKED = "booked"
    ALTERNATIVES = "alternatives"
    FAILED = "failed"


#: What the admin listing calls settled: the worker is done with these.
SETTLED = frozenset({RequestStatus.BOOKED, RequestStatus.ALTERNATIVES, RequestStatus.FAILED})

#: The errors that say Cal.com itself could not take the booking for now (5xx, timeout, 429, an
#: open breaker) - never a taken time or our own mistake.
CALCOM_DOWN_ERRORS = frozenset({"CalcomUnavailable", "CalcomCircuitOpen", "RateLimited", "CalcomPaced"})
#: A hold failure as the booking saga's AssignStaff words it: "<hold>: <error name>: <message>".
_HOLD_FAILURE = re.compile(r"(?:^|; |: )[\w-]+: (\w+): ")


def request_id_for(change_of: str) -> str:
    """One request per tool call (its fingerprint, ADR 0017): a retry never records a second."""
    return f"rq_{change_of}"


def calcom_was_down(error: str | None, message: str | None) -> bool:
    """Whether a booking workflow's failure (its error name and message) was Cal.com being
    unavailable: the workflow itself unavailable, or holds not reserved only because Cal.com
    failed, refused for its rate limit, or its breaker was open. A hold that was taken, or that
    Cal.com refused as malformed, makes it not so: that booking would not succeed later either."""
    if error in CALCOM_DOWN_ERRORS or error == "WorkflowUnavailable":
        return True
    if error != "ReservationFailed" or not message:
        return False
    causes = set(_HOLD_FAILURE.findall(message))
    return bool(causes) and causes <= CALCOM_DOWN_ERRORS


#: The booking workflow's own limit (TimeoutSeconds of statemachines/booking.asl.json): an attempt
#: without a record after this long never finished (docs/adr/0026-tool-call-budget.md).
BOOKING_WORKFLOW_TIMEOUT_S = 120


class AttemptInFlight(BaseModel):
    """A booking workflow the caller stopped waiting for at its time budget: it goes on, and
    Finalize or Compensate records its outcome under `booking_id`."""

    model_config = ConfigDict(frozen=True)

    booking_id: str = Field(min_length=1, max_length=128)
    started_at: AwareDatetime
    plan: BookingPlan | None = Field(default=None, description="to cancel what it left if it never ended")

    @property
    def ended_by(self) -> datetime:
        """When the workflow has surely ended (its own timeout, and a minute for its last task)."""
        return self.started_at + timedelta(seconds=BOOKING_WORKFLOW_TIMEOUT_S + 60)


AttemptResult = Literal["booked", "failed", "unknown"]


def attempt_result(record: dict[str, Any] | None) -> AttemptResult:
    """What an attempt's appointment item says: booked (cancelled or moved since counts: it was
    booked), failed (Compensate recorded it), or unknown (no item: still running, or never ended)."""
    if record is None or record.get("kind") not in (None, "appointment"):
        return "unknown"
    return "failed" if record.get("status") == "failed" else "booked"


class PendingBooking(BaseModel):
    """A caller's wish as they said it (service, local day and time, staff wish, name, contact),
    and what became of it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    company_id: EntityId
    request_id: str = Field(pattern=r"^rq_[A-Za-z0-9_-]{1,80}$")
    call_id: str | None = Field(default=None, max_length=128)
    change_of: str | None = Field(default=None, max_length=64)
    service_id: EntityId
    service_name: str
    day: date = Field(description="the asked day, company-local")
    at: time = Field(description="the asked time, company-local")
    start: AwareDatetime = Field(description="the asked start, in the company's zone")
    staff_id: EntityId | None = Field(default=None, description="the staff member the caller asked for")
    customer: Customer
    status: RequestStatus = RequestStatus.OPEN
    attempts: int = Field(default=0, ge=0)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    appointment_id: str | None = None
    confirmation_code: str | None = None
    staff_booked: str | None = None
    alternatives: tuple[AwareDatetime, ...] = ()
    reason: str | None = Field(default=None, max_length=1000, description="why it failed, or the last error")
    attempt: AttemptInFlight | None = Field(
        default=None, description="a booking workflow still running when the caller was answered"
    )

    @property
    def settled(self) -> bool:
        return self.status in SETTLED


class Settlement(BaseModel):
    """What the worker makes of a request: its new status and what goes with it."""

    model_config = ConfigDict(frozen=True)

    status: RequestStatus
    appointment_id: str | None = None
    confirmation_code: str | None = None
    staff_booked: str | None = None
    alternatives: tuple[datetime, ...] = ()
    reason: str | None = None


class BookingRequestJob(BaseModel):
    """The body of one BookingRequestsQueue message: try this request again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: EntityId
    request_id: str = Field(pattern=r"^rq_[A-Za-z0-9_-]{1,80}$")
