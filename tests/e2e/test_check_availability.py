"""check_availability over the HTTP front: signed tool calls, the stand-in's real slots."""

from __future__ import annotations

import importlib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.helpers import BERLIN, link_staff, next_monday

CALL = {"call_id": "call_availability", "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"}}


def ask(retell, **args):
    response = retell.tool("check_availability", args, CALL)
    assert response.status_code == 200, response.text
    return response.json()


def test_free_composite_start_with_the_preferred_staff_member(fresh, retell):
    result = ask(retell, service="Ansatzfärbung", date=next_monday(), time="14:00", mitarbeiter="Fabian")
    assert result["success"] and result["data"]["available"]
    assert result["data"]["staff_id"] == "fabian-spitzer"
    assert [(s["key"], s["start"], s["end"]) for s in result["data"]["segments"]] == [
        ("A", "14:00", "14:30"),
        ("B", "15:15", "15:30"),
        ("C", "15:30", "16:00"),
        ("D", "16:00", "16:30"),
    ]
    assert "bei Fabian Spitzer frei" in result["message"] and "45 Minuten Einwirkzeit" in result["message"]


def test_taken_time_offers_three_alternatives_same_day_first(fresh, retell):
    monday = next_monday()
    start = datetime.fromisoformat(f"{monday}T15:30").replace(tzinfo=BERLIN).astimezone(ZoneInfo("UTC"))
    httpx.post(
        f"{fresh.calcom_url}/_standin/bookings",
        json={"start": start.isoformat(), "duration": 45, "event_type_id": 3719001, "host_user_id": 1420209},
    ).raise_for_status()
    result = ask(retell, service="Ansatzfärbung", date=monday, time="14:00", mitarbeiter="Fabian")
    assert result["success"] and not result["data"]["available"]
    alternatives = result["data"]["alternatives"]
    assert len(alternatives) == 3 and all(a["start"].startswith(monday) for a in alternatives)
    assert result["message"].startswith("Am ") and "ist leider nichts frei" in result["message"]
    assert "Frei wäre" in result["message"]


def test_without_a_time_the_first_free_starts_are_offered(fresh, retell):
    result = ask(retell, service="Damenhaarschnitt", date=next_monday())
    assert result["success"] and len(result["data"]["starts"]) == 3
    assert result["message"].startswith("Frei wäre")


def test_a_closed_day_with_four_staff_offers_the_next_day_within_eight_calcom_requests(fresh, retell):
    """Issue 11's worst case: no preference, four staff, a Sunday (the salon is closed): the asked
    day and the week after it in one round of at most 8 slots requests (docs/adr/0016)."""
    users = {
        "fabian-spitzer": 1420209,
        "emma-williams": 1420210,
        "lena-mueller": 1420211,
        "sara-oezdemir": 1420212,
    }
    services = importlib.import_module("calbridge.adapters.store.repositories").ServiceRepository()
    services.save(services.get("salon-demo", "177").model_copy(update={"staff_ids": list(users)}))
    for staff_id, user_id in users.items():
        link_staff(staff_id, user_id)
    sunday = date.fromisoformat(next_monday()) + timedelta(days=6)
    httpx.delete(f"{fresh.calcom_url}/_standin/requests").raise_for_status()

    result = ask(retell, service="Ansatzfärbung", date=sunday.isoformat(), time="11:00")

    assert result["success"] and not result["data"]["available"]
    monday = (sunday + timedelta(days=1)).isoformat()
    assert [a["start"][:10] for a in result["data"]["alternatives"]] == [monday] * 3
    served = httpx.get(f"{fresh.calcom_url}/_standin/requests").json()
    assert len([r for r in served if r["path"] == "/v2/slots"]) == 8


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"service": "Massage", "date": "2099-01-01"}, "unknown_service"),
        ({"service": "Ansatzfärbung", "date": "irgendwann mal"}, "invalid_date"),
        ({"service": "Ansatzfärbung", "date": "2026-02-30"}, "invalid_date"),
        ({"service": "Ansatzfärbung", "date": "NEXT_MONDAY", "time": "25:00"}, "invalid_time"),
        ({"service": "Ansatzfärbung", "date": "2020-01-06", "time": "10:00"}, "date_in_past"),
        ({"service": "Ansatzfärbung", "date": "2099-01-05"}, "beyond_booking_window"),
        ({"service": "Ansatzfärbung", "date": "NEXT_MONDAY", "mitarbeiter": "Klaus"}, "unknown_staff"),
        ({"service": "Ansatzfärbung", "date": "NEXT_MONDAY", "mitarbeiter": "Emma"}, "staff_not_for_service"),
    ],
)
def test_bad_requests_get_a_speakable_no(fresh, retell, args, error):
    args = {k: (next_monday() if v == "NEXT_MONDAY" else v) for k, v in args.items()}
    result = ask(retell, **args)
    assert result["success"] is False and result["data"]["error"] == error
    assert result["message"] and "Traceback" not in result["message"]


def test_wrong_typed_args_are_a_question_not_a_protocol_error(fresh, retell):
    # Issue 11: an argument mistake an LLM makes is a speakable success:false, HTTP 4xx only for
    # protocol faults (tests/e2e/test_truthful_answers.py covers the other tools).
    result = ask(retell, service="Föhnen", date=20260302)
    assert result["success"] is False and result["data"]["error"] == "invalid_argument", result
    assert result["data"]["argument"] == "date" and result["message"].startswith("Für welchen Tag")
