"""A whole phone call, scripted: every request signed and sent over the HTTP front as Retell sends
it, with days and times as a caller says them. Inbound routing, the lifecycle webhooks (out of
order, redelivered), service info, availability, a composite booking and its reschedule; then the
call record, the appointment and the Cal.com stand-in tell the same story."""

from __future__ import annotations

import importlib
import time
from datetime import datetime, timedelta

import httpx

from tests.helpers import BERLIN

CALLER = "+4915112345678"
SALON = "+4930123456789"


def accepted_uids(stack) -> set[str]:
    bookings = httpx.get(f"{stack.calcom_url}/_standin/bookings").json()
    bookings = bookings.get("data", bookings) if isinstance(bookings, dict) else bookings
    return {b["uid"] for b in bookings if b["status"] == "accepted"}


def stored_uids(stack, appointment_id: str) -> set[str]:
    """The Cal.com uids the appointment holds (one per segment)."""
    item = stack.boto3_client("dynamodb").get_item(
        TableName="AppointmentsTable",
        Key={"company_id": {"S": "salon-demo"}, "appointment_id": {"S": appointment_id}},
        ConsistentRead=True,
    )["Item"]
    return {v["S"] for v in item["calcom_booking_uids"]["M"].values()}


def test_a_caller_books_a_composite_service_and_moves_it(fresh, retell):
    routed = retell.inbound(CALLER, SALON)
    assert routed.status_code == 200
    inbound = routed.json()["call_inbound"]
    call = {
        "call_id": "call_scripted",
        "call_type": "phone_call",
        "direction": "inbound",
        "from_number": CALLER,
        "to_number": SALON,
        "start_timestamp": int(time.time() * 1000),
        "metadata": inbound["metadata"],
    }

    def tool(name: str, **args) -> dict:
        response = retell.tool(name, args, call)
        assert response.status_code == 200, response.text
        return response.json()

    assert retell.post("/retell/events", {"event": "call_started", "call": call}).status_code == 204

    info = tool("get_service_info", service="Ansatzfaerbung")  # as an LLM may spell it
    assert "45 Minuten Einwirkzeit" in info["message"]

    # "nächsten Montag" is always ahead and a working day of the demo salon.
    offer = tool("check_availability", service="Ansatzfärbung", date="nächsten Montag", time="um 10")
    assert offer["success"] and offer["data"]["available"], offer
    booked = tool(
        "book_appointment",
        service="Ansatzfärbung",
        date="nächsten Montag",
        time="um 10",
        mitarbeiter="Fabien",  # a typo the name matching forgives
        customer_name="Anna Schmidt",
    )
    assert booked["success"] and booked["data"]["staff_name"] == "Fabian Spitzer", booked
    appointment_id = booked["data"]["appointment_id"]
    first_start = datetime.fromisoformat(booked["data"]["start"])
    assert first_start.hour == 10 and first_start.weekday() == 0
    old_uids = stored_uids(fresh, appointment_id)
    assert len(old_uids) == 4 and old_uids <= accepted_uids(fresh)  # one Cal.com booking per segment

    day_after = first_start.date() + timedelta(days=1)
    moved = tool(
        "reschedule_appointment",
        date="nächsten Montag",
        new_date=f"am {day_after.day}.{day_after.month}.",  # the Tuesday after, as a caller says it
        new_time="halb drei",  # 14:30: the salon is closed at 2:30 at night
    )
    assert moved["success"], moved
    new_start = datetime.fromisoformat(moved["data"]["start"]).astimezone(BERLIN)
    assert new_start.date() == first_start.date() + timedelta(days=1)
    assert (new_start.hour, new_start.minute) == (14, 30)
    assert moved["data"]["confirmation_code"] == booked["data"]["confirmation_code"]
    new_uids = stored_uids(fresh, appointment_id)
    assert len(new_uids) == 4 and not new_uids & old_uids
    assert new_uids <= accepted_uids(fresh) and not old_uids & accepted_uids(fresh)

    ended = {**call, "end_timestamp": int(time.time() * 1000), "disconnection_reason": "user_hangup"}
    analysis = {"call_summary": "Termin gebucht und verschoben.", "user_sentiment": "Positive"}
    for event, body in (
        ("call_analyzed", {**ended, "call_analysis": analysis}),
        ("call_ended", ended),
        ("call_ended", ended),  # Retell redelivers
    ):
        assert retell.post("/retell/events", {"event": event, "call": body}).status_code == 204

    calls = importlib.import_module("calbridge.adapters.store.calls").CallRepository()
    record = calls.get("salon-demo", "call_scripted")
    assert record is not None
    assert record.status == "analyzed" and record.disconnection_reason == "user_hangup"
    assert record.from_number == CALLER and record.summary == "Termin gebucht und verschoben."
    assert [(a.appointment_id, a.action) for a in record.appointments] == [
        (appointment_id, "booked"),
        (appointment_id, "rescheduled"),
    ]
