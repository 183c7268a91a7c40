"""What a caller gets when Cal.com's own rules decide (issue 10), over the HTTP front with signed
Retell requests, the booking saga on moto's engine and the contract-enforcing stand-in:

- "bei Fabian" books every segment on Fabian, on his own one-host event types, and reschedules the
  same way, with request sequences that pass Cal.com's contract;
- nothing is offered inside the minimum notice (Cal.com's default 120 minutes, a company setting);
- a 400 from Cal.com's validation is "something went wrong on our side", never "that time is taken";
- a company west of UTC is offered its evening slots (the day's window from its local midnight).

The clock is pinned (tests/conftest.py): by default Tuesday 2026-03-10, 08:00 in Berlin, when the run
starts; the clock sweep runs these tests on every weekday too.
"""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import time_machine

from local.calcom_standin.contract import check_traffic
from tests.helpers import BERLIN, next_monday

CALL = {
    "call_id": "call_contract",
    "from_number": "+4915112345678",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}
FABIAN = 1420209
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def tool(retell, name: str, call: dict = CALL, **args) -> dict:
    response = retell.tool(name, args, call)
    assert response.status_code == 200, response.text
    return response.json()


def standin_log(stack) -> list[dict]:
    return httpx.get(f"{stack.calcom_url}/_standin/requests").raise_for_status().json()


def clear_log(stack) -> None:
    httpx.delete(f"{stack.calcom_url}/_standin/requests").raise_for_status()


def bookings(stack) -> list[dict]:
    return httpx.get(f"{stack.calcom_url}/_standin/bookings").raise_for_status().json()


def fabians_event_types(service_id: str) -> dict[str, int]:
    repository = importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository()
    return {
        e.segment_key: e.event_type_id
        for e in repository.list("salon-demo", service_id)
        if e.host_user_id == FABIAN and e.sync_status == "synced"
    }


def assert_contract_clean(entries: list[dict]) -> None:
    ours = [e for e in entries if str(e.get("user_agent", "")).startswith("calbridge")]
    assert ours, "calbridge sent nothing to Cal.com"
    report = check_traffic(ours)
    assert report.ok, "\n".join(report.violations)
    assert all(e["status"] < 400 for e in ours), [(e["method"], e["path"], e["status"]) for e in ours]


# ------------------------------------------------------------------ staff pinned by the event type


def test_bei_fabian_books_and_moves_every_segment_on_fabian_within_the_contract(fresh, retell):
    monday = next_monday()
    clear_log(fresh)

    booked = tool(
        retell,
        "book_appointment",
        service="Ansatzfärbung",
        date=monday,
        time="14:00",
        mitarbeiter="Fabian",
        customer_name="Anna Schmidt",
    )

    assert booked["success"] and booked["data"]["staff_id"] == "fabian-spitzer", booked
    segment_types = fabians_event_types("177")
    active = [b for b in bookings(fresh) if b["status"] == "accepted"]
    assert len(active) == 4
    assert {b["hostUserIds"][0] for b in active} == {FABIAN}
    assert {b["metadata"]["calbridge_hold"]: b["eventTypeId"] for b in active} == segment_types
    creates = [e for e in standin_log(fresh) if (e["method"], e["path"]) == ("POST", "/v2/bookings")]
    assert len(creates) == 4 and all("routing" not in e["body"] for e in creates)
    # A booking asks Cal.com nothing before its creates: they decide (docs/adr/0018).
    assert not [e for e in standin_log(fresh) if e["path"] == "/v2/slots"]
    assert_contract_clean(standin_log(fresh))

    clear_log(fresh)
    tuesday = (date.fromisoformat(monday) + timedelta(days=1)).isoformat()
    moved = tool(
        retell,
        "reschedule_appointment",
        confirmation_code=booked["data"]["confirmation_code"],
        new_date=tuesday,
        new_time="10:30",
    )

    assert moved["success"] and moved["data"]["staff_id"] == "fabian-spitzer", moved
    now_active = [b for b in bookings(fresh) if b["status"] == "accepted"]
    assert len(now_active) == 4 and not {b["uid"] for b in now_active} & {b["uid"] for b in active}
    assert {b["hostUserIds"][0] for b in now_active} == {FABIAN}
    assert {b["eventTypeId"] for b in now_active} == set(segment_types.values())
    assert all(b["start"].startswith(tuesday) for b in now_active)
    checks = [e for e in standin_log(fresh) if e["path"] == "/v2/slots"]  # the reschedule checks first
    assert checks and all("rrHostSubsetIds" not in e["query"] for e in checks)
    assert_contract_clean(standin_log(fresh))


