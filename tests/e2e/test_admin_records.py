"""What happened, readable (issue 13 item 3, ADR 0031): a day's appointments and calls over the admin
API's HTTP front, booked through the real tools, paged, filtered and scoped to their company."""

from __future__ import annotations

import importlib
from datetime import datetime

import httpx
import pytest

from local.events import call_webhook
from tests.e2e.test_admin_api import IDENTITY
from tests.helpers import BERLIN, next_monday

SALON = "/admin/companies/salon-demo"
OTHER = "/admin/companies/salon-two"
CALLER = "+4915112345678"
OTHER_CALLER = "+4917612345699"


def call(call_id: str, branch_id: str, caller: str, company_id: str = "salon-demo") -> dict:
    return {
        "call_id": call_id,
        "from_number": caller,
        "metadata": {"company_id": company_id, "branch_id": branch_id},
    }


def webhook(event: str, placed: dict) -> dict:
    return call_webhook(event, placed["call_id"], **{k: v for k, v in placed.items() if k != "call_id"})


@pytest.fixture(scope="module")
def day(stack):
    """Two bookings of the demo salon on one Monday, by two calls at two branches; a second
    company with a call of its own (module scope: the tests only read, and booking is slow)."""
    from tests.conftest import reseed
    from tests.e2e.test_book_appointment import book

    reseed(stack)
    repositories = importlib.import_module("calbridge.adapters.store.repositories")
    models = importlib.import_module("calbridge.domain.models")
    companies = repositories.CompanyRepository()
    demo = companies.get("salon-demo")
    kreuzberg = models.Branch(
        branch_id="berlin-kreuzberg", name="Kreuzberg", phone_numbers=["+4930765432100"]
    )
    companies.save(demo.model_copy(update={"branches": [*demo.branches, kreuzberg]}))
    companies.save(
        models.Company(
            company_id="salon-two",
            name="Salon Two",
            timezone="Europe/Berlin",
            branches=[{"branch_id": "main", "name": "Main", "phone_numbers": ["+4940555555"]}],
        )
    )
    importlib.import_module("calbridge.services.wiring").clear_caches()

    from local.retell_sim import RetellSimulator

    monday = next_monday()
    retell = RetellSimulator(stack.http_url)
    try:
        mitte = call("call_records_mitte", "berlin-mitte", CALLER)
        kreuzberg = call("call_records_kreuzberg", "berlin-kreuzberg", OTHER_CALLER)
        for placed in (mitte, kreuzberg):
            assert retell.post("/retell/events", webhook("call_started", placed)).status_code == 204
        colour = book(
            retell,
            mitte,
            service="Ansatzfärbung",
            date=monday,
            time="14:00",
            customer_name="Anna Schmidt",
            customer_email="anna@example.org",
            mitarbeiter="Fabian",
        )
        cut = book(
            retell,
            kreuzberg,
            service="Damenhaarschnitt",
            date=monday,
            time="09:00",
            customer_name="Berta Klein",
            mitarbeiter="Fabian",
        )
        assert colour["data"]["booked"] and cut["data"]["booked"], (colour, cut)
        elsewhere = call("call_records_elsewhere", "main", "+4915199999999", company_id="salon-two")
        assert retell.post("/retell/events", webhook("call_started", elsewhere)).status_code == 204
        # A call that booked nothing and ended.
        idle = call("call_records_idle", "berlin-mitte", "+4915188888888")
        for event in ("call_started", "call_ended"):
            assert retell.post("/retell/events", webhook(event, idle)).status_code == 204
    finally:
        retell.close()
    yield {
        "monday": monday,
        "today": datetime.now(BERLIN).date().isoformat(),
        "colour": colour["data"]["confirmation_code"],
        "cut": cut["data"]["confirmation_code"],
    }
    reseed(stack)


