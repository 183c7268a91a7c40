"""The demo's second salon: Riverside Hair in London, English-speaking, with a Cal.com account of its own.

The salon signs up at Cal.com by itself: its team, its stylists, an API key its owner creates
(played here by the stand-in's control API, `POST /_standin/teams`, as no API of Cal.com's does
that). calbridge then onboards it over the admin API alone, in the order README "Deploy" gives for a
salon with its own Cal.com account: the company, the salon's key, its staff, then its Cal.com team
(whose first sync runs with that key and links the staff), then a composite service provisioned
into its team. A caller rings its London number and books in English, next to the German salon.

`make demo` prints it (local/demo.py); tests/e2e/test_second_salon.py checks it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from local.retell_sim import RetellSimulator

COMPANY_ID = "riverside-hair"
ADMIN_PATH = f"/admin/companies/{COMPANY_ID}"
TEAM_ID = 51002
#: The key the salon's owner created in its own Cal.com account (never the platform's key).
API_KEY = "cal_live_riverside_owner_demo_key"
NUMBER = "+442079460123"  # Ofcom's drama range: a London number no one has
CALLER = "+447700900123"
AGENT_ID = "agent_riverside_en"
LONDON = ZoneInfo("Europe/London")
OWNER, SAM, PRIYA = 1530001, 1530002, 1530003

_WEEKDAYS_9_TO_6 = [{"days": [1, 2, 3, 4, 5, 6], "start": "09:00", "end": "18:00"}]
CALCOM_TEAM = {
    "id": TEAM_ID,
    "slug": "riverside-hair",
    "name": "Riverside Hair",
    "api_key": API_KEY,
    "members": [
        {"user_id": OWNER, "email": "olivia@riverside-hair.example", "name": "Olivia Grant",
         "username": "oliviagrant", "role": "OWNER", "time_zone": "Europe/London", "working_hours": []},
        {"user_id": SAM, "email": "sam@riverside-hair.example", "name": "Sam Taylor",
         "username": "samtaylor", "role": "MEMBER", "time_zone": "Europe/London",
         "working_hours": _WEEKDAYS_9_TO_6},
        {"user_id": PRIYA, "email": "priya@riverside-hair.example", "name": "Priya Shah",
         "username": "priyashah", "role": "MEMBER", "time_zone": "Europe/London",
         "working_hours": _WEEKDAYS_9_TO_6},
    ],
}  # fmt: skip

COMPANY = {
    "name": "Riverside Hair",
    "timezone": "Europe/London",
    "language": "en",
    "country": "GB",
    "minimum_notice_minutes": 60,
    "opening_hours": {"weekly": {str(day): [["09:00", "18:00"]] for day in range(6)}},
    "branches": [{"branch_id": "southbank", "name": "South Bank", "phone_numbers": [NUMBER]}],
    "retell_agent_ids": [AGENT_ID],
}
STAFF = [
    {"staff_id": "sam-taylor", "name": "Sam Taylor", "email": "sam@riverside-hair.example"},
    {"staff_id": "priya-shah", "name": "Priya Shah", "email": "priya@riverside-hair.example"},
]
SERVICE_ID = "colour-wash-cut"
SERVICE = {
    "name": "Colour, wash and cut",
    "duration": 120,
    "composite": True,
    "pause_policy": "free",
    "price_cents": 9500,
    "currency": "GBP",
    "staff_ids": ["sam-taylor", "priya-shah"],
    "segments": [
        {"key": "A", "name": "Colour", "duration": 30, "gap_after": 30},
        {"key": "B", "name": "Wash", "duration": 15},
        {"key": "C", "name": "Cut", "duration": 45},
    ],
}


class OnboardingFailed(RuntimeError):
    """An admin API answer the onboarding did not expect (its status and body)."""


def _ok(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in (expected or (200,)):
        raise OnboardingFailed(f"{response.request.method} {response.request.url.path}: {response.text}")
    return response.json() if response.content else {}


def sign_up_at_calcom(calcom_url: str) -> dict[str, Any]:
    """The salon's own Cal.com account: its team, its members and its owner's API key."""
    created = httpx.post(f"{calcom_url}/_standin/teams", json=CALCOM_TEAM, timeout=10)
    created.raise_for_status()
    return created.json()


def onboard(stack: Any, admin: httpx.Client) -> dict[str, Any]:
    """Everything over the admin API; what each step answered, for the demo to print."""
    steps: dict[str, Any] = {}
    steps["company"] = _ok(admin.put(ADMIN_PATH, json=COMPANY), 201)
    credential = {"api_key": API_KEY, "reason": "Riverside Hair's own Cal.com account"}
    steps["credential"] = _ok(admin.put(f"{ADMIN_PATH}/calcom-credential", json=credential))
    steps["staff"] = _ok(admin.post(f"{ADMIN_PATH}/staff", json={"staff": STAFF}))
    # The team last: its first sync (queued now) already runs with the salon's own key.
    steps["team"] = _ok(admin.patch(ADMIN_PATH, json={"calcom_team_id": TEAM_ID}))
    stack.drain_queue("TeamSyncQueue")
    [run] = _ok(admin.get(f"{ADMIN_PATH}/sync-runs", params={"limit": 1}))["runs"]
    steps["sync"] = run["report"]
    steps["linked"] = {
        s["staff_id"]: s["calcom_user_id"] for s in _ok(admin.get(f"{ADMIN_PATH}/staff"))["staff"]
    }
    steps["service"] = _ok(admin.put(f"{ADMIN_PATH}/services/{SERVICE_ID}", json=SERVICE), 201)
    steps["webhook"] = add_team_webhook(stack)
    return steps


def add_team_webhook(stack: Any) -> dict[str, Any]:
    """What README "Adding the webhook in Cal.com" asks of the salon: the company's secret, then a
    webhook of its team to calbridge's route for the company."""
    secret = stack.company_webhook_secret(COMPANY_ID, "whsec_riverside_hair_local")
    subscription = {
        "url": f"{stack.http_url}/calcom/webhook/{COMPANY_ID}",
        "secret": secret,
        "team_id": TEAM_ID,
    }
    created = httpx.post(f"{stack.calcom_url}/_standin/webhooks", json=subscription, timeout=10)
    created.raise_for_status()
    return created.json()