# ------------------------------------------------------------------ minimum notice


def next_tuesday_8am() -> datetime:
    """08:00 in Berlin on the first Tuesday after the run's "today" (Fabian works Mon-Sat)."""
    today = datetime.now(BERLIN).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, 8, 0, tzinfo=BERLIN)


def test_nothing_is_offered_inside_the_minimum_notice(fresh, retell):
    with time_machine.travel(next_tuesday_8am(), tick=True):  # the stand-in's clock follows
        minimum_notice_is_honoured(fresh, retell)


def minimum_notice_is_honoured(fresh, retell) -> None:
    now = datetime.now(BERLIN)  # 08:00 on a Tuesday, and running on
    today = now.date().isoformat()
    earliest = now + timedelta(minutes=120)

    asked = tool(
        retell, "check_availability", service="Föhnen", date=today, time="09:00", mitarbeiter="Fabian"
    )

    assert asked["data"]["available"] is False, asked
    offered = [datetime.fromisoformat(a["start"]) for a in asked["data"]["alternatives"]]
    assert offered and all(start >= earliest for start in offered)
    refused = tool(
        retell,
        "book_appointment",
        service="Föhnen",
        date=today,
        time="09:00",
        mitarbeiter="Fabian",
        customer_name="Anna Schmidt",
    )
    assert refused["success"] is False and refused["data"]["error"] == "slot_unavailable", refused
    assert not [b for b in bookings(fresh) if b["status"] == "accepted"]

    # The salon takes bookings 30 minutes ahead: the setting reaches Cal.com's event types too, and
    # availability once the cached slots (60 s) and company reads (30 s) have expired.
    admin = httpx.Client(
        base_url=fresh.http_url,
        headers={"x-calbridge-local-identity": "arn:aws:iam::123456789012:user/admin"},
    )
    assert admin.patch("/admin/companies/salon-demo/settings", json={"minimum_notice_minutes": 30}).is_success
    importlib.import_module("calbridge.services.wiring").clear_caches()  # as after 30 s (monotonic clock)
    with time_machine.travel(datetime.now(BERLIN) + timedelta(seconds=90), tick=True):
        half_hours = (
            now.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=30 * n) for n in range(8)
        )
        soon = next(start for start in half_hours if start >= datetime.now(BERLIN) + timedelta(minutes=30))
        booked = tool(
            retell,
            "book_appointment",
            {**CALL, "call_id": "call_contract_later"},  # another call: no replay of the first answer
            service="Föhnen",
            date=today,
            time=soon.strftime("%H:%M"),
            mitarbeiter="Fabian",
            customer_name="Anna Schmidt",
        )
    assert booked["success"], booked
    assert soon < earliest  # inside the old notice


# ------------------------------------------------------------------ Cal.com refusing our request


