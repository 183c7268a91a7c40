"""One try at booking a wish: the path `book_appointment` takes (docs/adr/0018), and the pending
request worker takes again once Cal.com is back (docs/adr/0025).

The first try goes to the staff member named, else the one the slot cache last saw free, else
the first who can be booked, with the plan made here and the slot lease taken ahead (ADR 0019); a
taken time then asks Cal.com who is free, books them, or gives the check's answer (the nearest
alternatives). Cal.com failing during the check raises (CalcomUnavailable, RateLimited), the
workflow not starting raises WorkflowUnavailable; a workflow that failed is its outcome.

A wish with a `deadline` (a tool call's time budget, docs/adr/0026-tool-call-budget.md) waits no
longer: the check stops at it, a workflow still running then is a "running" outcome (it goes on),
and a workflow that could not start in the time left raises WorkflowUnavailable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from typing import TYPE_CHECKING

from calbridge.domain.booking import BookingRequest, Customer
from calbridge.domain.models import Company, Service
from calbridge.errors import StaffNotBookable, UnknownStaff, WorkflowUnavailable
from calbridge.timing import Deadline

if TYPE_CHECKING:
    from calbridge.services.availability import AvailabilityAnswer, AvailabilityService, StartOption
    from calbridge.services.booking import BookingOutcome, BookingSaga

#: Less time than this left of a caller's budget: no workflow is started (a booking takes ~0.4 s
#: when Cal.com is well; started later it would only outlast the budget).
MIN_WORKFLOW_S = 1.0

#: How a booking ends when the time was not free for that staff member after all, or they could
#: not be booked any more (a change since this container cached the team): someone else may be.
TAKEN = frozenset({"SlotUnavailable", "LeaseBusy", "StaffNotBookable", "UnknownStaff"})


@dataclass(frozen=True)
class Wish:
    """What is to be booked: service, company-local day and time, staff wish, who for, and the
    tool call asking (noted with the booking on the call record)."""

    company: Company
    service: Service
    day: date
    at: time
    staff_id: str | None
    customer: Customer
    call_id: str | None
    change_of: str | None
    deadline: Deadline | None = None


@dataclass(frozen=True)
class Attempt:
    """Either the workflow ran for `option` (its `outcome`, booked or failed for another reason
    than a taken time), or the time was taken and `answer` is the check's (`outcome` None)."""

    option: StartOption | None = None
    outcome: BookingOutcome | None = None
    answer: AvailabilityAnswer | None = None


class BookingAttempts:
    def __init__(
        self,
        availability: Callable[[], AvailabilityService],
        booking: Callable[[], BookingSaga] | None = None,
    ) -> None:
        self._availability = availability
        self._booking = booking  # plans here, so the saga reads nothing (None: the workflow plans)

    def attempt(self, wish: Wish) -> Attempt:
        service = self._availability()
        first = service.first_choice(wish.company, wish.service, wish.day, wish.at, wish.staff_id)
        tried = None
        if first is not None:
            outcome = self.run(wish, first)
            if outcome.error not in TAKEN:
                return Attempt(option=first, outcome=outcome)
            tried = first
        answer = self.check(wish)  # Cal.com: who is free at that time, else the alternatives
        if answer.match is None or answer.match == tried:
            return Attempt(answer=answer)
        outcome = self.run(wish, answer.match)
        if outcome.error in TAKEN:
            return Attempt(answer=self.check(wish))  # someone was faster
        return Attempt(option=answer.match, outcome=outcome)

    def check(self, wish: Wish) -> AvailabilityAnswer:
        return self._availability().check(
            wish.company, wish.service, wish.day, wish.at, wish.staff_id, deadline=wish.deadline
        )

    def run(self, wish: Wish, option: StartOption) -> BookingOutcome:
        from calbridge.services.booking import BookingOutcome, run_booking  # boto3's Step Functions

        wait_s = None if wish.deadline is None else wish.deadline.remaining()
        if wait_s is not None and wait_s < MIN_WORKFLOW_S:
            raise WorkflowUnavailable(f"not started: {wait_s:.2f} s left of the caller's time budget")
        request = BookingRequest(
            company_id=wish.company.company_id,
            booking_id=f"bk_{uuid.uuid4().hex}",
            service_id=wish.service.service_id,
            start=option.start,
            staff_id=option.staff_id,
            customer=wish.customer,
            call_id=wish.call_id,
            change_of=wish.change_of,
            gap_stretch=option.plan.gap_stretch,
        )
        if self._booking is None:
            return run_booking(request, wait_s=wait_s)
        saga = self._booking()
        try:
            plan = saga.plan(request)
        except (StaffNotBookable, UnknownStaff) as refused:  # the workflow's Plan would end so too
            return BookingOutcome(status="failed", error=type(refused).__name__, message=refused.message)
        wait_s = None if wish.deadline is None else wish.deadline.remaining()
        return run_booking(request, plan=plan, lease=saga.lease_ahead(plan), wait_s=wait_s)
