"""One trace per call (issue 14 item 3, docs/adr/0034-one-trace-per-call.md): a composite booking
over the HTTP front, its saga on moto's engine with our ASL, and every JSON log line any function
writes meanwhile names the Retell call; every saga task's line names the booking attempt too."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.lambda_runtime import RUNNING_FUNCTION
from tests.helpers import next_monday

CALL_ID = "call_trace_one"
CALL = {
    "call_id": CALL_ID,
    "from_number": "+4915112345678",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}
SAGA_TASKS = {
    "BookingPlanFunction",
    "BookingAcquireLockFunction",
    "BookingReserveHoldFunction",
    "BookingFinalizeFunction",
    "BookingCompensateFunction",
}


@dataclass(frozen=True)
class Line:
    function: str | None  # the function whose handler wrote it (None: a thread a handler started)
    record: dict[str, Any]  # the JSON line as Lambda would print it


class JsonLines(logging.Handler):
    """Every line calbridge's logger writes, formatted by its own (redacting, Powertools) formatter,
    with the function whose handler runs in the writing thread (the local runtime names it)."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[Line] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = Line(RUNNING_FUNCTION.get(), json.loads(self.format(record)))
        with self._lock:
            self.lines.append(line)


@pytest.fixture
def log_lines() -> Iterator[JsonLines]:
    calbridge = logging.getLogger("calbridge")  # POWERTOOLS_SERVICE_NAME: one logger for all functions
    formatter = next(h.formatter for h in calbridge.handlers if h.formatter is not None)
    capture = JsonLines(formatter)
    level = calbridge.level
    calbridge.setLevel(logging.DEBUG)  # the debug lines too: every step writes at least one
    calbridge.addHandler(capture)
    try:
        yield capture
    finally:
        calbridge.removeHandler(capture)
        calbridge.setLevel(level)


def test_every_log_line_of_a_booking_names_its_call_and_every_saga_line_its_booking(fresh, retell, log_lines):
    arguments = {
        "service": "Ansatzfärbung",
        "date": next_monday(),
        "time": "14:00",
        "customer_name": "Anna Schmidt",
        "mitarbeiter": "Fabian",
    }
    response = retell.tool("book_appointment", arguments, CALL)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] and answer["data"]["booked"], answer
    # Retell retries the tool call: the first answer again, logged by the webhook (no id of its own).
    repeated = retell.tool("book_appointment", arguments, CALL)
    assert repeated.json() == answer
    # The call's own lines: the webhook's and the saga tasks'. Cal.com's webhooks of the new bookings
    # arrive meanwhile as requests of their own (CalcomWebhookFunction, named by company).
    lines = [line for line in log_lines.lines if line.function in {"RetellWebhookFunction", *SAGA_TASKS}]
    saga = [line.record for line in lines if line.function in SAGA_TASKS]
    steps = [r["step"] for r in saga if r.get("message") == "booking step"]
    # The tool layer planned and took the lease itself (ADR 0019): the holds, then Finalize.
    assert sorted(steps) == ["finalize", *["reserve_hold"] * 4], steps
    webhook = [line.record["message"] for line in lines if line.function == "RetellWebhookFunction"]
    assert "repeated tool call answered from its first run" in webhook, webhook

    [booking_id] = {r.get("booking_id") for r in saga}  # one attempt, named on every saga line
    assert booking_id
    assert {r.get("company_id") for r in saga} == {"salon-demo"}
    # Every line names the call, ReserveHold's too (the Map item carries $.plan.call_id).
    unnamed = [
        (line.function, line.record.get("message")) for line in lines if line.record.get("call_id") != CALL_ID
    ]
    assert unnamed == []
    # The appointment stored is the booking attempt the saga's lines name.
    [appointment] = [
        item
        for item in fresh.boto3_client("dynamodb").scan(TableName="AppointmentsTable")["Items"]
        if item.get("kind", {}).get("S") == "appointment"
    ]
    assert appointment["appointment_id"]["S"] == booking_id
    assert appointment["call_id"]["S"] == CALL_ID


CHANGE_TASKS = {
    "RescheduleLoadFunction",
    "BookingPlanFunction",
    "BookingAcquireLockFunction",
    "BookingReserveHoldFunction",
    "BookingAssignStaffFunction",
    "CancelHoldFunction",
    "RescheduleSwapFunction",
}


def test_a_reschedule_names_its_call_attempt_and_appointment_in_every_task_and_a_cancel_its_appointment(
    fresh, retell, log_lines
):
    monday = next_monday()
    booked = retell.tool(
        "book_appointment",
        {
            "service": "Ansatzfärbung",
            "date": monday,
            "time": "10:00",
            "customer_name": "Anna",
            "mitarbeiter": "Fabian",
        },
        CALL,
    ).json()
    appointment_id = booked["data"]["appointment_id"]
    log_lines.lines.clear()

    moving = {**CALL, "call_id": "call_trace_move"}  # the caller calls again to move it
    moved = retell.tool(
        "reschedule_appointment", {"date": monday, "new_date": monday, "new_time": "14:00"}, moving
    )
    assert moved.json()["data"]["rescheduled"], moved.text
    saga = [line for line in log_lines.lines if line.function in CHANGE_TASKS]
    steps = {line.record["step"] for line in saga if line.record.get("message") == "booking step"}
    assert steps == {
        "load_for_reschedule",
        "plan",
        "acquire_lock",
        "reserve_hold",
        "assign_staff",
        "cancel_hold",
        "swap_appointment",
    }
    # The reschedule's plan is the Plan task's: every task, ReserveHold's Map items too, names the
    # call and the new attempt; those that read the appointment name it.
    records = [line.record for line in saga]
    assert {r.get("call_id") for r in records} == {"call_trace_move"}
    [attempt] = {r.get("booking_id") for r in records}
    assert attempt and attempt != appointment_id
    assert {r.get("appointment_id") for r in records} - {None} == {appointment_id}
    reading = {"load_for_reschedule", "assign_staff", "cancel_hold", "swap_appointment"}
    assert all(r.get("appointment_id") == appointment_id for r in records if r.get("step") in reading)
    log_lines.lines.clear()

    cancelling = {**CALL, "call_id": "call_trace_cancel"}
    cancelled = retell.tool("cancel_appointment", {"date": monday}, cancelling)
    assert cancelled.json()["success"], cancelled.text
    cancel_saga = [
        line.record
        for line in log_lines.lines
        if line.function in {"CancelLoadFunction", "CancelHoldFunction", "CancelMarkFunction"}
    ]
    assert {r["step"] for r in cancel_saga if r.get("message") == "booking step"} == {
        "load_for_cancel",
        "cancel_hold",
        "mark_cancelled",
    }
    assert {r.get("appointment_id") for r in cancel_saga} == {appointment_id}
    assert {r.get("call_id") for r in cancel_saga} == {"call_trace_cancel"}


def test_the_next_request_names_no_call_of_an_earlier_one(fresh, retell, log_lines):
    """The ids are cleared per invocation: a request refused before it names a call (no `call`)
    logs without the call id the request before it set."""
    assert retell.tool("list_staff", {}, CALL).status_code == 200
    refused = retell.post("/retell/functions", {"name": "list_staff", "args": {}})
    assert refused.status_code == 400 and refused.json()["field"] == "call", refused.text

    webhook = [line.record for line in log_lines.lines if line.function == "RetellWebhookFunction"]
    assert [(r["message"], r.get("call_id")) for r in webhook] == [
        ("tool call", CALL_ID),
        ("rejected request: invalid", None),
    ]
