"""The demo's second salon (local/second_salon.py, `make demo` steps 12-13): Riverside Hair, London,
English, with a Cal.com account of its own, onboarded over the admin API next to the German demo
salon; an English caller books with its staff, through its key, in its team, and nothing of it
reaches the German salon or the platform's key.
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from local import second_salon as riverside
from local.calcom_standin.server import api_key_hash
from tests.e2e.test_admin_api import IDENTITY

GERMAN_SALON = "+4930123456789"


@pytest.fixture
def admin(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def test_an_english_salon_with_its_own_calcom_account_takes_a_call_next_to_the_german_one(
    fresh, admin, retell
):
    riverside.sign_up_at_calcom(fresh.calcom_url)
    platform = httpx.Client(
        base_url=fresh.calcom_url, headers={"Authorization": f"Bearer {fresh._fixture_api_key()}"}, timeout=10
    )
    refused = platform.get(f"/v2/teams/{riverside.TEAM_ID}/memberships")
    assert refused.status_code == 403, "the platform key is no member of the salon's own team"
    before = riverside.last_calcom_request(fresh.calcom_url)  # calbridge's requests from here on

    steps = riverside.onboard(fresh, admin)
    assert steps["credential"]["calcom_credential"] == "own"
    assert steps["team"]["team_sync"]["status"] == "queued"
    assert steps["sync"]["status"] == "ok" and not steps["sync"]["errors"], steps["sync"]
    assert steps["linked"] == {"sam-taylor": riverside.SAM, "priya-shah": riverside.PRIYA}
    event_types = steps["service"]["service"]["event_types"]
    assert steps["service"]["event_types"]["ok"] and len(event_types) == 6, "3 holds × 2 stylists"
    in_team = httpx.get(
        f"{fresh.calcom_url}/v2/teams/{riverside.TEAM_ID}/event-types",
        headers={"Authorization": f"Bearer {riverside.API_KEY}"},
    ).json()["data"]
    assert {e["event_type_id"] for e in event_types} == {e["id"] for e in in_team}

    german = ok(retell.inbound("+4915112345678", GERMAN_SALON))["call_inbound"]
    assert german["metadata"]["company_id"] == "salon-demo"
    assert german["dynamic_variables"]["language"] == "de"

    said = riverside.english_call(fresh, retell)
    assert said["routed"]["metadata"] == {"company_id": riverside.COMPANY_ID, "branch_id": "southbank"}
    variables = said["routed"]["dynamic_variables"]
    assert variables["language"] == "en" and variables["timezone"] == "Europe/London"
    assert variables["staff_names"] == "Priya Shah and Sam Taylor"
    assert "95 pounds" in said["service_info"]["message"]
    booking = said["booking"]
    assert booking["success"] and booking["data"]["booked"], booking
    assert booking["message"].startswith("Your appointment is booked: Colour, wash and cut")
    assert booking["data"]["staff_id"] in ("sam-taylor", "priya-shah")

    day = datetime.fromisoformat(booking["data"]["start"]).astimezone(riverside.LONDON).date().isoformat()
    [appointment] = ok(admin.get(f"{riverside.ADMIN_PATH}/appointments", params={"date": day}))[
        "appointments"
    ]
    assert appointment["confirmation_code"] == booking["data"]["confirmation_code"]
    assert [s["key"] for s in appointment["segments"]] == ["A", "B", "C"]
    assert appointment["call_id"] == said["call_id"]
    german_day = ok(admin.get("/admin/companies/salon-demo/appointments", params={"date": day}))
    assert appointment["appointment_id"] not in {a["appointment_id"] for a in german_day["appointments"]}

    ours = [
        b
        for b in httpx.get(f"{fresh.calcom_url}/_standin/bookings").json()
        if (b.get("metadata") or {}).get("calbridge_booking_id") == appointment["appointment_id"]
    ]
    assert len(ours) == 3 and {b["hosts"][0]["id"] for b in ours} <= {riverside.SAM, riverside.PRIYA}
    assert {b["eventTypeId"] for b in ours} <= {e["id"] for e in in_team}

    ids = {e["event_type_id"] for e in event_types}
    keys = riverside.calcom_keys_used(fresh.calcom_url, before, ids)
    assert keys["salon_key"] >= 10 and keys["other_keys_on_the_salon"] == 0, keys

    # The salon cancels one segment in its own Cal.com: its team webhook reaches its route only.
    uid = ours[0]["uid"]
    cancelled = httpx.post(
        f"{fresh.calcom_url}/v2/bookings/{uid}/cancel",
        json={"cancellationReason": "customer rang the salon"},
        headers={"Authorization": f"Bearer {riverside.API_KEY}", "cal-api-version": "2024-08-13"},
    )
    assert cancelled.status_code == 200, cancelled.text
    fresh.standin.app.webhooks.join()
    deliveries = [
        d for d in httpx.get(f"{fresh.calcom_url}/_standin/webhooks").json()["deliveries"] if d["uid"] == uid
    ]
    assert [(d["url"].rsplit("/", 1)[-1], d["trigger"], d["status"]) for d in deliveries] == [
        (riverside.COMPANY_ID, "BOOKING_CREATED", 200),
        (riverside.COMPANY_ID, "BOOKING_CANCELLED", 200),
    ]
    assert api_key_hash(riverside.API_KEY) not in str(httpx.get(f"{fresh.calcom_url}/_standin").json())
    attention = fresh.boto3_client("dynamodb").get_item(
        TableName=fresh.resources["AppointmentsTable"],
        Key={
            "company_id": {"S": riverside.COMPANY_ID},
            "appointment_id": {"S": f"attention#{appointment['appointment_id']}"},
        },
        ConsistentRead=True,
    )
    assert attention["Item"]["status"]["S"] == "open", "the salon's webhook marked it for its attention"
