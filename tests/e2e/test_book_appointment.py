"""book_appointment over the HTTP front: availability, the booking saga on moto's engine, the stand-in."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import httpx

from tests.helpers import BERLIN, next_monday

CALL = {
    "call_id": "call_booking",
    "from_number": "+4915112345678",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}


def book(retell, call=CALL, **args):
    response = retell.tool("book_appointment", args, call)
    assert response.status_code == 200, response.text
    return response.json()


def active_bookings(stack) -> list[dict]:
    bookings = httpx.get(f"{stack.calcom_url}/_standin/bookings").json()
    bookings = bookings.get("data", bookings) if isinstance(bookings, dict) else bookings
    return [b for b in bookings if b["status"] == "accepted"]


def test_composite_booking_end_to_end(fresh, retell):
    result = book(
        retell,
        service="Ansatzfärbung",
        date=next_monday(),
        time="14:00",
        customer_name="Anna Schmidt",
        mitarbeiter="Fabian",
    )
    assert result["success"] and result["data"]["booked"], result
    code = result["data"]["confirmation_code"]
    assert result["message"].startswith("Ihr Termin ist gebucht: Ansatzfärbung")
    assert " ".join(code) in result["message"] and "45 Minuten Einwirkzeit" in result["message"]

    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in fresh.last_express_history("BookingStateMachine")
        if "stateEnteredEventDetails" in e
    ]
    # The tool layer planned already (its warm container's reads) and took the lease: the workflow
    # skips the Plan and AcquireLock tasks, and Finalize checks the hosts itself (ADR 0019).
    assert entered[:2] == ["PlanGiven", "ReserveHolds"] and entered[-2:] == ["Finalize", "Booked"]
    assert not {"Plan", "AcquireLock", "AssignStaff"} & set(entered)

    bookings = active_bookings(fresh)
    assert len(bookings) == 4
    assert {b["hosts"][0]["id"] for b in bookings} == {1420209}
    local = ["14:00", "15:15", "15:30", "16:00"]  # A, then the 45-minute pause, B, C, D
    monday = bookings[0]["start"][:10]
    expected = [datetime.fromisoformat(f"{monday}T{t}").replace(tzinfo=BERLIN).astimezone(UTC) for t in local]
    assert sorted(b["start"] for b in bookings) == [t.strftime("%Y-%m-%dT%H:%M:%S.000Z") for t in expected]

    appointments = fresh.boto3_client("dynamodb").scan(TableName="AppointmentsTable")["Items"]
    booked = [i for i in appointments if i.get("kind", {}).get("S") == "appointment"]
    assert len(booked) == 1 and booked[0]["confirmation_code"]["S"] == code
    # The lease the tool layer took is given back by Finalize's transaction (the Cal.com key's
    # rate-limit budget, partition #calcom, is no lease: ADR 0027).
    leases = fresh.boto3_client("dynamodb").scan(TableName="LeasesTable")["Items"]
    assert [item for item in leases if item["company_id"]["S"] != "#calcom"] == []


def test_the_same_slot_twice_offers_alternatives_instead(fresh, retell):
    args = {"service": "Ansatzfärbung", "date": next_monday(), "time": "14:00", "customer_name": "Anna"}
    assert book(retell, mitarbeiter="Fabian", **args)["success"]
    # Another call (the same call repeating itself gets its first answer: idempotency, ADR 0008).
    second = book(retell, {**CALL, "call_id": "call_booking_other"}, mitarbeiter="Fabian", **args)
    assert second["success"] is False and second["data"]["error"] == "slot_unavailable"
    assert second["data"]["alternatives"] and "Frei wäre" in second["message"]
    assert len(active_bookings(fresh)) == 4


def test_a_caller_we_cannot_reach_is_asked_for_contact_details(fresh, retell):
    call = {k: v for k, v in CALL.items() if k != "from_number"}
    response = retell.tool(
        "book_appointment",
        {"service": "Föhnen", "date": next_monday(), "time": "10:00", "customer_name": "Anna"},
        call,
    )
    assert response.json()["data"]["error"] == "customer_unreachable"
    assert active_bookings(fresh) == []


def test_missing_customer_name_is_asked_for(fresh, retell):
    response = retell.tool(
        "book_appointment", {"service": "Föhnen", "date": next_monday(), "time": "10:00"}, CALL
    )
    assert response.status_code == 200 and response.json()["data"]["argument"] == "customer_name"
    assert response.json()["message"] == "Auf welchen Namen darf ich den Termin eintragen?"
    assert active_bookings(fresh) == []


def test_flexible_gap_stretches_to_fit_and_the_saga_books_the_stretched_plan(fresh, retell):
    services = importlib.import_module("calbridge.adapters.store.repositories").ServiceRepository()
    service = services.get("salon-demo", "177")
    flexible = {**service.model_dump(), "pause_policy": "flexible", "max_gap_stretch": 30}
    services.save(type(service).model_validate(flexible))
    importlib.import_module("calbridge.services.wiring").event_type_provisioner().provision("salon-demo")
    monday = next_monday()
    # Fabian is busy when segment B would start without stretching (15:15-15:30 Berlin).
    start = datetime.fromisoformat(f"{monday}T15:15").replace(tzinfo=BERLIN).astimezone(UTC)
    httpx.post(
        f"{fresh.calcom_url}/_standin/bookings",
        json={"start": start.isoformat(), "duration": 15, "event_type_id": 3719003, "host_user_id": 1420209},
    ).raise_for_status()
    result = book(
        retell, service="Ansatzfärbung", date=monday, time="14:00", customer_name="Anna", mitarbeiter="Fabian"
    )
    assert result["success"], result
    segments = {s["key"]: s["start"] for s in result["data"]["segments"]}
    assert segments["A"] == "14:00" and segments["B"] > "15:15"
    ours = [b for b in active_bookings(fresh) if (b.get("metadata") or {}).get("calbridge_booking_id")]
    assert len(ours) == 4


def test_a_staff_member_an_admin_linked_is_bookable_before_the_next_team_sync(fresh, retell):
    """Lena's Cal.com user is known only from the admin's mapping (the team sync has not written her
    `calcom_user_id` yet): availability offers her, so booking takes her too (the same rule)."""
    with httpx.Client(
        base_url=fresh.http_url, headers={"x-calbridge-local-identity": "arn:aws:iam::123456789012:user/a"}
    ) as admin:
        linked = admin.post(
            "/admin/companies/salon-demo/host-mappings",
            json={"host_id": 1420211, "staff_id": "lena-mueller", "reason": "Lena Muller is Lena Müller"},
        )
        assert linked.status_code == 201, linked.text
        [lena] = [s for s in admin.get("/admin/companies/salon-demo/staff").json()["staff"]
                  if s["staff_id"] == "lena-mueller"]  # fmt: skip
        assert lena["calcom_user_id"] is None
    asked = {"service": "Damenhaarschnitt", "date": next_monday(), "time": "10:30", "mitarbeiter": "Lena"}
    checked = retell.tool("check_availability", asked, CALL).json()
    assert checked["data"]["available"] and checked["data"]["staff_id"] == "lena-mueller", checked

    result = book(retell, **asked, customer_name="Anna Schmidt")
    assert result["success"] and result["data"]["booked"], result
    assert result["data"]["staff_id"] == "lena-mueller"
    assert [b["hosts"][0]["id"] for b in active_bookings(fresh)] == [1420211]
