"""cancel_appointment and reschedule_appointment over the HTTP front: the caller's appointment is
found by the phone of the call (narrowed by day or service) or by confirmation code, and the
cancel / reschedule sagas run on moto's engine against the Cal.com stand-in."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, time, timedelta

import httpx

from tests.helpers import BERLIN, link_staff, next_monday

CALLER = "+4915112345678"
CALL = {
    "call_id": "call_changes",
    "from_number": CALLER,
    "to_number": "+4930123456789",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}


def tool(retell, name: str, call: dict | None = None, **args) -> dict:
    response = retell.tool(name, args, call or CALL)
    assert response.status_code == 200, response.text
    return response.json()


def book(retell, call: dict | None = None, **args) -> dict:
    result = tool(retell, "book_appointment", call, customer_name="Anna Schmidt", **args)
    assert result["success"] and result["data"]["booked"], result
    return result["data"]


def standin_bookings(stack) -> list[dict]:
    bookings = httpx.get(f"{stack.calcom_url}/_standin/bookings").json()
    return bookings.get("data", bookings) if isinstance(bookings, dict) else bookings


def active_uids(stack) -> set[str]:
    return {b["uid"] for b in standin_bookings(stack) if b["status"] == "accepted"}


def appointment_item(stack, appointment_id: str) -> dict:
    item = stack.boto3_client("dynamodb").get_item(
        TableName="AppointmentsTable",
        Key={"company_id": {"S": "salon-demo"}, "appointment_id": {"S": appointment_id}},
        ConsistentRead=True,
    )["Item"]
    return item


def uids_of(stack, appointment_id: str) -> set[str]:
    return {v["S"] for v in appointment_item(stack, appointment_id)["calcom_booking_uids"]["M"].values()}


def day_after(day: str, days: int = 1) -> str:
    return (datetime.fromisoformat(day).date() + timedelta(days=days)).isoformat()


# ------------------------------------------------------------------ finding the appointment


def test_cancel_by_phone_and_date_cancels_every_calcom_booking(fresh, retell):
    monday = next_monday()
    booked = book(retell, service="Ansatzfärbung", date=monday, time="14:00", mitarbeiter="Fabian")
    ours = uids_of(fresh, booked["appointment_id"])
    assert len(ours) == 4 and ours <= active_uids(fresh)

    result = tool(retell, "cancel_appointment", date=monday)
    assert result["success"] and result["data"]["cancelled"], result
    assert result["message"].startswith("Ihr Termin Ansatzfärbung") and "ist storniert" in result["message"]
    assert "bei Fabian Spitzer" in result["message"] and "14:00 Uhr" in result["message"]
    assert result["data"]["appointment_id"] == booked["appointment_id"]

    assert not ours & active_uids(fresh), "the stand-in still holds bookings of the cancelled appointment"
    assert appointment_item(fresh, booked["appointment_id"])["status"]["S"] == "cancelled"


def test_cancel_by_service_name_picks_that_appointment(fresh, retell):
    monday = next_monday()
    hair = book(retell, service="Damenhaarschnitt", date=monday, time="09:00", mitarbeiter="Fabian")
    dry = book(retell, service="Föhnen", date=day_after(monday), time="11:00", mitarbeiter="Fabian")

    result = tool(retell, "cancel_appointment", service="föhnen")
    assert result["success"], result
    assert result["data"]["appointment_id"] == dry["appointment_id"]
    assert appointment_item(fresh, hair["appointment_id"])["status"]["S"] == "booked"
    assert uids_of(fresh, hair["appointment_id"]) <= active_uids(fresh)


def test_cancel_by_confirmation_code_from_another_phone(fresh, retell):
    booked = book(retell, service="Föhnen", date=next_monday(), time="10:00")
    other_phone = {**CALL, "from_number": "+4917099999999", "call_id": "call_other_phone"}
    spoken = " ".join(booked["confirmation_code"].lower())  # "a b c 2 3 4", as the LLM may pass it

    result = tool(retell, "cancel_appointment", other_phone, confirmation_code=spoken)
    assert result["success"] and result["data"]["appointment_id"] == booked["appointment_id"], result


def test_several_matches_are_a_question_and_nothing_is_cancelled(fresh, retell):
    monday = next_monday()
    book(retell, service="Damenhaarschnitt", date=monday, time="09:00", mitarbeiter="Fabian")
    book(retell, service="Föhnen", date=monday, time="15:00", mitarbeiter="Fabian")
    before = active_uids(fresh)

    result = tool(retell, "cancel_appointment", date=monday)
    assert result["success"] is False and result["data"]["error"] == "ambiguous_appointment"
    assert result["message"].startswith("Ich habe 2 Termine gefunden: Damenhaarschnitt am ")
    assert " oder Föhnen am " in result["message"] and result["message"].endswith("Welchen meinen Sie?")
    assert [a["service"] for a in result["data"]["appointments"]] == ["Damenhaarschnitt", "Föhnen"]
    assert all("confirmation_code" not in a for a in result["data"]["appointments"])
    assert active_uids(fresh) == before


def test_no_match_is_a_speakable_no(fresh, retell):
    monday = next_monday()
    book(retell, service="Föhnen", date=monday, time="10:00")

    wrong_day = tool(retell, "cancel_appointment", date=day_after(monday))
    assert wrong_day["success"] is False and wrong_day["data"]["error"] == "appointment_not_found"
    assert "keinen passenden Termin" in wrong_day["message"]

    stranger = tool(retell, "cancel_appointment", {**CALL, "call_id": "c2", "from_number": "+4917011111111"})
    assert stranger["data"]["error"] == "appointment_not_found"

    unknown_code = tool(retell, "cancel_appointment", confirmation_code="ZZZZZZ")
    assert (
        unknown_code["data"]["error"] == "appointment_not_found"
        and "Bestätigungscode" in unknown_code["message"]
    )

    anonymous = {k: v for k, v in CALL.items() if k != "from_number"}
    anonymous = tool(retell, "cancel_appointment", {**anonymous, "call_id": "c3"})
    assert anonymous["data"]["error"] == "need_identification"


def test_a_national_number_named_by_the_caller_finds_their_appointment_then_asks_for_the_code(fresh, retell):
    booked = book(retell, service="Föhnen", date=next_monday(), time="10:00")
    from_elsewhere = {**CALL, "from_number": "+4917099999999"}

    result = tool(retell, "cancel_appointment", from_elsewhere, customer_phone="0151 12345678")
    assert result["data"]["error"] == "confirmation_code_needed", result
    assert appointment_item(fresh, booked["appointment_id"])["status"]["S"] == "booked"


def test_a_cancelled_appointment_cannot_be_cancelled_again(fresh, retell):
    booked = book(retell, service="Föhnen", date=next_monday(), time="10:00")
    assert tool(retell, "cancel_appointment", confirmation_code=booked["confirmation_code"])["success"]

    again = tool(
        retell,
        "cancel_appointment",
        {**CALL, "call_id": "call_later"},
        confirmation_code=booked["confirmation_code"],
    )
    assert again["success"] is False and again["data"]["error"] == "appointment_not_active"
    assert tool(retell, "cancel_appointment", {**CALL, "call_id": "call_later"})["data"]["error"] == (
        "appointment_not_found"
    )


def test_another_companys_appointment_is_never_found(fresh, retell):
    booked = book(retell, service="Föhnen", date=next_monday(), time="10:00")
    companies = fresh.boto3_client("dynamodb")
    item = companies.get_item(TableName="CompaniesTable", Key={"company_id": {"S": "salon-demo"}})["Item"]
    companies.put_item(TableName="CompaniesTable", Item={**item, "company_id": {"S": "salon-other"}})
    other = {**CALL, "metadata": {"company_id": "salon-other"}}

    by_phone = tool(retell, "cancel_appointment", other)
    by_code = tool(retell, "cancel_appointment", other, confirmation_code=booked["confirmation_code"])
    assert by_phone["data"]["error"] == by_code["data"]["error"] == "appointment_not_found"
    assert appointment_item(fresh, booked["appointment_id"])["status"]["S"] == "booked"


# ------------------------------------------------------------------ reschedule


def test_reschedule_moves_the_appointment_to_new_calcom_bookings(fresh, retell):
    monday = next_monday()
    booked = book(retell, service="Ansatzfärbung", date=monday, time="10:00", mitarbeiter="Fabian")
    old = uids_of(fresh, booked["appointment_id"])

    result = tool(retell, "reschedule_appointment", date=monday, new_date=monday, new_time="14:00")
    assert result["success"] and result["data"]["rescheduled"], result
    assert result["message"].startswith("Ihr Termin ist verschoben: Ansatzfärbung")
    assert (
        "14:00 Uhr bei Fabian Spitzer" in result["message"] and "45 Minuten Einwirkzeit" in result["message"]
    )
    assert f"bleibt {' '.join(booked['confirmation_code'])}" in result["message"]
    assert result["data"]["confirmation_code"] == booked["confirmation_code"]

    item = appointment_item(fresh, booked["appointment_id"])
    start = datetime.fromisoformat(f"{monday}T14:00").replace(tzinfo=BERLIN).astimezone(UTC)
    assert datetime.fromisoformat(item["starts_at"]["S"].replace("+0000", "+00:00")) == start
    new = uids_of(fresh, booked["appointment_id"])
    assert len(new) == 4 and not new & old
    active = active_uids(fresh)
    assert new <= active and not old & active


def test_reschedule_with_another_staff_member(fresh, retell):
    link_staff("emma-williams", 1420210)  # as the nightly team sync does
    tuesday = day_after(next_monday())
    booked = book(retell, service="Föhnen", date=tuesday, time="10:00", mitarbeiter="Fabian")

    result = tool(
        retell,
        "reschedule_appointment",
        confirmation_code=booked["confirmation_code"],
        new_date=tuesday,
        new_time="11:00",
        mitarbeiter="Emma Wiliams",
    )
    assert result["success"] and result["data"]["staff_id"] == "emma-williams", result
    assert "11:00 Uhr bei Emma Williams" in result["message"]
    assert appointment_item(fresh, booked["appointment_id"])["staff_id"]["S"] == "emma-williams"


def test_reschedule_to_a_taken_time_offers_alternatives_and_changes_nothing(fresh, retell):
    monday = next_monday()
    booked = book(retell, service="Föhnen", date=monday, time="10:00", mitarbeiter="Fabian")
    taken = datetime.fromisoformat(f"{monday}T15:00").replace(tzinfo=BERLIN).astimezone(UTC)
    httpx.post(
        f"{fresh.calcom_url}/_standin/bookings",
        json={"start": taken.isoformat(), "duration": 60, "event_type_id": 3719001, "host_user_id": 1420209},
    ).raise_for_status()
    before_uids, before_item = (
        uids_of(fresh, booked["appointment_id"]),
        appointment_item(fresh, booked["appointment_id"]),
    )

    result = tool(retell, "reschedule_appointment", service="Föhnen", new_date=monday, new_time="15:00")
    assert result["success"] is False and result["data"]["error"] == "slot_unavailable", result
    assert result["data"]["alternatives"] and "ist leider nichts frei" in result["message"]
    assert "Frei wäre" in result["message"]
    assert all(a["staff_id"] == "fabian-spitzer" for a in result["data"]["alternatives"])
    assert appointment_item(fresh, booked["appointment_id"]) == before_item
    assert before_uids <= active_uids(fresh)


def test_reschedule_refuses_a_past_or_unclear_new_time(fresh, retell):
    monday = next_monday()
    book(retell, service="Föhnen", date=monday, time="10:00")
    past = tool(retell, "reschedule_appointment", new_date="2020-01-06", new_time="10:00")
    assert past["success"] is False and past["data"]["error"] == "date_in_past"
    missing = tool(retell, "reschedule_appointment", new_date=monday)
    assert missing["data"]["argument"] == "new_time"
    assert missing["message"] == "Auf welche Uhrzeit möchten Sie den Termin verschieben?"


# ------------------------------------------------------------------ natural dates (domain/when.py)


def test_appointments_are_found_and_moved_with_days_and_times_as_said(fresh, retell):
    today = datetime.now(BERLIN).date()
    monday = (today + timedelta(days=(7 - today.weekday()) % 7 or 7)).isoformat()  # what "Montag" means
    booked = book(retell, service="Föhnen", date=monday, time="10:00", mitarbeiter="Fabian")

    result = tool(
        retell,
        "reschedule_appointment",
        date="Montag",
        time="10 Uhr",
        new_date="nächsten Montag",
        new_time="halb drei",
    )
    assert result["success"], result  # half past two, read inside the salon's Monday hours: 14:30
    assert result["data"]["start"].startswith(f"{monday}T14:30")
    assert result["data"]["appointment_id"] == booked["appointment_id"]


def test_tomorrow_is_understood(fresh, retell):
    tomorrow = (datetime.now(BERLIN).date() + timedelta(days=1)).isoformat()
    result = tool(retell, "check_availability", service="Föhnen", date="morgen", time="14 Uhr")
    assert result["success"], result
    if result["data"]["available"]:
        assert result["data"]["start"].startswith(f"{tomorrow}T14:00")
    else:  # a Sunday, or a full day: the asked time is named back
        assert result["message"].startswith("Morgen um 14:00 Uhr ist leider nichts frei")


def test_a_time_open_in_the_morning_and_the_evening_is_asked_back(fresh, retell):
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    models = importlib.import_module("calbridge.domain.models")
    salon = repositories.CompanyRepository().get("salon-demo")
    long_days = models.OpeningHours(weekly={day: [(time(7), time(22))] for day in range(6)})
    repositories.CompanyRepository().save(salon.model_copy(update={"opening_hours": long_days}))
    booked = book(retell, service="Föhnen", date=next_monday(), time="10:00")
    before = appointment_item(fresh, booked["appointment_id"])

    result = tool(retell, "reschedule_appointment", new_date="nächsten Montag", new_time="halb neun")
    assert result["success"] is False and result["data"]["error"] == "ambiguous_time", result
    assert result["message"] == "Meinen Sie 8:30 Uhr morgens oder 20:30 Uhr abends?"
    assert result["data"]["options"] == ["08:30", "20:30"]
    assert appointment_item(fresh, booked["appointment_id"]) == before


# ------------------------------------------------------------------ the call record


def test_the_call_record_lists_what_the_call_did_to_appointments(fresh, retell):
    monday = next_monday()
    booked = book(retell, service="Ansatzfärbung", date=monday, time="10:00", mitarbeiter="Fabian")
    assert tool(retell, "reschedule_appointment", date=monday, new_date=monday, new_time="14:00")["success"]
    assert tool(retell, "cancel_appointment", date=monday)["success"]
    assert tool(retell, "cancel_appointment", date=monday)["success"]  # a replay: noted once only

    calls = importlib.import_module("calbridge.adapters.store.calls").CallRepository()
    record = calls.get("salon-demo", CALL["call_id"])
    assert record is not None
    assert [(a.appointment_id, a.action) for a in record.appointments] == [
        (booked["appointment_id"], "booked"),
        (booked["appointment_id"], "rescheduled"),
        (booked["appointment_id"], "cancelled"),
    ]
