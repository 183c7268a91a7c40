"""Company settings through the admin API (GET/PATCH /admin/companies/{id}/settings) over the local
stack's HTTP front, as an IAM-authenticated admin calls it.

Every test that writes runs on a freshly seeded demo salon (`fresh`); refused requests are checked
against a snapshot of every table (`unchanged_tables`). Identity, 404 and sample-event checks of
these routes sit with the other admin routes in test_admin_api.py.
"""

from __future__ import annotations

import importlib

import httpx
import pytest

from tests.e2e.test_admin_api import ADMIN, IDENTITY, snapshot

SETTINGS = "/admin/companies/salon-demo/settings"
SALON_NUMBER, CALLER = "+4930123456789", "+4915112345678"
SEEDED_HOURS = {
    "weekly": {
        "0": [["08:00:00", "18:00:00"]],
        "1": [["09:00:00", "19:00:00"]],
        "2": [["08:00:00", "19:00:00"]],
        "3": [["09:00:00", "19:00:00"]],
        "4": [["08:00:00", "19:00:00"]],
        "5": [["08:00:00", "19:00:00"]],
    }
}
SEEDED = {
    "name": "Salon Demo",
    "timezone": "Europe/Berlin",
    "calcom_team_id": 39203,
    "calcom_credential": "platform",
    "language": "de",
    "host_match_threshold": 75,
    "booking_window_days": 60,
    "minimum_notice_minutes": 120,
    "opening_hours": SEEDED_HOURS,
    "sync_repair_drift": False,
    "retell_agent_ids": ["agent_local_demo"],
    "call_retention_days": 90,
    "appointment_retention_days": 365,
    "sms_confirmations": False,
}


@pytest.fixture
def admin(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


@pytest.fixture
def unchanged_tables(stack):
    before = snapshot(stack)
    yield
    assert snapshot(stack) == before, "a rejected request wrote to DynamoDB"


def settings(admin) -> dict:
    response = admin.get(SETTINGS)
    assert response.status_code == 200, response.text
    return response.json()["settings"]


def stored_company(stack) -> dict:
    item = stack.boto3_client("dynamodb").get_item(
        TableName=stack.resources["CompaniesTable"], Key={"company_id": {"S": "salon-demo"}}
    )
    return item["Item"]


def phone_routes(stack) -> list[dict]:
    return stack.boto3_client("dynamodb").scan(TableName=stack.resources["PhoneNumbersTable"])["Items"]


# ------------------------------------------------------------------ reading


def test_get_shows_the_settings_and_the_read_only_fields(admin):
    assert settings(admin) == SEEDED


# ------------------------------------------------------------------ changing


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        pytest.param({"sync_repair_drift": True}, {"sync_repair_drift": True}, id="sync_repair_drift"),
        pytest.param({"host_match_threshold": 0}, {"host_match_threshold": 0}, id="threshold 0"),
        pytest.param({"host_match_threshold": 100}, {"host_match_threshold": 100}, id="threshold 100"),
        pytest.param({"booking_window_days": 1}, {"booking_window_days": 1}, id="window 1"),
        pytest.param({"booking_window_days": 730}, {"booking_window_days": 730}, id="window 730"),
        pytest.param({"language": "en"}, {"language": "en"}, id="language"),
        pytest.param({"minimum_notice_minutes": 0}, {"minimum_notice_minutes": 0}, id="no notice"),
        pytest.param({"opening_hours": None}, {"opening_hours": None}, id="opening_hours cleared"),
        pytest.param(
            {"opening_hours": {"weekly": {"5": [["14:00", "18:00"], ["09:00", "12:30"]], "6": []}}},
            # validated by the model: intervals in order, times in full
            {
                "opening_hours": {
                    "weekly": {"5": [["09:00:00", "12:30:00"], ["14:00:00", "18:00:00"]], "6": []}
                }
            },
            id="opening_hours",
        ),
    ],
)
def test_patch_changes_only_the_given_setting(stack, admin, fresh, change, shown):
    before = stored_company(stack)
    routes = phone_routes(stack)

    response = admin.patch(SETTINGS, json=change)

    assert response.status_code == 200, response.text
    answer = response.json()
    answer.pop("event_types", None)  # a new minimum notice is provisioned: its own test
    assert answer == {"settings": {**SEEDED, **shown}, "changed": list(change)}
    assert settings(admin) == {**SEEDED, **shown}
    after = stored_company(stack)
    changed = {key for key in {*before, *after} if before.get(key) != after.get(key)}
    assert changed == {*change, "updated_at"}  # name, branches, team id untouched
    assert phone_routes(stack) == routes