def test_a_validation_400_is_our_error_not_a_taken_time(fresh, retell, caplog):
    httpx.post(
        f"{fresh.calcom_url}/_standin/faults",
        json=[{"endpoint": "POST /v2/bookings", "fault": "4xx", "status": 400, "nth": 2,
               "message": "attendee property is wrong, phoneNumber property is wrong,phoneNumber must be a "
                          "valid phone number "}],
    ).raise_for_status()  # fmt: skip

    result = tool(
        retell,
        "book_appointment",
        service="Ansatzfärbung",
        date=next_monday(),
        time="14:00",
        mitarbeiter="Fabian",
        customer_name="Anna Schmidt",
    )

    assert result["success"] is False and result["data"]["error"] == "booking_system_error", result
    assert (
        "technischer Fehler" in result["message"] and "An Ihrer Uhrzeit liegt es nicht" in result["message"]
    )
    assert "nichts frei" not in result["message"] and "alternatives" not in result["data"]
    assert not [b for b in bookings(fresh) if b["status"] == "accepted"]  # the first segment undone
    logged = [r for r in caplog.records if r.getMessage() == "Cal.com refused our request as malformed"]
    assert logged and logged[0].levelname == "ERROR" and "phoneNumber" in logged[0].calcom_message


# ------------------------------------------------------------------ a company west of UTC


def test_a_company_west_of_utc_is_offered_its_evening(fresh, retell):
    """Los Angeles, staff working 12:00-20:00: from 16:00 local the slots lie on the next UTC day."""
    models = importlib.import_module("calbridge.domain.models")
    store = importlib.import_module("calbridge.adapters.store.repositories")
    httpx.post(
        f"{fresh.calcom_url}/_standin/members",
        json={"user_id": 1420400, "email": "mia@example.com", "name": "Mia Lopez", "username": "mia",
              "time_zone": "America/Los_Angeles",
              "working_hours": [{"days": [1, 2, 3, 4, 5], "start": "12:00", "end": "20:00"}]},
    ).raise_for_status()  # fmt: skip
    store.CompanyRepository().save(
        models.Company(
            company_id="studio-la",
            name="Studio LA",
            timezone="America/Los_Angeles",
            language="en",
            calcom_team_id=39203,
            branches=[models.Branch(branch_id="main", name="Studio")],
        )
    )
    store.StaffRepository().save(
        models.StaffMember(company_id="studio-la", staff_id="mia", name="Mia Lopez", calcom_user_id=1420400)
    )
    store.ServiceRepository().save(
        models.Service(
            company_id="studio-la", service_id="cut", name="Haircut", duration=60, staff_ids=["mia"]
        )
    )
    report = (
        importlib.import_module("calbridge.services.wiring").event_type_provisioner().provision("studio-la")
    )
    assert report.ok and len(report.created) == 1, report.summary()
    call = {"call_id": "call_la", "from_number": "+13105550100", "metadata": {"company_id": "studio-la"}}
    monday = next_monday()

    evening = tool(retell, "check_availability", call, service="Haircut", date=monday, time="18:00")
    day = tool(retell, "check_availability", call, service="Haircut", date=monday)

    assert evening["success"] and evening["data"]["available"] is True, evening
    six_pm = datetime.combine(date.fromisoformat(monday), time(18, 0), tzinfo=LOS_ANGELES)
    assert datetime.fromisoformat(evening["data"]["start"]) == six_pm
    starts = [datetime.fromisoformat(s["start"]).astimezone(LOS_ANGELES) for s in day["data"]["starts"]]
    assert starts and starts[0].hour == 12  # the first of the day, as the caller hears them
    slots = [
        e
        for e in standin_log(fresh)
        if e["path"] == "/v2/slots" and e["query"]["timeZone"] == "America/Los_Angeles"
    ]
    assert slots and all(e["query"]["start"].endswith("Z") and "T" in e["query"]["start"] for e in slots)
    booked = tool(
        retell,
        "book_appointment",
        call,
        service="Haircut",
        date=monday,
        time="19:00",
        customer_name="Sam Lee",
    )
    assert booked["success"], booked
    seven_pm = datetime.combine(date.fromisoformat(monday), time(19, 0), tzinfo=LOS_ANGELES).astimezone(UTC)
    assert seven_pm.date() > date.fromisoformat(monday)  # the next UTC day
    [booking] = [b for b in bookings(fresh) if b["status"] == "accepted"]
    assert booking["start"] == seven_pm.strftime("%Y-%m-%dT%H:%M:%S.000Z")
