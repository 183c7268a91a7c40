"""A tool call answers within its budget whatever Cal.com does (docs/adr/0026-tool-call-budget.md).

Cal.com is made slow through the stand-in's control API (a latency fault: the request is answered,
late); every request is signed as Retell signs it and goes through the HTTP front. The answer
comes before Retell's timeout_ms (12000 for the tools that run a workflow, docs/retell-agent.md),
claims nothing that is not done, and the workflow goes on: its outcome is recorded on the
appointment, and a booking request names the attempt so the worker settles it by that outcome.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.e2e.test_cancel_reschedule_tools import appointment_item, book, tool
from tests.e2e.test_pending_booking_requests import (
    ASKED,
    CALL,
    accepted,
    faults,
    forget_jobs,
    later,
    request_status,
)
from tests.helpers import BERLIN, next_monday
from tests.integration.test_change_sagas import close_the_breaker

#: Retell's timeout_ms for book, cancel and reschedule (docs/retell-agent.md).
CHANGING_TOOL_TIMEOUT_S = 12.0
#: Longer than the tool's budget (10 s) and Cal.com's read timeout (10 s): the saga retries.
SLOW_MS = 10_500


@pytest.fixture
def slow(fresh):
    forget_jobs(fresh)
    yield fresh
    faults(fresh)
    forget_jobs(fresh)
    close_the_breaker(fresh)


def timed(call) -> tuple[dict, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def wait_for(what, timeout_s: float = 40.0):
    """Poll until `what()` is truthy: the workflow goes on after the answer."""
    give_up = time.monotonic() + timeout_s
    while not (found := what()):
        assert time.monotonic() < give_up, "the workflow did not record its outcome"
        time.sleep(0.25)
    return found


def stored(stack, appointment_id: str) -> dict | None:
    return (
        stack.boto3_client("dynamodb")
        .get_item(
            TableName="AppointmentsTable",
            Key={"company_id": {"S": "salon-demo"}, "appointment_id": {"S": appointment_id}},
            ConsistentRead=True,
        )
        .get("Item")
    )


def test_a_booking_outlasting_the_budget_is_noted_and_settled_by_its_own_outcome(slow, retell):
    stack = slow
    faults(stack, {"endpoint": "POST /v2/bookings", "fault": "latency", "latency_ms": SLOW_MS, "times": 1})

    response, took_s = timed(lambda: retell.tool("book_appointment", {**ASKED, "date": next_monday()}, CALL))

    assert response.status_code == 200, response.text
    assert took_s < CHANGING_TOOL_TIMEOUT_S, f"answered after {took_s:.1f} s"
    answer = response.json()
    assert answer["success"] and answer["data"]["pending"] and not answer["data"]["booked"], answer
    assert "dauert gerade länger" in answer["message"] and "gebucht" not in answer["message"], answer
    request_id = answer["data"]["request_id"]
    attempt = request_status(stack, "salon-demo", request_id)["attempt"]
    assert attempt and attempt["booking_id"].startswith("bk_"), attempt

    # The workflow goes on and books; Finalize records it on the appointment and the call record.
    booked = wait_for(lambda: stored(stack, attempt["booking_id"]))
    assert booked["status"]["S"] == "booked" and booked["call_id"]["S"] == CALL["call_id"]
    assert len(accepted(stack)) == 1

    with later(31):  # the worker reads the attempt's outcome: settled by it, nothing booked again
        deliveries = stack.drain_queue("BookingRequestsQueue")
    assert [d.failed_ids for d in deliveries] == [[]], deliveries
    settled = request_status(stack, "salon-demo", request_id)
    assert settled["status"] == "booked" and settled["appointment_id"] == attempt["booking_id"], settled
    assert settled["confirmation_code"] == booked["confirmation_code"]["S"]
    assert settled["attempt"] is None
    assert len(accepted(stack)) == 1
    assert retell.tool("book_appointment", {**ASKED, "date": next_monday()}, CALL).json() == answer


def test_a_request_whose_attempt_has_not_ended_waits_for_it(slow, retell):
    stack = slow
    faults(stack, {"endpoint": "POST /v2/bookings", "fault": "latency", "latency_ms": SLOW_MS, "times": 1})
    answer = retell.tool("book_appointment", {**ASKED, "date": next_monday()}, CALL).json()
    request_id = answer["data"]["request_id"]
    attempt = request_status(stack, "salon-demo", request_id)["attempt"]

    with later(31):  # the job comes while the workflow still runs: put back, nothing tried
        (early,) = stack.drain_queue("BookingRequestsQueue")
    assert early.failed_ids, early
    assert request_status(stack, "salon-demo", request_id)["attempt"] == attempt

    wait_for(lambda: stored(stack, attempt["booking_id"]))
    with later(31 + 31):
        stack.drain_queue("BookingRequestsQueue")
    assert request_status(stack, "salon-demo", request_id)["status"] == "booked"
    assert len(accepted(stack)) == 1


def test_a_cancel_outlasting_the_budget_says_so_and_goes_on(slow, retell):
    stack = slow
    booked = book(retell, service="Föhnen", date=next_monday(), time="10:00", mitarbeiter="Fabian")
    faults(
        stack,
        {"endpoint": "POST /v2/bookings/*/cancel", "fault": "latency", "latency_ms": SLOW_MS, "times": 1},
    )

    answer, took_s = timed(lambda: tool(retell, "cancel_appointment", date=next_monday()))

    assert took_s < CHANGING_TOOL_TIMEOUT_S, f"answered after {took_s:.1f} s"
    assert not answer["success"] and answer["data"]["error"] == "still_running", answer
    assert "noch nicht bestätigt" in answer["message"] and "storniert" not in answer["message"], answer
    wait_for(lambda: appointment_item(stack, booked["appointment_id"])["status"]["S"] == "cancelled")
    assert accepted(stack) == []


def test_a_reschedule_outlasting_the_budget_says_so_and_goes_on(slow, retell):
    stack = slow
    monday = next_monday()
    booked = book(retell, service="Föhnen", date=monday, time="10:00", mitarbeiter="Fabian")
    before = appointment_item(stack, booked["appointment_id"])["starts_at"]["S"]
    faults(stack, {"endpoint": "POST /v2/bookings", "fault": "latency", "latency_ms": SLOW_MS, "times": 1})

    answer, took_s = timed(
        lambda: tool(retell, "reschedule_appointment", date=monday, new_date=monday, new_time="14:00")
    )

    assert took_s < CHANGING_TOOL_TIMEOUT_S, f"answered after {took_s:.1f} s"
    assert not answer["success"] and answer["data"]["error"] == "still_running", answer
    assert "Verschiebung" in answer["message"] and "verschoben:" not in answer["message"], answer
    moved = wait_for(
        lambda: (
            (item := appointment_item(stack, booked["appointment_id"]))["starts_at"]["S"] != before and item
        )
    )
    start = datetime.fromisoformat(f"{monday}T14:00").replace(tzinfo=BERLIN).astimezone(UTC)
    assert datetime.fromisoformat(moved["starts_at"]["S"].replace("+0000", "+00:00")) == start
    assert len(accepted(stack)) == 1  # the old booking is cancelled, the new one holds


#: Retell's timeout_ms for the reads (docs/retell-agent.md).
READ_TOOL_TIMEOUT_S = 8.0


def test_a_check_against_a_hanging_calendar_answers_before_retell_gives_up(slow, retell):
    stack = slow
    faults(stack, {"endpoint": "GET /v2/slots", "fault": "latency", "latency_ms": 20_000})

    answer, took_s = timed(
        lambda: tool(retell, "check_availability", service="Föhnen", date=next_monday(), time="10:00")
    )

    assert took_s < READ_TOOL_TIMEOUT_S, f"answered after {took_s:.1f} s"
    assert not answer["success"] and answer["data"]["error"] == "calendar_unavailable", answer