@pytest.fixture
def admin(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


def listed(admin, path: str, **params) -> dict:
    response = admin.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def every_page(admin, path: str, **params) -> list[list[dict]]:
    pages, cursor = [], None
    kind = "calls" if path.endswith("/calls") else "appointments"
    while True:
        page = listed(admin, path, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(page[kind])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10


# ------------------------------------------------------------------ appointments


def test_a_day_lists_its_appointments_by_start_with_segments_status_and_source_call(admin, day):
    page = listed(admin, f"{SALON}/appointments", date=day["monday"])
    assert page["timezone"] == "Europe/Berlin" and page["next_cursor"] is None
    cut, colour = page["appointments"]
    assert [cut["confirmation_code"], colour["confirmation_code"]] == [day["cut"], day["colour"]]
    assert cut["start"] < colour["start"]
    assert datetime.fromisoformat(colour["start"]).astimezone(BERLIN).strftime("%H:%M") == "14:00"
    assert colour["status"] == "booked" and colour["staff_id"] == "fabian-spitzer"
    assert colour["call_id"] == "call_records_mitte" and colour["branch_id"] == "berlin-mitte"
    assert cut["call_id"] == "call_records_kreuzberg" and cut["branch_id"] == "berlin-kreuzberg"
    assert colour["service_name"].startswith("Ansatzfärbung")
    segments = colour["segments"]
    assert len(segments) == 4 and [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    local = [datetime.fromisoformat(s["start"]).astimezone(BERLIN).strftime("%H:%M") for s in segments]
    assert local == ["14:00", "15:15", "15:30", "16:00"]
    assert all(s["key"] and s["name"] and s["staff_id"] == "fabian-spitzer" for s in segments)
    assert all(s["status"] == "booked" for s in segments)
    # A list names the customer but shows no contact details in full.
    assert colour["customer_name"] == "Anna Schmidt"
    assert "customer_email" not in colour and colour["customer_phone"] != CALLER
    assert colour["customer_phone"].endswith(CALLER[-2:]) and "*" in colour["customer_phone"]


def test_one_appointment_has_its_segments_and_full_details(admin, day):
    listed_first = listed(admin, f"{SALON}/appointments", date=day["monday"])["appointments"][1]
    response = admin.get(f"{SALON}/appointments/{listed_first['appointment_id']}")
    assert response.status_code == 200, response.text
    found = response.json()["appointment"]
    assert found["confirmation_code"] == day["colour"] and found["customer_phone"] == CALLER
    assert found["customer_email"] == "anna@example.org" and found["branch_id"] == "berlin-mitte"
    assert found["segments"] == listed_first["segments"]


def test_filters_by_branch_staff_and_status(admin, day):
    path = f"{SALON}/appointments"
    codes = lambda **params: [a["confirmation_code"] for a in listed(admin, path, **params)["appointments"]]  # noqa: E731
    assert codes(date=day["monday"], branch_id="berlin-kreuzberg") == [day["cut"]]
    assert codes(date=day["monday"], branch_id="berlin-mitte") == [day["colour"]]
    assert codes(date=day["monday"], staff_id="fabian-spitzer") == [day["cut"], day["colour"]]
    assert codes(date=day["monday"], staff_id="lena-mueller") == []
    assert codes(date=day["monday"], status="booked") == [day["cut"], day["colour"]]
    assert codes(date=day["monday"], status="cancelled") == []
    assert codes(date=day["today"]) == []  # booked today, for Monday: listed on the day they start


def test_paging_returns_every_appointment_once(admin, day):
    pages = every_page(admin, f"{SALON}/appointments", date=day["monday"], limit=1)
    assert [len(p) for p in pages] == [1, 1]
    assert [a["confirmation_code"] for p in pages for a in p] == [day["cut"], day["colour"]]


def test_a_cursor_pages_only_its_own_listing(admin, day):
    cursor = listed(admin, f"{SALON}/appointments", date=day["monday"], limit=1)["next_cursor"]
    assert cursor
    for path, params in [
        (f"{OTHER}/appointments", {"date": day["monday"]}),  # another company
        (f"{SALON}/appointments", {"date": day["today"]}),  # another day
        (f"{SALON}/appointments", {"date": day["monday"], "status": "booked"}),  # another filter
        (f"{SALON}/calls", {"date": day["monday"]}),  # another listing
    ]:
        response = admin.get(path, params={**params, "cursor": cursor})
        assert response.status_code == 400 and response.json()["field"] == "cursor", response.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "date"),
        ({"date": "10.03.2026"}, "date"),
        ({"date": "2026-02-30"}, "date"),
        ({"date": "20260310"}, "date"),
        ({"date": "2026-03-10", "limit": "0"}, "limit"),
        ({"date": "2026-03-10", "limit": "101"}, "limit"),
        ({"date": "2026-03-10", "limit": "ten"}, "limit"),
        ({"date": "2026-03-10", "cursor": "not-ours"}, "cursor"),
        ({"date": "2026-03-10", "cursor": "eyJjIjoic2Fsb24tZGVtbyJ9"}, "cursor"),
        ({"date": "2026-03-10", "status": "lost"}, "status"),
        ({"date": "2026-03-10", "branch_id": " "}, "branch_id"),
    ],
)
def test_bad_queries_are_refused_naming_the_field(admin, day, params, field):
    response = admin.get(f"{SALON}/appointments", params=params)
    assert response.status_code == 400 and response.json()["field"] == field, response.text


def test_unknown_ids_and_other_companies_records_are_not_found(admin, day):
    mine = listed(admin, f"{SALON}/appointments", date=day["monday"])["appointments"][0]["appointment_id"]
    assert admin.get(f"{SALON}/appointments/bk_unknown").status_code == 404
    assert admin.get(f"{OTHER}/appointments/{mine}").status_code == 404
    # A segment's or a code's item is no appointment.
    assert admin.get(f"{SALON}/appointments/code%23{day['cut']}").status_code == 404
    assert listed(admin, f"{OTHER}/appointments", date=day["monday"])["appointments"] == []
    assert admin.get(f"{SALON}/calls/call_unknown").status_code == 404
    assert admin.get(f"{OTHER}/calls/call_records_mitte").status_code == 404
    assert admin.get(f"{SALON}/calls/call_records_elsewhere").status_code == 404
    assert (
        admin.get("/admin/companies/nobody/appointments", params={"date": day["monday"]}).status_code == 404
    )


