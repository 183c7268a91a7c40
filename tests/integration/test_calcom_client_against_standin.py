"""The production Cal.com client against the stand-in over HTTP: shapes, versions and error mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from calbridge.adapters.calcom import (
    AttendeeInput,
    CalcomClient,
    CreateBookingRequest,
    Routing,
    TeamEventTypeCreate,
    TeamEventTypeHost,
    TeamEventTypeUpdate,
)
from calbridge.config import CalcomApiVersions
from calbridge.errors import CalcomRejected, CalcomUnavailable, RateLimited, SlotUnavailable
from local.calcom_standin import CalcomStandIn

FIXTURE = Path(__file__).parents[2] / "local/fixtures/salon_demo.json"
TEAM, FABIAN, EMMA, LENA = 39203, 1420209, 1420210, 1420211
DAMEN = 3719001
NOW = "2026-03-01T07:00:00+01:00"  # Sunday; the stand-in's clock is frozen here
MONDAY_0900_BERLIN = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def standin():
    server = CalcomStandIn(FIXTURE, rate_limit=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def control(standin):
    with httpx.Client(base_url=standin.url) as http:
        http.post("/_standin/reset").raise_for_status()
        http.post("/_standin/clock", json={"now": NOW}).raise_for_status()
        yield http


@pytest.fixture
def client(standin, control):
    with CalcomClient(
        base_url=standin.url,
        api_key_provider=lambda: standin.api_key,
        versions=CalcomApiVersions(),
        timeout=httpx.Timeout(2.0, connect=1.0),
    ) as calcom:
        yield calcom


def booking_request(start: datetime = MONDAY_0900_BERLIN, **routing) -> CreateBookingRequest:
    return CreateBookingRequest(
        start=start,
        event_type_id=DAMEN,
        attendee=AttendeeInput(name="Anna Schmidt", time_zone="Europe/Berlin", email="anna@example.com"),
        metadata={"ext_id": "test-1"},
        routing=Routing(team_member_ids=routing["members"]) if routing else None,
    )


def test_slots_create_get_reschedule_cancel_round_trip(client, control):
    slots = client.get_slots(DAMEN, date(2026, 3, 2), date(2026, 3, 2), "Europe/Berlin")
    assert slots.slots[0].start == MONDAY_0900_BERLIN

    booking = client.create_booking(booking_request(members=[FABIAN]))
    assert booking.organizer.id == FABIAN and booking.organizer.email == "fabian@askproai.de"
    assert booking.start == MONDAY_0900_BERLIN and booking.metadata["ext_id"] == "test-1"
    assert client.get_booking(booking.uid).uid == booking.uid

    moved = client.reschedule_booking(booking.uid, datetime(2026, 3, 2, 9, 30, tzinfo=UTC), reason="später")
    assert moved.uid != booking.uid and moved.rescheduled_from_uid == booking.uid
    assert client.get_booking(booking.uid).status == "cancelled"

    cancelled = client.cancel_booking(moved.uid, reason="Kundin krank")
    assert cancelled.status == "cancelled"

    versions = {
        (r["path"].split("/")[2], r["cal_api_version"])
        for r in control.get("/_standin/requests").json()
        if r["path"].startswith("/v2/")
    }
    assert versions == {("slots", "2024-09-04"), ("bookings", "2024-08-13")}


def test_taken_slot_is_slot_unavailable(client):
    client.create_booking(booking_request(members=[FABIAN]))
    with pytest.raises(SlotUnavailable) as exc:
        client.create_booking(booking_request(members=[FABIAN]))
    assert exc.value.status_code == 400 and "already has booking" in exc.value.message


def test_list_bookings_pages_through_everything(client):
    for minute in (0, 45, 90):  # 09:00, 09:45, 10:30 in Berlin: the 45-minute slot grid
        start = datetime(2026, 3, 2, 8 + minute // 60, minute % 60, tzinfo=UTC)
        client.create_booking(booking_request(start, members=[LENA]))
    listed = client.list_bookings(event_type_id=DAMEN, page_size=2)
    assert len(listed) == 3


def test_memberships_all_pages_and_event_type_lifecycle(client):
    members = client.list_team_memberships(TEAM, page_size=3)
    assert [m.user_id for m in members] == [FABIAN, EMMA, LENA, 1420212]

    created = client.create_team_event_type(
        TEAM,
        TeamEventTypeCreate(
            title="Ansatzfärbung - Ansatzfärbung",
            slug="svc-177-a",
            length_in_minutes=30,
            scheduling_type="roundRobin",
            hidden=True,
            hosts=[TeamEventTypeHost(user_id=FABIAN), TeamEventTypeHost(user_id=LENA)],
        ),
    )
    assert created.hidden and {h.user_id for h in created.hosts} == {FABIAN, LENA}
    updated = client.update_team_event_type(
        TEAM, created.id, TeamEventTypeUpdate(hosts=[TeamEventTypeHost(user_id=FABIAN)])
    )
    assert [h.user_id for h in updated.hosts] == [FABIAN]
    assert created.id in {e.id for e in client.list_team_event_types(TEAM)}
    client.delete_team_event_type(TEAM, created.id)
    with pytest.raises(CalcomRejected) as exc:
        client.get_team_event_type(TEAM, created.id)
    assert exc.value.status_code == 404


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"fault": "5xx", "status": 503}, CalcomUnavailable),
        ({"fault": "5xx", "status": 500, "body": "raw"}, CalcomUnavailable),
        ({"fault": "5xx", "status": 502, "body": "html"}, CalcomUnavailable),
        ({"fault": "timeout", "sleep_s": 3}, CalcomUnavailable),
    ],
)
def test_outages_are_calcom_unavailable(client, control, fault, error):
    control.post("/_standin/faults", json=[{"endpoint": "GET /v2/teams/*", **fault}]).raise_for_status()
    with pytest.raises(error):
        client.list_team_memberships(TEAM)


def test_rate_limit_is_rate_limited_with_reset(client, control):
    control.post("/_standin/rate-limit", json={"enabled": True, "limit": 2}).raise_for_status()
    client.list_team_memberships(TEAM)
    client.list_team_memberships(TEAM)
    with pytest.raises(RateLimited) as exc:
        client.list_team_memberships(TEAM)
    assert 0 < exc.value.retry_after_s <= 60


def test_nth_call_fault_hits_only_that_call(client, control):
    control.post("/_standin/faults", json=[{"endpoint": "GET /v2/teams/*", "fault": "5xx", "nth": 2}])
    client.list_team_event_types(TEAM)
    with pytest.raises(CalcomUnavailable):
        client.list_team_event_types(TEAM)
    client.list_team_event_types(TEAM)


def test_wrong_api_key_is_rejected_with_calcoms_message(standin):
    with (
        CalcomClient(base_url=standin.url, api_key_provider=lambda: "cal_wrong") as calcom,
        pytest.raises(CalcomRejected) as exc,
    ):
        calcom.list_team_memberships(TEAM)
    assert exc.value.status_code == 401
