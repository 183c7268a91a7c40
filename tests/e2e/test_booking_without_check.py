"""book_appointment asks Cal.com nothing before the saga (docs/adr/0018): the creates decide. Over
the HTTP front with signed requests, the saga on moto's engine and the stand-in; Föhnen (service 44,
one 30-minute hold) with Fabian (linked in the seed) and Lena (linked here), on a Monday both work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.test_calcom_contract_flows import clear_log, standin_log
from tests.helpers import BERLIN, link_staff, next_monday

CALL = {
    "call_id": "call_no_check",
    "from_number": "+4915112345678",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}
FABIAN, LENA = 1420209, 1420211
FOEHNEN = {"service": "Föhnen", "customer_name": "Anna Schmidt"}


def tool(retell, name: str, **args) -> dict:
    response = retell.tool(name, args, CALL)
    assert response.status_code == 200, response.text
    return response.json()


def busy(stack, day: str, hhmm: str, user_id: int, minutes: int = 60) -> None:
    """Someone else's booking in Cal.com, made through the stand-in's control API."""
    start = datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=BERLIN).astimezone(UTC)
    httpx.post(
        f"{stack.calcom_url}/_standin/bookings",
        json={
            "start": start.isoformat(),
            "duration": minutes,
            "event_type_id": 3719003,
            "host_user_id": user_id,
        },
    ).raise_for_status()


def calls_to(stack, method: str, path: str) -> list[dict]:
    return [e for e in standin_log(stack) if (e["method"], e["path"]) == (method, path)]


@pytest.fixture
def lena(fresh):
    link_staff("lena-mueller", LENA)
    return fresh


def test_the_staff_member_named_is_booked_without_a_slots_request(lena, retell):
    clear_log(lena)
    result = tool(retell, "book_appointment", date=next_monday(), time="10:00", mitarbeiter="Lena", **FOEHNEN)
    assert result["success"] and result["data"]["staff_name"] == "Lena Müller", result
    assert calls_to(lena, "GET", "/v2/slots") == [] and len(calls_to(lena, "POST", "/v2/bookings")) == 1


def test_after_a_check_the_booking_goes_to_whom_the_check_found_free(lena, retell):
    monday = next_monday()
    busy(lena, monday, "10:00", FABIAN)
    checked = tool(retell, "check_availability", date=monday, time="10:00", service="Föhnen")
    assert checked["data"]["available"] and checked["data"]["staff_name"] == "Lena Müller", checked

    clear_log(lena)
    booked = tool(retell, "book_appointment", date=monday, time="10:00", **FOEHNEN)
    assert booked["success"] and booked["data"]["staff_name"] == "Lena Müller", booked
    # The slot cache told who is free: no slots request, one create, and it succeeded.
    assert calls_to(lena, "GET", "/v2/slots") == []
    assert [e["status"] for e in calls_to(lena, "POST", "/v2/bookings")] == [201]


def test_a_first_choice_found_busy_by_cal_com_falls_to_whoever_is_free(lena, retell):
    monday = next_monday()
    busy(lena, monday, "10:00", FABIAN)  # the cache knows nothing: Fabian, the first, is tried
    clear_log(lena)
    booked = tool(retell, "book_appointment", date=monday, time="10:00", **FOEHNEN)
    assert booked["success"] and booked["data"]["staff_name"] == "Lena Müller", booked
    creates = calls_to(lena, "POST", "/v2/bookings")
    assert [e["status"] for e in creates] == [400, 201]  # Fabian's refused, then Lena's
    ours = [
        b
        for b in httpx.get(f"{lena.calcom_url}/_standin/bookings").json()
        if b["status"] == "accepted" and (b.get("metadata") or {}).get("calbridge_booking_id")
    ]
    assert [b["hostUserIds"] for b in ours] == [[LENA]]


def test_a_time_nobody_has_answers_with_alternatives_and_books_nothing(lena, retell):
    monday = next_monday()
    busy(lena, monday, "10:00", FABIAN)
    busy(lena, monday, "10:00", LENA)
    result = tool(retell, "book_appointment", date=monday, time="10:00", **FOEHNEN)
    assert result["success"] is False and result["data"]["error"] == "slot_unavailable", result
    assert (result["data"]["alternatives"] and "Alternativ" in result["message"]) or "frei" in result[
        "message"
    ]
    assert not [e for e in calls_to(lena, "POST", "/v2/bookings") if e["status"] < 400]


def test_a_time_inside_the_minimum_notice_never_reaches_a_create(fresh, retell):
    soon = datetime.now(BERLIN) + timedelta(minutes=30)  # the next half hour after: inside 120 minutes
    soon = soon.replace(minute=0 if soon.minute < 30 else 30, second=0, microsecond=0) + timedelta(minutes=30)
    clear_log(fresh)
    result = tool(retell, "book_appointment", date=soon.date().isoformat(), time=f"{soon:%H:%M}", **FOEHNEN)
    assert result["success"] is False, result
    assert calls_to(fresh, "POST", "/v2/bookings") == []