def test_several_settings_at_once_and_the_change_is_logged_with_the_caller(admin, fresh, caplog):
    caplog.clear()
    response = admin.patch(
        SETTINGS, json={"language": "en", "booking_window_days": 90, "sync_repair_drift": False}
    )

    assert response.status_code == 200
    assert response.json()["changed"] == ["language", "booking_window_days"]  # drift was already false
    [record] = [r for r in caplog.records if r.getMessage() == "company settings changed by an admin"]
    assert (record.company_id, record.actor) == ("salon-demo", ADMIN)
    assert record.changes == {
        "language": {"old": "de", "new": "en"},
        "booking_window_days": {"old": 60, "new": 90},
    }


def test_a_patch_that_changes_nothing_writes_nothing(admin, unchanged_tables):
    response = admin.patch(SETTINGS, json={"language": "de", "opening_hours": SEEDED_HOURS})
    assert response.status_code == 200
    assert response.json() == {"settings": SEEDED, "changed": []}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        pytest.param({"repair": True}, "repair", "repair: unknown setting", id="unknown field"),
        pytest.param({"name": "Neu"}, "name", "name: read-only", id="read-only field"),
        pytest.param({"branches": []}, "branches", "branches: read-only", id="branches"),
        pytest.param({"sync_repair_drift": "yes"}, "sync_repair_drift", "valid boolean", id="bool as text"),
        pytest.param({"sync_repair_drift": 1}, "sync_repair_drift", "valid boolean", id="bool as number"),
        pytest.param(
            {"host_match_threshold": "80"}, "host_match_threshold", "valid integer", id="int as text"
        ),
        pytest.param(
            {"host_match_threshold": 80.0}, "host_match_threshold", "valid integer", id="int as float"
        ),
        pytest.param(
            {"host_match_threshold": True}, "host_match_threshold", "valid integer", id="int as bool"
        ),
        pytest.param(
            {"host_match_threshold": 101}, "host_match_threshold", "less than or equal to 100", id="101"
        ),
        pytest.param(
            {"host_match_threshold": -1}, "host_match_threshold", "greater than or equal to 0", id="-1"
        ),
        pytest.param(
            {"booking_window_days": 0}, "booking_window_days", "greater than or equal to 1", id="window 0"
        ),
        pytest.param(
            {"booking_window_days": 731}, "booking_window_days", "less than or equal to 730", id="731"
        ),
        pytest.param({"language": "fr"}, "language", "'de' or 'en'", id="language fr"),
        pytest.param(
            {"minimum_notice_minutes": -5}, "minimum_notice_minutes", "greater than or equal to 0", id="-5"
        ),
        pytest.param(
            {"minimum_notice_minutes": 10081},
            "minimum_notice_minutes",
            "less than or equal to 10080",
            id="8d",
        ),
        pytest.param(
            {"opening_hours": {"weekly": {"0": [["18:00", "09:00"]]}}},
            "opening_hours",
            "weekday 0: closes at 09:00:00 before it opens at 18:00:00",
            id="closes before it opens",
        ),
        pytest.param(
            {"opening_hours": {"weekly": {"7": [["09:00", "18:00"]]}}},
            "opening_hours",
            "weekday must be 0 (Monday) to 6 (Sunday)",
            id="weekday 7",
        ),
        pytest.param(
            {"opening_hours": {"weekly": {"0": [["09:00", "13:00"], ["12:00", "18:00"]]}}},
            "opening_hours",
            "opening intervals overlap",
            id="overlapping hours",
        ),
        pytest.param({"opening_hours": {"monday": []}}, "opening_hours", "monday", id="hours unknown key"),
        pytest.param(
            {"language": "en", "booking_window_days": 0}, "booking_window_days", "", id="one bad of two"
        ),
        pytest.param([{"language": "en"}], "body", "JSON object", id="body a list"),
        pytest.param("en", "body", "JSON object", id="body a string"),
        pytest.param({}, "body", "no setting given", id="empty object"),
    ],
)
def test_bad_changes_are_400_naming_the_field_and_write_nothing(
    admin, unchanged_tables, body, field, message
):
    response = admin.patch(SETTINGS, json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert (answer["error"], answer["field"]) == ("invalid_request", field)
    assert message in answer["message"]
    assert settings(admin) == SEEDED


@pytest.mark.parametrize("content", [b"", b"   ", b"{oops"], ids=["empty", "blank", "malformed"])
def test_an_empty_or_malformed_body_is_400(admin, unchanged_tables, content):
    response = admin.patch(SETTINGS, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["field"] == "body"


# ------------------------------------------------------------------ effects elsewhere


def test_phone_routing_still_works_after_a_patch(admin, fresh, retell):
    assert admin.patch(SETTINGS, json={"language": "en", "host_match_threshold": 90}).status_code == 200

    response = retell.inbound(CALLER, SALON_NUMBER)

    assert response.status_code == 200
    assert response.json()["call_inbound"]["metadata"] == {
        "company_id": "salon-demo",
        "branch_id": "berlin-mitte",
    }


def test_the_team_sync_repairs_drift_once_an_admin_enables_it(fresh, admin):
    """The setting is read by the next sync (the sync reads the company uncached)."""
    with httpx.Client(
        base_url=fresh.calcom_url, headers={"Authorization": f"Bearer {fresh.standin.api_key}"}, timeout=10
    ) as calcom:
        path = "/v2/teams/39203/event-types"
        segment = next(et for et in calcom.get(path).json()["data"] if et["slug"] == "cb-177-a-u1420209")
        calcom.patch(f"{path}/{segment['id']}", json={"lengthInMinutes": 45}).raise_for_status()

        assert admin.patch(SETTINGS, json={"sync_repair_drift": True}).json()["changed"] == [
            "sync_repair_drift"
        ]
        wiring = importlib.import_module("calbridge.services.wiring")
        wiring.team_sync.cache_clear()  # a fresh Cal.com pacer, as tests/integration/test_team_sync.py does
        try:
            report = wiring.team_sync().sync_company("salon-demo")
        finally:
            wiring.team_sync.cache_clear()

        assert (report.drift_found, report.drift_repaired) == (1, 1), report
        assert calcom.get(f"{path}/{segment['id']}").json()["data"]["lengthInMinutes"] == 30


def test_a_new_minimum_notice_goes_onto_every_booking_event_type(fresh, admin):
    """Cal.com refuses a start inside an event type's minimumBookingNotice whatever calbridge
    offers: the setting and the event types change together."""
    response = admin.patch(SETTINGS, json={"minimum_notice_minutes": 30})
    assert response.status_code == 200, response.text
    report = response.json()["event_types"]
    assert report["ok"] and report["updated"] and not report["created"]
    assert all(r["changes"] == ["minimum notice 120 -> 30 min"] for r in report["updated"])
    with httpx.Client(
        base_url=fresh.calcom_url, headers={"Authorization": f"Bearer {fresh.standin.api_key}"}, timeout=10
    ) as calcom:
        ours = [
            et
            for et in calcom.get("/v2/teams/39203/event-types").json()["data"]
            if et["slug"].startswith("cb-")
        ]
    assert ours and {et["minimumBookingNotice"] for et in ours} == {30}