# ------------------------------------------------------------------ calls


def test_a_day_lists_its_calls_newest_first_with_outcome_branch_and_appointments(admin, day):
    page = listed(admin, f"{SALON}/calls", date=day["today"])
    calls = page["calls"]
    assert [c["call_id"] for c in calls] == [
        "call_records_idle",
        "call_records_kreuzberg",
        "call_records_mitte",
    ]
    by_id = {c["call_id"]: c for c in calls}
    mitte = by_id["call_records_mitte"]
    assert mitte["outcome"] == "in_progress"  # started, booked, not ended yet
    assert mitte["branch_id"] == "berlin-mitte" and [a["action"] for a in mitte["appointments"]] == ["booked"]
    assert mitte["from_number"] != CALLER and "summary" not in mitte
    idle = by_id["call_records_idle"]
    assert idle["outcome"] == "no_booking" and idle["duration_seconds"] == 188
    assert (
        listed(admin, f"{OTHER}/calls", date=day["today"])["calls"][0]["call_id"] == "call_records_elsewhere"
    )
    assert listed(admin, f"{SALON}/calls", date=day["monday"])["calls"] == []


def test_calls_filter_by_outcome_and_page(admin, day):
    path = f"{SALON}/calls"
    ids = lambda **params: [c["call_id"] for c in listed(admin, path, **params)["calls"]]  # noqa: E731
    assert ids(date=day["today"], outcome="no_booking") == ["call_records_idle"]
    assert ids(date=day["today"], outcome="in_progress") == ["call_records_kreuzberg", "call_records_mitte"]
    assert ids(date=day["today"], outcome="voicemail") == []
    pages = every_page(admin, path, date=day["today"], limit=2)
    assert [c["call_id"] for p in pages for c in p] == ids(date=day["today"])
    response = admin.get(path, params={"date": day["today"], "outcome": "won"})
    assert response.status_code == 400 and response.json()["field"] == "outcome"


def test_one_call_has_its_full_record(admin, day):
    response = admin.get(f"{SALON}/calls/call_records_idle")
    assert response.status_code == 200, response.text
    found = response.json()["call"]
    assert found["from_number"] == "+4915188888888" and found["events"] == ["call_started", "call_ended"]
    assert found["outcome"] == "no_booking" and found["disconnection_reason"] == "user_hangup"
    booked = admin.get(f"{SALON}/calls/call_records_mitte").json()["call"]
    appointment = listed(admin, f"{SALON}/appointments", date=day["monday"], branch_id="berlin-mitte")
    assert booked["appointments"][0]["appointment_id"] == appointment["appointments"][0]["appointment_id"]


@pytest.mark.parametrize(
    "path", ["/appointments?date=2026-03-16", "/appointments/bk_1", "/calls?date=2026-03-10", "/calls/call_1"]
)
def test_every_reading_route_needs_an_iam_identity(stack, path):
    response = httpx.get(f"{stack.http_url}{SALON}{path}")
    assert response.status_code == 403


# ------------------------------------------------------------------ the sample events (last: they reseed)


def test_sample_events_answer_on_the_stack(stack):
    """events/admin_{list,get}_{appointments,appointment,calls,call}.json on what `make invoke`
    seeds (local/fixtures/invoke_samples.json: a booked attempt of 2030-03-20 and its call)."""
    import json
    from pathlib import Path

    from local.seed import seed_invoke_samples
    from tests.conftest import reseed

    reseed(stack)
    seed_invoke_samples(stack)
    events = Path(__file__).parents[2] / "events"

    def invoke(name: str) -> tuple[int, dict]:
        event = json.loads((events / f"admin_{name}.json").read_text(encoding="utf-8"))
        response = stack.invoke("AdminApiFunction", event).json()
        return response["statusCode"], json.loads(response["body"])

    status, listed_day = invoke("list_appointments")
    assert status == 200, listed_day
    assert [a["appointment_id"] for a in listed_day["appointments"]] == [
        "bk_5a8c3e1f7b9d4a6c8e0f2b4d6a8c0e2f"
    ]
    status, one = invoke("get_appointment")
    assert status == 200 and one["appointment"]["call_id"] == "call_4e9a2c7b1d8f4a3e", one
    status, calls = invoke("list_calls")
    assert status == 200 and "calls" in calls, calls
    status, call_record = invoke("get_call")
    assert status == 200 and call_record["call"]["appointments"][0]["action"] == "booked", call_record