def english_call(stack: Any, retell: RetellSimulator) -> dict[str, Any]:
    """A caller rings the London number: routed, greeted and answered in English, books the
    composite service tomorrow afternoon (or the first time offered)."""
    said: dict[str, Any] = {}
    answer = _ok(retell.inbound(CALLER, NUMBER, agent_id=AGENT_ID))["call_inbound"]
    said["routed"] = answer
    call = {
        "call_id": f"call_riverside_{uuid.uuid4().hex[:10]}",
        "agent_id": AGENT_ID,
        "call_type": "phone_call",
        "direction": "inbound",
        "call_status": "ongoing",
        "from_number": CALLER,
        "to_number": NUMBER,
        "metadata": answer["metadata"],
        "retell_llm_dynamic_variables": answer["dynamic_variables"],
    }
    said["call_id"] = call["call_id"]
    started = retell.post("/retell/events", {"event": "call_started", "call": call})
    if started.status_code != 204:
        raise OnboardingFailed(f"call_started: {started.status_code} {started.text}")
    said["service_info"] = _ok(retell.tool("get_service_info", {"service": "colour"}, call))
    ask = {"service": "colour, wash and cut", "date": "tomorrow", "time": "2pm"}
    said["asked"] = dict(ask)
    said["availability"] = _ok(retell.tool("check_availability", ask, call))
    if not said["availability"]["data"].get("available"):  # e.g. tomorrow is Sunday
        first = datetime.fromisoformat(said["availability"]["data"]["alternatives"][0]["start"])
        ask = {**ask, "date": first.date().isoformat(), "time": first.astimezone(LONDON).strftime("%H:%M")}
        said["asked"] = dict(ask)
    booking = {**ask, "customer_name": "James Wilson", "customer_email": "james.wilson@example.com"}
    said["booking"] = _ok(retell.tool("book_appointment", booking, call))
    return said


def last_calcom_request(calcom_url: str) -> int:
    """The stand-in's request log position now: what comes after it is the second salon's."""
    entries = httpx.get(f"{calcom_url}/_standin/requests", timeout=10).json()
    return max((entry["seq"] for entry in entries), default=0)


def calcom_keys_used(calcom_url: str, since: int, event_type_ids: set[int]) -> dict[str, int]:
    """Which key each Cal.com request since `since` carried (the stand-in's log names keys by
    hash): the salon's own, and how many of the others touched the salon's team or event types."""
    from local.calcom_standin.server import api_key_hash

    salon_key = api_key_hash(API_KEY)
    entries = httpx.get(f"{calcom_url}/_standin/requests", params={"since": since}, timeout=10).json()
    counts = {"salon_key": 0, "other_keys": 0, "other_keys_on_the_salon": 0}
    for entry in entries:
        if entry.get("api_key_hash") == salon_key:
            counts["salon_key"] += 1
            continue
        counts["other_keys"] += 1
        body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
        named = {(entry.get("query") or {}).get("eventTypeId"), body.get("eventTypeId")}
        if f"/teams/{TEAM_ID}" in entry["path"] or {str(i) for i in event_type_ids} & {str(n) for n in named}:
            counts["other_keys_on_the_salon"] += 1
    return counts
