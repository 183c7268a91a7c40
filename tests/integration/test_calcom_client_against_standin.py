"""The production Cal.com client against the stand-in over HTTP: shapes, versions and error mapping,
on a one-host event type as calbridge provisions them (docs/adr/0013)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from calbridge.adapters.calcom import (
    AttendeeInput,
    CalcomClient,
    CreateBookingRequest,
    TeamEventTypeCreate,
    TeamEventTypeHost,
    TeamEventTypeUpdate,
)
from calbridge.config import CalcomApiVersions
from calbridge.errors import (
    CalcomContractError,
    CalcomRejected,
    CalcomUnavailable,
    RateLimited,
    SlotUnavailable,
)
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


MONDAY = (datetime(2026, 3, 1, 23, 0, tzinfo=UTC), datetime(2026, 3, 2, 22, 59, 59, tzinfo=UTC))  # Berlin


def one_host_event_type(client: CalcomClient, user_id: int, slug: str = "cb-t-a") -> int:
    """A hidden collective event type with one host, as the provisioner makes them."""
    return client.create_team_event_type(
        TEAM,
        TeamEventTypeCreate(
            title="Damenhaarschnitt (Test)",
            slug=f"{slug}-u{user_id}",
            length_in_minutes=45,
            scheduling_type="collective",
            hidden=True,
            hosts=[TeamEventTypeHost(user_id=user_id)],
            minimum_booking_notice=120,
        ),
    ).id


def booking_request(event_type_id: int, start: datetime = MONDAY_0900_BERLIN) -> CreateBookingRequest:
    return CreateBookingRequest(
        start=start,
        event_type_id=event_type_id,
        attendee=AttendeeInput(name="Anna Schmidt", time_zone="Europe/Berlin", email="anna@example.com"),
        metadata={"ext_id": "test-1"},
    )


def test_slots_create_get_reschedule_cancel_round_trip(client, control):
    fabian = one_host_event_type(client, FABIAN)
    slots = client.get_slots(fabian, *MONDAY, "Europe/Berlin")
    assert slots.slots[0].start == MONDAY_0900_BERLIN
    assert {s.start.date() for s in slots.slots} == {MONDAY_0900_BERLIN.date()}

    booking = client.create_booking(booking_request(fabian))
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
    assert versions == {("slots", "2024-09-04"), ("bookings", "2024-08-13"), ("teams", "2024-06-14")}


def test_the_one_host_is_the_host_of_every_booking_and_their_slots_are_theirs(client):
    emma = one_host_event_type(client, EMMA)
    tuesday = [t + timedelta(days=1) for t in MONDAY]
    assert client.get_slots(emma, *MONDAY, "Europe/Berlin").slots == []  # Emma is off on Mondays
    first = client.get_slots(emma, *tuesday, "Europe/Berlin").slots[0].start
    assert first == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # her 10:00 in Berlin
    assert client.create_booking(booking_request(emma, first)).organizer.id == EMMA


def test_taken_slot_is_slot_unavailable(client):
    fabian = one_host_event_type(client, FABIAN)
    client.create_booking(booking_request(fabian))
    with pytest.raises(SlotUnavailable) as exc:
        client.create_booking(booking_request(fabian))
    assert exc.value.status_code == 400 and "already has booking" in exc.value.message


def test_inside_the_minimum_notice_is_slot_unavailable(client, control):
    fabian = one_host_event_type(client, FABIAN)
    control.post("/_standin/clock", json={"now": "2026-03-02T07:30:00Z"}).raise_for_status()
    assert client.get_slots(fabian, *MONDAY, "Europe/Berlin").slots[0].start == datetime(
        2026, 3, 2, 9, 30, tzinfo=UTC
    )  # 08:30 Berlin now: with 120 min notice the 09:00 and 09:45 slots are gone
    with pytest.raises(SlotUnavailable, match="can't be booked"):
        client.create_booking(booking_request(fabian))


def test_a_validation_400_is_a_contract_error_not_a_taken_slot(client, control):
    fabian = one_host_event_type(client, FABIAN)
    control.post(
        "/_standin/faults",
        json=[{"endpoint": "POST /v2/bookings", "fault": "4xx", "status": 400,
               "message": "routing property is wrong,responseId must be an integer number "}],
    ).raise_for_status()  # fmt: skip
    with pytest.raises(CalcomContractError) as exc:
        client.create_booking(booking_request(fabian))
    assert not isinstance(exc.value, SlotUnavailable)
    assert exc.value.message.startswith("routing property is wrong")


def test_list_bookings_pages_through_everything(client):
    lena = one_host_event_type(client, LENA)
    for minute in (0, 45, 90):  # 09:00, 09:45, 10:30 in Berlin: the 45-minute slot grid
        start = datetime(2026, 3, 2, 8 + minute // 60, minute % 60, tzinfo=UTC)
        client.create_booking(booking_request(lena, start))
    listed = client.list_bookings(event_type_id=lena, page_size=2)
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
