"""Pending booking requests, the pure pieces (ADR 0025): when a failed booking was Cal.com being
down, the request model, and what a worker's try comes to."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from calbridge.domain.booking import Customer
from calbridge.domain.booking_requests import (
    AttemptInFlight,
    BookingRequestJob,
    PendingBooking,
    RequestStatus,
    calcom_was_down,
    request_id_for,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("ReservationFailed", "1 of 1 hold(s) not reserved: A: CalcomUnavailable: Service Unavailable"),
        ("ReservationFailed", "2 of 4 hold(s) not reserved: A: CalcomCircuitOpen: open; C: RateLimited: 429"),
        ("ReservationFailed", "1 of 1 hold(s) not reserved: gap-1: CalcomUnavailable: timed out"),
        ("WorkflowUnavailable", "the booking workflow timed out"),
        ("CalcomCircuitOpen", None),
    ],
)
def test_cal_com_being_down_is_told_from_the_workflows_failure(error, message):
    assert calcom_was_down(error, message)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("SlotUnavailable", "fabian is not free"),
        ("LeaseBusy", "another booking"),
        ("CalcomContractError", "Cal.com refused a hold as malformed"),
        ("StaffMismatch", "another host"),
        # one hold taken: booking it later would not succeed either
        (
            "ReservationFailed",
            "2 of 4 hold(s) not reserved: A: CalcomUnavailable: 503; B: CalcomRejected: 403",
        ),
        ("ReservationFailed", "no reservation for hold(s) A"),
        ("ReservationFailed", None),
        (None, None),
    ],
)
def test_a_taken_time_or_our_mistake_is_not_cal_com_being_down(error, message):
    assert not calcom_was_down(error, message)


def pending(**changes) -> PendingBooking:
    values = {
        "company_id": "salon-demo",
        "request_id": request_id_for("0123456789abcdef0123456789abcdef"),
        "call_id": "call_1",
        "change_of": "0123456789abcdef0123456789abcdef",
        "service_id": "177",
        "service_name": "Föhnen",
        "day": date(2026, 3, 16),
        "at": time(10, 0),
        "start": datetime(2026, 3, 16, 10, 0, tzinfo=BERLIN),
        "staff_id": "fabian-spitzer",
        "customer": Customer(name="Anna Schmidt", phone="+4915112345678"),
        "created_at": NOW,
        "updated_at": NOW,
    }
    return PendingBooking(**(values | changes))


def test_a_request_is_open_until_settled_and_survives_its_json():
    request = pending()
    assert request.status == RequestStatus.OPEN and not request.settled and request.attempts == 0
    assert PendingBooking.model_validate(request.model_dump(mode="json")) == request
    for status in (RequestStatus.BOOKED, RequestStatus.ALTERNATIVES, RequestStatus.FAILED):
        assert request.model_copy(update={"status": status}).settled


def test_one_tool_call_is_one_request_id():
    assert request_id_for("abc") == request_id_for("abc") != request_id_for("abd")


def test_a_request_needs_a_way_to_reach_the_caller_and_a_naive_start_is_refused():
    with pytest.raises(ValidationError):
        pending(customer={"name": "Anna"})
    with pytest.raises(ValidationError):
        pending(start=datetime(2026, 3, 16, 10, 0))


def test_a_job_names_company_and_request_and_nothing_else():
    job = BookingRequestJob.model_validate_json('{"company_id": "salon-demo", "request_id": "rq_abc"}')
    assert (job.company_id, job.request_id) == ("salon-demo", "rq_abc")
    with pytest.raises(ValidationError):
        BookingRequestJob.model_validate_json('{"company_id": "salon-demo", "request_id": "bk_abc"}')
    with pytest.raises(ValidationError):
        BookingRequestJob.model_validate_json('{"company_id": "salon-demo", "request_id": "rq_a", "x": 1}')


def test_the_noted_answer_never_says_booked_and_names_the_wish():
    from calbridge.domain import phrasing
    from calbridge.domain.models import Service

    service = Service(company_id="c", service_id="s", name="Föhnen", duration=30)
    german = phrasing.booking_noted(service, "am Montag um 10 Uhr", "Fabian", "de")
    assert "gebucht" not in german and "notiert" in german and "bestätigt" in german
    assert "Föhnen am Montag um 10 Uhr bei Fabian" in german
    english = phrasing.booking_noted(service, "on Monday at 10 am", None, "en")
    assert "booked" not in english and "confirm" in english and "with Fabian" not in english


def test_a_worker_try_comes_to_booked_alternatives_failed_or_later():
    """`settlement_of` reads only what a workflow outcome and a check answer carry (stand-ins here:
    services/booking.py needs the store's settings)."""
    from calbridge.services.booking_attempts import Attempt
    from calbridge.services.booking_requests import settlement_of

    def outcome(error=None, message=None, appointment=None):
        return SimpleNamespace(
            booked=appointment is not None, error=error, message=message, appointment=appointment
        )

    def answer(complete=True, alternatives=()):
        return SimpleNamespace(complete=complete, alternatives=alternatives)

    assert (
        settlement_of(
            Attempt(outcome=outcome("ReservationFailed", "1 of 1 hold(s) not reserved: A: RateLimited: 429"))
        )
        is None
    )
    failed = settlement_of(Attempt(outcome=outcome("StaffMismatch", "another host")))
    assert failed is not None and failed.status == RequestStatus.FAILED
    assert failed.reason == "StaffMismatch: another host"
    assert settlement_of(Attempt(answer=answer(complete=False))) is None  # never "taken" from a partial read
    later = datetime(2026, 3, 16, 11, 0, tzinfo=BERLIN)
    taken = settlement_of(Attempt(answer=answer(alternatives=(SimpleNamespace(start=later),))))
    assert taken is not None and taken.status == RequestStatus.ALTERNATIVES and taken.alternatives == (later,)
    made = SimpleNamespace(appointment_id="bk_1", confirmation_code="ABC234")
    booked = settlement_of(
        Attempt(option=SimpleNamespace(staff_id="fabian-spitzer"), outcome=outcome(appointment=made))
    )
    assert booked is not None and booked.status == RequestStatus.BOOKED
    assert (booked.appointment_id, booked.confirmation_code, booked.staff_booked) == (
        "bk_1",
        "ABC234",
        "fabian-spitzer",
    )


# --- a request naming a booking workflow still running at the answer (ADR 0026) -----------------


class FakeStore:
    def __init__(self, request: PendingBooking) -> None:
        self.request = request

    def get(self, company_id: str, request_id: str) -> PendingBooking:
        return self.request

    def replace(self, before: PendingBooking, after: PendingBooking) -> bool:
        assert before == self.request
        self.request = after
        return True


def current(request: PendingBooking) -> PendingBooking:
    """The request in the classes of the layer as last imported: a test session that started the
    local stack imported it afresh, and the service checks the attempt's class."""
    module = importlib.import_module("calbridge.domain.booking_requests")
    fresh = module.PendingBooking.model_validate(request.model_dump(exclude={"attempt"}))
    if request.attempt is None:
        return fresh
    attempt = module.AttemptInFlight(
        booking_id=request.attempt.booking_id, started_at=request.attempt.started_at
    )
    return fresh.model_copy(update={"attempt": attempt.model_copy(update={"plan": request.attempt.plan})})


def settle_with(request: PendingBooking, record: dict | None, *, now: datetime, tried=None):
    """`BookingRequests.settle` with the attempt's appointment item `record` at `now`; `tried`:
    what a new try comes to (None: a new try must not happen). Returns (request, cancelled plans)."""
    from calbridge.domain.models import Service
    from calbridge.services.booking_requests import BookingRequests

    cancelled: list = []
    saga = SimpleNamespace(cancel_attempt=cancelled.append)

    def attempt(wish):
        assert tried is not None, "the request was tried anew"
        return tried

    store = FakeStore(current(request))
    requests = BookingRequests(
        store,  # type: ignore[arg-type]
        queue=lambda: None,  # type: ignore[arg-type,return-value]
        companies=SimpleNamespace(get=lambda _: SimpleNamespace(company_id="salon-demo")),  # type: ignore[arg-type]
        services=SimpleNamespace(  # type: ignore[arg-type]
            get=lambda *_: Service(company_id="salon-demo", service_id="177", name="Föhnen", duration=30)
        ),
        attempts=lambda: SimpleNamespace(attempt=attempt),  # type: ignore[arg-type,return-value]
        records=SimpleNamespace(get=lambda company_id, booking_id: record),  # type: ignore[arg-type]
        saga=lambda: saga,  # type: ignore[arg-type,return-value]
        clock=lambda: now,
    )
    requests.settle(BookingRequestJob(company_id="salon-demo", request_id=request.request_id))
    return store.request, cancelled


def running(started_at: datetime = NOW):
    return AttemptInFlight(booking_id="bk_running", started_at=started_at, plan=None)


def test_an_attempt_that_booked_settles_the_request_with_its_appointment():
    record = {"kind": "appointment", "status": "booked", "confirmation_code": "ABC234", "staff_id": "fabian"}
    settled, cancelled = settle_with(pending(attempt=running()), record, now=NOW)
    assert settled.status == RequestStatus.BOOKED and settled.appointment_id == "bk_running"
    assert (settled.confirmation_code, settled.staff_booked, settled.attempt) == ("ABC234", "fabian", None)
    assert cancelled == []


def test_an_attempt_that_failed_is_tried_anew():
    from calbridge.services.booking_attempts import Attempt

    taken = Attempt(answer=SimpleNamespace(complete=True, alternatives=()))
    settled, _ = settle_with(
        pending(attempt=running()), {"kind": "appointment", "status": "failed"}, now=NOW, tried=taken
    )
    assert settled.status == RequestStatus.ALTERNATIVES and settled.attempt is None


def test_an_attempt_without_a_record_is_waited_for_until_its_workflow_surely_ended():
    from calbridge.errors import AttemptStillRunning

    request = pending(attempt=running())
    with pytest.raises(AttemptStillRunning) as later:
        settle_with(request, None, now=NOW.replace(minute=2))
    assert later.value.retry_after_s == 30


def test_an_attempt_that_never_ended_is_cancelled_in_cal_com_then_tried_anew():
    from datetime import timedelta

    from calbridge.services.booking_attempts import Attempt

    plan = SimpleNamespace(booking_id="bk_running")
    attempt = running().model_copy(update={"plan": plan})
    taken = Attempt(answer=SimpleNamespace(complete=True, alternatives=()))
    settled, cancelled = settle_with(
        pending(attempt=attempt), None, now=NOW + timedelta(seconds=181), tried=taken
    )
    assert cancelled == [plan]
    assert settled.status == RequestStatus.ALTERNATIVES and settled.attempt is None
