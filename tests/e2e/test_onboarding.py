"""A first salon on an empty deployment, onboarded over the admin API alone, as README "Deploy"
tells an operator: the company with two branches and their numbers, staff, a Cal.com team sync that
links them, a composite service whose booking event types are provisioned; then calls to both
numbers are routed, a caller books, and the salon reads the appointment and the call. The stand-in
holds the Cal.com team (39203); the tables start empty (no demo seed).
"""

from __future__ import annotations

import importlib
from datetime import date, datetime

import httpx
import pytest

from local.events import call_webhook
from tests.e2e.test_admin_api import IDENTITY
from tests.helpers import BERLIN, next_monday

SALON = "/admin/companies/salon-mitte"
MITTE, KREUZBERG = "+4930901820", "+4930901821"
CALLER = "+4915112345678"
COMPOSITE = {
    "name": "Ansatzfärbung, waschen, schneiden, föhnen",
    "duration": 150,
    "composite": True,
    "pause_policy": "free",
    "price_cents": 8500,
    "staff_ids": ["fabian", "lena"],
    "segments": [
        {"key": "A", "name": "Ansatzfärbung", "duration": 30, "gap_after": 45},
        {"key": "B", "name": "Auswaschen", "duration": 15},
        {"key": "C", "name": "Schneiden", "duration": 30},
        {"key": "D", "name": "Föhnen", "duration": 30},
    ],
}


@pytest.fixture
def empty(fresh):
    """No company at all; `fresh` puts the demo salon back afterwards."""
    fresh.reset()
    importlib.import_module("calbridge.services.wiring").clear_caches()
    return fresh


@pytest.fixture
def admin(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def test_a_first_salon_onboarded_over_the_api_takes_a_booking(empty, admin, retell):
    assert ok(admin.get("/admin/companies")) == {"companies": []}

    created = ok(
        admin.put(
            SALON,
            json={
                "name": "Salon Mitte",
                "timezone": "Europe/Berlin",
                "language": "de",
                "country": "DE",
                "calcom_team_id": 39203,
                "branches": [
                    {"branch_id": "mitte", "name": "Mitte", "phone_numbers": [MITTE]},
                    {"branch_id": "kreuzberg", "name": "Kreuzberg", "phone_numbers": [KREUZBERG]},
                ],
            },
        ),
        201,
    )
    assert created["team_sync"]["status"] == "queued"

    staff = {
        "staff": [
            {"staff_id": "fabian", "name": "Fabian Spitzer", "email": "fabian@askproai.de"},
            {"staff_id": "lena", "name": "Lena Müller", "email": "lena@askproai.de"},
        ]
    }
    assert ok(admin.post(f"{SALON}/staff", json=staff))["created"] == 2
    ok(admin.post(f"{SALON}/sync"), 202)
    empty.drain_queue("TeamSyncQueue")  # the company's first sync (queued by the PUT) and this one
    [run] = ok(admin.get(f"{SALON}/sync-runs", params={"limit": 1}))["runs"]
    assert run["report"]["status"] in ("ok", "partial"), run["report"]
    linked = {m["staff_id"]: m["calcom_user_id"] for m in ok(admin.get(f"{SALON}/staff"))["staff"]}
    assert linked == {"fabian": 1420209, "lena": 1420211}, "the sync linked both by their e-mail"

    saved = ok(admin.put(f"{SALON}/services/ansatz", json=COMPOSITE), 201)
    assert saved["event_types"]["ok"], saved["event_types"]
    assert len(saved["service"]["event_types"]) == 8, "one per segment and staff member"

    for number, branch in ((MITTE, "mitte"), (KREUZBERG, "kreuzberg")):
        routed = retell.inbound(CALLER, number).json()["call_inbound"]
        assert routed["metadata"] == {"company_id": "salon-mitte", "branch_id": branch}
        assert routed["dynamic_variables"]["company_name"] == "Salon Mitte"

    call = {
        "call_id": "call_first_salon",
        "from_number": CALLER,
        "to_number": KREUZBERG,
        "metadata": {"company_id": "salon-mitte", "branch_id": "kreuzberg"},
    }
    started = call_webhook(
        "call_started",
        call["call_id"],
        from_number=CALLER,
        **{"to_number": KREUZBERG, "metadata": call["metadata"]},
    )
    assert retell.post("/retell/events", started).status_code == 204
    day = next_monday()
    answer = retell.tool(
        "book_appointment",
        {"service": "Ansatzfärbung", "date": day, "time": "14:00", "customer_name": "Anna Schmidt"},
        call,
    ).json()
    assert answer["success"] and answer["data"]["booked"], answer
    code = answer["data"]["confirmation_code"]

    listed = ok(admin.get(f"{SALON}/appointments", params={"date": date.fromisoformat(day).isoformat()}))
    [appointment] = listed["appointments"]
    assert appointment["confirmation_code"] == code and appointment["status"] == "booked"
    assert appointment["call_id"] == "call_first_salon" and appointment["branch_id"] == "kreuzberg"
    assert [s["key"] for s in appointment["segments"]] == ["A", "B", "C", "D"]

    today = datetime.now(BERLIN).date().isoformat()  # the pinned "today": when the call was first heard
    [listed_call] = ok(admin.get(f"{SALON}/calls", params={"date": today}))["calls"]
    assert listed_call["call_id"] == "call_first_salon" and listed_call["branch_id"] == "kreuzberg"
    recorded = ok(admin.get(f"{SALON}/calls/call_first_salon"))["call"]
    assert [a["action"] for a in recorded["appointments"]] == ["booked"]
