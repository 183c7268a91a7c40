"""Booking requests are never lost when Cal.com is down (issue 12, ADR 0025), through the HTTP front
with requests signed as Retell signs them. Cal.com fails by the stand-in's fault injection; the
job's delay passes by moving the clock (the stack, moto and the stand-in follow), never by sleeping.

Cal.com down: the caller hears that the wish is noted and the salon confirms it (never "gebucht"),
one request is recorded, a retry of the tool call replays the answer and records nothing more.
Cal.com back: the worker books it (an appointment with a code). Taken meanwhile: the nearest free
starts are kept, nothing is booked. Still down: the job stays for later. The admin API lists open
and settled requests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine

from tests.e2e.test_admin_api import IDENTITY
from tests.e2e.test_cancel_reschedule_tools import standin_bookings
from tests.helpers import next_monday
from tests.integration.test_change_sagas import close_the_breaker

SALON = "/admin/companies/salon-demo"
CALL = {
    "call_id": "call_pending",
    "from_number": "+4915112345678",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}
OTHER_CALL = {**CALL, "call_id": "call_faster", "from_number": "+4915198765432"}
ASKED = {"service": "Föhnen", "time": "10:00", "customer_name": "Anna Schmidt", "mitarbeiter": "Fabian"}
#: Every create fails: the first try and ReserveHold's two retries.
CREATES_DOWN = {"endpoint": "POST /v2/bookings", "fault": "5xx", "status": 503, "times": 3}


def faults(stack, *rules: dict) -> None:
    if rules:
        httpx.post(f"{stack.calcom_url}/_standin/faults", json=list(rules)).raise_for_status()
    else:
        httpx.delete(f"{stack.calcom_url}/_standin/faults").raise_for_status()


def later(seconds: float) -> time_machine.travel:
    return time_machine.travel(datetime.now(UTC) + timedelta(seconds=seconds), tick=True)


def book(retell, call: dict = CALL) -> dict:
    response = retell.tool("book_appointment", {**ASKED, "date": next_monday()}, call)
    assert response.status_code == 200, response.text
    return response.json()


def requests_stored(stack) -> list[dict]:
    return stack.boto3_client("dynamodb").scan(TableName="BookingRequestsTable")["Items"]


def request_status(stack, company_id: str, request_id: str) -> dict:
    item = stack.boto3_client("dynamodb").get_item(
        TableName="BookingRequestsTable",
        Key={"company_id": {"S": company_id}, "request_id": {"S": request_id}},
    )["Item"]
    return json.loads(item["request"]["S"])


def accepted(stack) -> list[dict]:
    return [b for b in standin_bookings(stack) if b["status"] == "accepted"]


def listed(stack, status: str) -> list[dict]:
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as admin:
        response = admin.get(f"{SALON}/booking-requests", params={"status": status})
    assert response.status_code == 200, response.text
    return response.json()["requests"]


def forget_jobs(stack) -> None:
    """Delete every job of the queue, delayed ones too (PurgeQueue allows one call a minute)."""
    sqs = stack.boto3_client("sqs")
    queue_url = next(u for u in sqs.list_queues()["QueueUrls"] if u.endswith("/BookingRequestsQueue"))
    with later(901):  # past SQS's longest delay
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def down(fresh):
    """Cal.com refuses the booking's creates; afterwards it answers again, the breaker is closed
    and no job of this test is left for the next one."""
    forget_jobs(fresh)
    faults(fresh, CREATES_DOWN)
    yield fresh
    faults(fresh)
    forget_jobs(fresh)
    close_the_breaker(fresh)


def test_a_booking_cal_com_cannot_take_is_kept_once_and_booked_when_it_is_back(down, retell):
    stack = down
    answer = book(retell)

    assert answer["data"]["pending"] is True and answer["data"]["booked"] is False, answer
    assert "notiert" in answer["message"] and "bestätigt" in answer["message"], answer
    assert "gebucht" not in answer["message"]
    request_id = answer["data"]["request_id"]
    assert book(retell) == answer  # Retell's retry replays the answer
    assert len(requests_stored(stack)) == 1  # and records nothing more
    assert [r["request_id"] for r in listed(stack, "open")] == [request_id]
    assert listed(stack, "settled") == []
    assert accepted(stack) == []

    faults(stack)  # Cal.com is back; the job waits its delay
    with later(31):
        deliveries = stack.drain_queue("BookingRequestsQueue")
    assert [d.failed_ids for d in deliveries] == [[]], deliveries

    settled = request_status(stack, "salon-demo", request_id)
    assert settled["status"] == "booked" and settled["attempts"] == 1, settled
    assert len(settled["confirmation_code"]) == 6
    appointment = stack.boto3_client("dynamodb").get_item(
        TableName="AppointmentsTable",
        Key={"company_id": {"S": "salon-demo"}, "appointment_id": {"S": settled["appointment_id"]}},
    )["Item"]
    assert appointment["status"]["S"] == "booked"
    assert appointment["confirmation_code"]["S"] == settled["confirmation_code"]
    (booking,) = accepted(stack)
    assert booking["attendees"][0]["name"] == "Anna Schmidt"
    assert listed(stack, "open") == []
    assert [r["status"] for r in listed(stack, "settled")] == ["booked"]
    assert stack.drain_queue("BookingRequestsQueue") == []  # settled: nothing left


def test_a_time_taken_meanwhile_keeps_the_nearest_free_starts_and_books_nothing(down, retell):
    stack = down
    request_id = book(retell)["data"]["request_id"]
    faults(stack)
    faster = book(retell, OTHER_CALL)  # another caller gets the time while the request waits
    assert faster["success"] and faster["data"]["booked"], faster

    with later(31):
        stack.drain_queue("BookingRequestsQueue")

    settled = request_status(stack, "salon-demo", request_id)
    assert settled["status"] == "alternatives", settled
    assert settled["alternatives"] and settled["appointment_id"] is None
    assert len(accepted(stack)) == 1  # only the faster caller's booking


def test_a_request_cal_com_still_refuses_stays_for_later(down, retell):
    stack = down
    request_id = book(retell)["data"]["request_id"]
    faults(stack, {**CREATES_DOWN, "times": 100})

    with later(31):
        (delivery,) = stack.drain_queue("BookingRequestsQueue")

    assert delivery.failed_ids == delivery.message_ids  # put back, not deleted
    still = request_status(stack, "salon-demo", request_id)
    assert still["status"] == "open" and still["attempts"] == 1, still
    assert [r["request_id"] for r in listed(stack, "open")] == [request_id]
    assert accepted(stack) == []


def test_the_admin_listing_refuses_an_unknown_status(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as admin:
        response = admin.get(f"{SALON}/booking-requests", params={"status": "maybe"})
    assert response.status_code == 400 and response.json()["field"] == "status"


def test_cal_com_failing_the_check_after_a_taken_first_try_keeps_the_request_too(down, retell):
    stack = down
    faults(stack)
    faster = book(retell, OTHER_CALL)
    assert faster["success"] and faster["data"]["booked"], faster
    # Our caller's first try finds the time taken; the check that would find someone else fails.
    faults(stack, {"endpoint": "GET /v2/slots", "fault": "5xx", "status": 503, "times": 10})

    answer = book(retell)

    assert answer["data"]["pending"] is True, answer
    faults(stack)
    with later(31):
        stack.drain_queue("BookingRequestsQueue")
    settled = request_status(stack, "salon-demo", answer["data"]["request_id"])
    assert settled["status"] == "alternatives" and settled["alternatives"], settled
    assert len(accepted(stack)) == 1
