"""The Cal.com stand-in over real HTTP (httpx against a started server).

One server per module; every test starts from the fixture state (``POST /_standin/reset``) with
the clock frozen (tests/integration/standin_api.py describes the team).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from local.calcom_standin import CalcomStandIn
from tests.integration.standin_api import (
    DAMEN,
    EMMA,
    FABIAN,
    FIXTURE,
    FOEHNEN,
    KEY,
    KINDER,
    LENA,
    MONDAY,
    MSG_HOSTS_BUSY,
    MSG_PAST,
    ROOT,
    SARA,
    TEAM,
    TUESDAY,
    V_BOOKINGS,
    V_SLOTS,
    assert_error,
    book,
    create_event_type,
    get_slots,
    starts,
)

# ---------------------------------------------------------------------------------------------
# Auth, envelopes, versions


def test_auth_is_required_on_every_v2_endpoint(standin: CalcomStandIn, api: httpx.Client) -> None:
    for path, headers in (
        ("/v2/slots?eventTypeId=1&start=2026-03-02&end=2026-03-02", V_SLOTS),
        ("/v2/bookings", V_BOOKINGS),
    ):
        missing = httpx.get(standin.url + path, headers=headers)
        body = assert_error(missing, 401, "UnauthorizedException")
        assert "No authentication method provided" in body["error"]["message"]
        assert body["path"] == path
        wrong = httpx.get(standin.url + path, headers={**headers, "Authorization": "Bearer cal_wrong"})
        assert_error(
            wrong, 401, "UnauthorizedException", "ApiAuthStrategy - api key - Your api key is not valid"
        )
    assert api.get(f"/v2/teams/{TEAM}/memberships").status_code == 200


def test_api_version_is_recorded_and_checked_as_cal_com_routes_it(api: httpx.Client) -> None:
    api.get("/v2/slots", params={"eventTypeId": DAMEN, "start": MONDAY, "end": MONDAY}, headers=V_SLOTS)
    no_version = api.get("/v2/slots", params={"eventTypeId": DAMEN, "start": MONDAY, "end": MONDAY})
    assert_error(no_version, 404, "NotFoundException")
    assert no_version.json()["error"]["message"].startswith("Cannot GET /v2/slots?eventTypeId=")
    legacy = api.get("/v2/bookings", headers={"cal-api-version": "2024-04-15"})
    assert legacy.status_code == 400 and "legacy" in json.dumps(legacy.json())
    api.get(f"/v2/teams/{TEAM}/memberships")  # teams accept any version

    log = api.get("/_standin/requests").json()
    assert [(e["path"], e["cal_api_version"], e["status"]) for e in log] == [
        ("/v2/slots", "2024-09-04", 200),
        ("/v2/slots", None, 404),
        ("/v2/bookings", "2024-04-15", 400),
        (f"/v2/teams/{TEAM}/memberships", None, 200),
    ]
    assert log[0]["query"]["eventTypeId"] == str(DAMEN)

    api.post("/_standin/versions", json={"strict": False})
    assert (
        api.get("/v2/slots", params={"eventTypeId": DAMEN, "start": MONDAY, "end": MONDAY}).status_code == 200
    )


# ---------------------------------------------------------------------------------------------
# Slots


def test_slots_come_from_working_hours_in_the_members_time_zone(api: httpx.Client) -> None:
    fabian = get_slots(api, DAMEN, "2026-03-01", MONDAY, rrHostSubsetIds=FABIAN, format="range")
    assert list(fabian) == [MONDAY]  # Sunday: nobody works, the day is omitted
    monday = fabian[MONDAY]
    assert monday[0] == {"start": "2026-03-02T09:00:00.000+01:00", "end": "2026-03-02T09:45:00.000+01:00"}
    assert monday[-1]["start"] == "2026-03-02T17:15:00.000+01:00"  # 17:15 + 45 min = 18:00
    assert len(monday) == 12  # slotInterval null -> steps of the 45-minute length

    # Round robin = union of the hosts' hours: Tuesday Fabian 9-18, Lena 9-17, Emma 10-19.
    tuesday = starts(get_slots(api, DAMEN, TUESDAY), TUESDAY)
    assert tuesday[0] == "2026-03-03T09:00:00.000+01:00"
    assert tuesday[-1] == "2026-03-03T18:00:00.000+01:00"  # 18:00-18:45: only Emma works then
    assert len(tuesday) == 13  # one grid over the merged 09:00-19:00

    utc = api.get(
        "/v2/slots",
        params={"eventTypeId": DAMEN, "start": MONDAY, "end": MONDAY, "rrHostSubsetIds": FABIAN},
        headers=V_SLOTS,
    ).json()["data"]
    assert utc[MONDAY][0] == {"start": "2026-03-02T08:00:00.000Z"}  # no timeZone = UTC, format=time


def test_no_slots_in_the_past_nor_inside_the_minimum_booking_notice(api: httpx.Client) -> None:
    api.post("/_standin/clock", json={"now": "2026-03-02T10:00:00Z"})  # Monday 11:00 in Berlin
    # Cal.com's default notice (schema.prisma: minimumBookingNotice @default(120)): nothing before 13:00.
    assert starts(get_slots(api, DAMEN, MONDAY, rrHostSubsetIds=FABIAN), MONDAY)[0] == (
        "2026-03-02T13:30:00.000+01:00"
    )
    too_soon = book(api, DAMEN, "2026-03-02T11:30:00Z", members=[FABIAN])  # 12:30 local, inside the notice
    assert_error(too_soon, 400, "BadRequestException")
    assert too_soon.json()["error"]["message"].startswith(
        'The event type can\'t be booked at the "start" time'
    )
    api.patch(f"/v2/teams/{TEAM}/event-types/{DAMEN}", json={"minimumBookingNotice": 0}).raise_for_status()
    assert starts(get_slots(api, DAMEN, MONDAY, rrHostSubsetIds=FABIAN), MONDAY)[0] == (
        "2026-03-02T11:15:00.000+01:00"
    )
    created = create_event_type(api, title="Neu", slug="neu", lengthInMinutes=30, schedulingType="collective")
    assert created["minimumBookingNotice"] == 120  # what the API gives an event type that does not set it


def test_slots_exclude_existing_bookings_of_any_event_type(api: httpx.Client) -> None:
    seeded = api.post(
        "/_standin/bookings",
        json={"start": "2026-03-02T12:00:00Z", "end": "2026-03-02T13:00:00Z", "host_user_id": FABIAN},
    )
    assert seeded.status_code == 201
    created = book(api, FOEHNEN, "2026-03-02T08:00:00Z", members=[FABIAN])  # Föhnen 09:00-09:30 local
    assert created.status_code == 201 and created.json()["data"]["hosts"][0]["id"] == FABIAN

    fabian = starts(get_slots(api, DAMEN, MONDAY, rrHostSubsetIds=FABIAN), MONDAY)
    assert "2026-03-02T09:00:00.000+01:00" not in fabian  # overlaps Föhnen
    assert "2026-03-02T09:45:00.000+01:00" in fabian
    assert "2026-03-02T12:45:00.000+01:00" not in fabian  # overlaps the seeded 13:00-14:00
    assert "2026-03-02T13:30:00.000+01:00" not in fabian
    assert "2026-03-02T14:15:00.000+01:00" in fabian
    # Round robin keeps 09:00 as long as another host (Lena) is free.
    assert "2026-03-02T09:00:00.000+01:00" in starts(get_slots(api, DAMEN, MONDAY), MONDAY)


def test_dst_change_keeps_local_wall_clock_times(api: httpx.Client) -> None:
    saturday = starts(get_slots(api, DAMEN, "2026-03-28", rrHostSubsetIds=FABIAN), "2026-03-28")
    monday = starts(get_slots(api, DAMEN, "2026-03-30", rrHostSubsetIds=FABIAN), "2026-03-30")
    assert saturday[0] == "2026-03-28T09:00:00.000+01:00"
    assert monday[0] == "2026-03-30T09:00:00.000+02:00"

    # Let Fabian work on the DST Sunday itself, across the 02:00 -> 03:00 jump as well.
    hours = [{"days": [0], "start": "00:00", "end": "06:00"}, {"days": [0], "start": "09:00", "end": "18:00"}]
    api.put(f"/_standin/members/{FABIAN}", json={"working_hours": hours}).raise_for_status()
    sunday = starts(get_slots(api, FOEHNEN, "2026-03-28", "2026-03-29", rrHostSubsetIds=FABIAN), "2026-03-29")
    assert "2026-03-29T09:00:00.000+02:00" in sunday
    night = [s for s in sunday if s < "2026-03-29T06"]
    assert len(night) == 10  # 00:00-06:00 local is only 5 real hours that night
    assert night[3:5] == ["2026-03-29T01:30:00.000+01:00", "2026-03-29T03:00:00.000+02:00"]
    created = book(api, FOEHNEN, "2026-03-29T07:00:00Z", members=[FABIAN])
    assert created.status_code == 201, created.text


# ---------------------------------------------------------------------------------------------
# Bookings


def test_create_returns_201_with_organizer_and_the_slot_disappears(api: httpx.Client) -> None:
    response = book(api, DAMEN, "2026-03-02T08:00:00Z", members=[FABIAN], metadata={"ext_id": "req_1"})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert response.json()["status"] == "success"
    assert data["hosts"] == [
        {
            "id": FABIAN,
            "name": "Fabian Spitzer",
            "email": "fabian@askproai.de",
            "displayEmail": "fabian@askproai.de",
            "username": "fabianaskproai",
            "timeZone": "Europe/Berlin",
        }
    ]
    assert isinstance(data["id"], int) and len(data["uid"]) == 22
    assert data["status"] == "accepted"
    assert (data["start"], data["end"], data["duration"]) == (
        "2026-03-02T08:00:00.000Z",
        "2026-03-02T08:45:00.000Z",
        45,
    )
    assert data["eventTypeId"] == DAMEN and data["eventType"] == {"id": DAMEN, "slug": "damenhaarschnitt"}
    assert data["metadata"] == {"ext_id": "req_1"}
    assert data["attendees"][0]["email"] == "anna@example.com"
    assert data["title"] == "Damenhaarschnitt between Fabian Spitzer and Anna Kunde"
    assert data["createdAt"] == "2026-03-01T06:00:00.000Z"

    assert "2026-03-02T09:00:00.000+01:00" not in starts(
        get_slots(api, DAMEN, MONDAY, rrHostSubsetIds=FABIAN), MONDAY
    )
    fetched = api.get(f"/v2/bookings/{data['uid']}", headers=V_BOOKINGS)
    assert fetched.status_code == 200 and fetched.json()["data"]["uid"] == data["uid"]
    missing = api.get("/v2/bookings/nope", headers=V_BOOKINGS)
    assert_error(missing, 404, "NotFoundException", "Booking with uid=nope was not found in the database")

    # Round robin: the same time goes to Lena, then nobody is left on a Monday morning.
    second = book(api, DAMEN, "2026-03-02T08:00:00Z", email="bea@example.com")
    assert second.json()["data"]["hosts"][0]["id"] == LENA
    third = book(api, DAMEN, "2026-03-02T08:00:00Z", email="cleo@example.com")
    assert_error(third, 400, "BadRequestException", MSG_HOSTS_BUSY)
    assert "2026-03-02T09:00:00.000+01:00" not in starts(get_slots(api, DAMEN, MONDAY), MONDAY)


def test_create_rejects_like_cal_com(api: httpx.Client) -> None:
    taken = book(api, DAMEN, "2026-03-02T08:00:00Z", members=[FABIAN])
    assert taken.status_code == 201
    # Round robin: the same attendee at the same time gets the booking they have (RegularBookingService,
    # getValidBookingFromEventTypeForAttendee); anybody else is refused.
    again = book(api, DAMEN, "2026-03-02T08:00:00Z", members=[FABIAN])
    assert again.status_code == 201 and again.json()["data"]["uid"] == taken.json()["data"]["uid"]
    assert_error(
        book(api, DAMEN, "2026-03-02T08:00:00Z", members=[FABIAN], email="bo@example.com"),
        400,
        "BadRequestException",
        MSG_HOSTS_BUSY,
    )
    assert_error(book(api, DAMEN, "2026-02-27T08:00:00Z"), 400, "BadRequestException", MSG_PAST)
    for start in (
        "2026-03-02T08:10:00Z",
        "2026-03-02T19:00:00Z",
        "2026-03-08T09:00:00Z",
    ):  # off-grid, evening, Sunday
        rejected = book(api, DAMEN, start)
        assert_error(rejected, 400, "BadRequestException")
        assert 'can\'t be booked at the "start" time' in rejected.json()["error"]["message"]
    for start in ("2026-03-02 nine", "2026-13-02T08:00:00Z", "2026-02-30T08:00:00Z", "03/02/2026"):
        assert_error(book(api, DAMEN, start), 400, "BadRequestException")
    # IsDateString takes any ISO 8601 instant: 09:00+01:00 is Fabian's taken 08:00Z.
    offset = book(api, DAMEN, "2026-03-02T09:00:00+01:00", members=[FABIAN], email="o@example.com")
    assert_error(offset, 400, "BadRequestException", MSG_HOSTS_BUSY)
    assert_error(
        book(api, 999, "2026-03-02T08:00:00Z"), 404, "NotFoundException", "Event type with id 999 not found."
    )
    no_contact = api.post(
        "/v2/bookings",
        json={
            "start": "2026-03-02T09:30:00Z",
            "eventTypeId": DAMEN,
            "attendee": {"name": "X", "timeZone": "Europe/Berlin"},
        },
        headers=V_BOOKINGS,
    )
    assert "Attendee must have at least one contact method" in no_contact.json()["error"]["message"]
    unknown_key = book(api, DAMEN, "2026-03-02T09:30:00Z", end="2026-03-02T10:15:00Z")
    assert "property end should not exist" in unknown_key.json()["error"]["message"]
    too_many = book(api, DAMEN, "2026-03-02T09:30:00Z", metadata={f"k{i}": "v" for i in range(51)})
    assert_error(too_many, 400, "BadRequestException")
    length = book(api, DAMEN, "2026-03-02T09:30:00Z", lengthInMinutes=45)
    assert "does not have multiple possible lengths" in length.json()["error"]["message"]

    empty = create_event_type(
        api, title="Leer", slug="leer", lengthInMinutes=30, schedulingType="roundRobin", hosts=[]
    )
    no_hosts = book(api, empty["id"], "2026-03-02T08:00:00Z")
    assert_error(no_hosts, 422, "UnprocessableEntityException")
    assert no_hosts.json()["error"]["message"].startswith(
        "Can't book this team event type because it has no hosts"
    )

    phone_only = api.post(
        "/v2/bookings",
        json={
            "start": "2026-03-02T09:30:00Z",
            "eventTypeId": DAMEN,
            "attendee": {"name": "Tel", "phoneNumber": "+4915112345678", "timeZone": "Europe/Berlin"},
        },
        headers=V_BOOKINGS,
    )
    assert phone_only.status_code == 201
    assert phone_only.json()["data"]["attendees"][0]["email"] == "4915112345678@sms.cal.com"


def test_routing_team_member_ids_restrict_the_round_robin_choice(api: httpx.Client) -> None:
    start = "2026-03-03T09:30:00Z"  # Tuesday 10:30 (on the 45-min grid): Fabian, Emma and Lena work
    assert book(api, DAMEN, start, members=[LENA]).json()["data"]["hosts"][0]["id"] == LENA
    assert (
        book(api, DAMEN, start, members=[EMMA], email="b@example.com").json()["data"]["hosts"][0]["id"]
        == EMMA
    )
    assert book(api, DAMEN, start, email="c@example.com").json()["data"]["hosts"][0]["id"] == FABIAN
    assert_error(book(api, DAMEN, start, members=[LENA], email="d@example.com"), 400, "BadRequestException")


def test_round_robin_priority_then_least_recently_booked(api: httpx.Client) -> None:
    hosts = [{"userId": FABIAN, "priority": "medium"}, {"userId": LENA, "priority": "high"}]
    et = create_event_type(
        api, title="Prio", slug="prio", lengthInMinutes=30, schedulingType="roundRobin", hosts=hosts
    )
    chosen = [book(api, et["id"], f"2026-03-02T0{h}:00:00Z").json()["data"]["hosts"][0]["id"] for h in (8, 9)]
    assert chosen == [LENA, LENA]  # high priority wins while she is free

    times = ("11:00", "11:45", "12:30", "13:15")  # Tuesday 12:00-14:15 local, all three work
    picks = [book(api, DAMEN, f"2026-03-03T{t}:00Z", email=f"{t[:2]}@example.com") for t in times]
    ids = [p.json()["data"]["hosts"][0]["id"] for p in picks]
    assert ids == [FABIAN, EMMA, LENA, FABIAN]  # equal priority: least recently booked first


def test_collective_organizer_is_hosts0_and_co_hosts_are_attendees(api: httpx.Client) -> None:
    et = create_event_type(
        api,
        title="Beratung",
        slug="beratung",
        lengthInMinutes=30,
        schedulingType="collective",
        hosts=[{"userId": FABIAN}, {"userId": LENA}],
    )
    assert all(set(h) == {"userId", "name", "username", "avatarUrl"} for h in et["hosts"])
    monday = starts(get_slots(api, et["id"], MONDAY), MONDAY)
    assert monday[0] == "2026-03-02T09:00:00.000+01:00" and monday[-1] == "2026-03-02T16:30:00.000+01:00"
    assert starts(get_slots(api, et["id"], TUESDAY), TUESDAY)[-1] == "2026-03-03T16:30:00.000+01:00"

    data = book(api, et["id"], "2026-03-02T08:00:00Z").json()["data"]
    assert [h["id"] for h in data["hosts"]] == [FABIAN]
    assert [a["email"] for a in data["attendees"]] == ["anna@example.com", "lena@askproai.de"]
    # Both are busy now, whatever event type asks.
    assert "2026-03-02T09:00:00.000+01:00" not in starts(get_slots(api, DAMEN, MONDAY), MONDAY)
    api.put(f"/_standin/members/{FABIAN}", json={"working_hours": []})
    assert get_slots(api, et["id"], MONDAY) == {}  # intersection with nobody


def test_round_robin_with_fixed_host(api: httpx.Client) -> None:
    hosts = [{"userId": FABIAN, "mandatory": True}, {"userId": EMMA}, {"userId": LENA}]
    et = create_event_type(
        api, title="Color", slug="color", lengthInMinutes=45, schedulingType="roundRobin", hosts=hosts
    )
    data = book(api, et["id"], "2026-03-03T09:30:00Z", members=[EMMA]).json()["data"]
    assert [h["id"] for h in data["hosts"]] == [FABIAN]
    assert [a["email"] for a in data["attendees"]] == ["anna@example.com", "emma@askproai.de"]
    # The fixed host must be free: Fabian is busy now, so Lena alone cannot take that time.
    taken = book(api, et["id"], "2026-03-03T09:30:00Z", email="x@example.com")
    assert_error(taken, 400, "BadRequestException", MSG_HOSTS_BUSY)
    monday = book(api, et["id"], "2026-03-02T08:00:00Z").json()["data"]  # Emma is off on Mondays
    assert monday["hosts"][0]["id"] == FABIAN and monday["attendees"][1]["email"] == "lena@askproai.de"


def test_cancel(api: httpx.Client) -> None:
    uid = book(api, DAMEN, "2026-03-02T08:00:00Z", members=[FABIAN]).json()["data"]["uid"]
    cancelled = api.post(
        f"/v2/bookings/{uid}/cancel", json={"cancellationReason": "Kunde krank"}, headers=V_BOOKINGS
    )
    assert cancelled.status_code == 200
    data = cancelled.json()["data"]
    assert (data["status"], data["cancellationReason"], data["cancelledByEmail"]) == (
        "cancelled",
        "Kunde krank",
        "fabian@askproai.de",
    )
    assert "2026-03-02T09:00:00.000+01:00" in starts(
        get_slots(api, DAMEN, MONDAY, rrHostSubsetIds=FABIAN), MONDAY
    )
    # As Cal.com's code: a second cancel is refused; the lenient behaviour answers 200 unchanged.
    assert_error(
        api.post(f"/v2/bookings/{uid}/cancel", json={}, headers=V_BOOKINGS), 400, "BadRequestException"
    )
    api.post("/_standin/behaviour", json={"cancel_cancelled": "ok"})
    again = api.post(f"/v2/bookings/{uid}/cancel", json={}, headers=V_BOOKINGS)
    assert again.status_code == 200 and again.json()["data"] == data
    assert_error(api.post("/v2/bookings/nope/cancel", json={}, headers=V_BOOKINGS), 404, "NotFoundException")

    listed = api.get("/v2/bookings", params={"status": "cancelled"}, headers=V_BOOKINGS).json()["data"]
    assert [b["uid"] for b in listed] == [uid]


def test_reschedule_creates_a_new_booking_and_cancels_the_old_one(api: httpx.Client) -> None:
    old = book(api, DAMEN, "2026-03-02T08:00:00Z", members=[LENA], metadata={"ext_id": "r1"}).json()["data"]
    moved = api.post(
        f"/v2/bookings/{old['uid']}/reschedule",
        json={"start": "2026-03-02T09:30:00Z", "reschedulingReason": "später"},
        headers=V_BOOKINGS,
    )
    assert moved.status_code == 201, moved.text
    new = moved.json()["data"]
    assert new["uid"] != old["uid"] and new["id"] != old["id"]
    assert new["rescheduledFromUid"] == old["uid"] and new["start"] == "2026-03-02T09:30:00.000Z"
    assert new["metadata"] == {"ext_id": "r1"} and new["reschedulingReason"] == "später"
    assert new["hosts"][0]["id"] == FABIAN  # round robin re-chooses: Fabian is least recently booked

    previous = api.get(f"/v2/bookings/{old['uid']}", headers=V_BOOKINGS).json()["data"]
    assert previous["status"] == "cancelled" and previous["rescheduledToUid"] == new["uid"]
    again = api.post(
        f"/v2/bookings/{old['uid']}/reschedule", json={"start": "2026-03-02T12:00:00Z"}, headers=V_BOOKINGS
    )
    assert_error(again, 400, "BadRequestException")
    assert new["uid"] in again.json()["error"]["message"]

    # The booking's own time does not block it; another booking's time does.
    same = api.post(
        f"/v2/bookings/{new['uid']}/reschedule", json={"start": new["start"][:19] + "Z"}, headers=V_BOOKINGS
    )
    assert same.status_code == 201, same.text
    blocker = book(api, DAMEN, "2026-03-02T11:45:00Z", members=[FABIAN]).json()["data"]
    api.put(f"/_standin/members/{LENA}", json={"working_hours": []})
    busy = api.post(
        f"/v2/bookings/{same.json()['data']['uid']}/reschedule",
        json={"start": blocker["start"]},
        headers=V_BOOKINGS,
    )
    assert_error(
        busy, 400, "BadRequestException", "User either already has booking at this time or is not available"
    )


def test_reschedule_keeps_the_round_robin_host_when_the_event_type_says_so(api: httpx.Client) -> None:
    api.patch(f"/v2/teams/{TEAM}/event-types/{DAMEN}", json={"rescheduleWithSameRoundRobinHost": True})
    old = book(api, DAMEN, "2026-03-02T08:00:00Z", members=[LENA]).json()["data"]
    new = api.post(
        f"/v2/bookings/{old['uid']}/reschedule", json={"start": "2026-03-02T09:30:00Z"}, headers=V_BOOKINGS
    ).json()["data"]
    assert new["hosts"][0]["id"] == LENA


def test_bookings_list_filters_and_pagination(api: httpx.Client) -> None:
    for hour, email in ((8, "anna@example.com"), (10, "bea@example.com"), (12, "anna@example.com")):
        assert book(api, FOEHNEN, f"2026-03-02T{hour:02d}:00:00Z", email=email).status_code == 201
    book(api, KINDER, "2026-03-02T09:00:00Z", email="anna@example.com")

    page = api.get(
        "/v2/bookings",
        params={"attendeeEmail": "anna@example.com", "eventTypeId": FOEHNEN, "take": 1},
        headers=V_BOOKINGS,
    ).json()
    assert [b["start"] for b in page["data"]] == ["2026-03-02T08:00:00.000Z"]
    assert page["pagination"] == {
        "itemsReturned": 1,
        "totalItems": 2,
        "itemsPerPage": 1,
        "remainingItems": 1,
        "currentPage": 1,
        "totalPages": 2,
        "hasNextPage": True,
        "hasPreviousPage": False,
    }
    window = api.get(
        "/v2/bookings",
        params={"afterStart": "2026-03-02T09:30:00Z", "beforeEnd": "2026-03-02T11:00:00Z"},
        headers=V_BOOKINGS,
    ).json()["data"]
    assert [b["attendees"][0]["email"] for b in window] == ["bea@example.com"]
    bad = api.get("/v2/bookings", params={"status": "soon"}, headers=V_BOOKINGS)
    assert_error(bad, 400, "BadRequestException")


def test_memberships_page_with_take_and_skip(api: httpx.Client) -> None:
    first = api.get(f"/v2/teams/{TEAM}/memberships", params={"take": 2}).json()
    assert set(first) == {"status", "data"}  # no pagination object
    assert [m["userId"] for m in first["data"]] == [FABIAN, EMMA]
    member = first["data"][0]
    assert set(member) == {"id", "userId", "teamId", "accepted", "role", "disableImpersonation", "user"}
    assert (member["id"], member["teamId"], member["role"], member["accepted"]) == (8101, TEAM, "OWNER", True)
    assert "id" not in member["user"] and member["user"]["email"] == "fabian@askproai.de"
    second = api.get(f"/v2/teams/{TEAM}/memberships", params={"take": 2, "skip": 2}).json()["data"]
    assert [m["userId"] for m in second] == [LENA, SARA]
    assert api.get(f"/v2/teams/{TEAM}/memberships", params={"take": 2, "skip": 4}).json()["data"] == []
    assert len(api.get(f"/v2/teams/{TEAM}/memberships").json()["data"]) == 4
    assert_error(api.get(f"/v2/teams/{TEAM}/memberships", params={"take": 251}), 400, "BadRequestException")


def test_team_event_types_create_update_delete(api: httpx.Client) -> None:
    hosts = [{"userId": FABIAN, "mandatory": False, "priority": "high"}, {"userId": SARA}]
    created = create_event_type(
        api,
        title="Intro call",
        slug="Intro Call",
        lengthInMinutes=30,
        schedulingType="roundRobin",
        hidden=True,
        hosts=hosts,
    )
    assert created["slug"] == "intro-call" and created["teamId"] == TEAM and created["hidden"] is True
    assert created["hosts"] == [
        {
            "userId": FABIAN,
            "name": "Fabian Spitzer",
            "username": "fabianaskproai",
            "avatarUrl": None,
            "mandatory": False,
            "priority": "high",
        },
        {
            "userId": SARA,
            "name": "Sara Ozdemir",
            "username": "saraoezdemir",
            "avatarUrl": None,
            "mandatory": False,
            "priority": "medium",
        },
    ]
    for key in ("ownerId", "parentEventTypeId", "assignAllTeamMembers", "locations", "slotInterval", "team"):
        assert key in created

    duplicate = api.post(
        f"/v2/teams/{TEAM}/event-types",
        json={"title": "Other", "slug": "intro-call", "lengthInMinutes": 15, "schedulingType": "collective"},
    )
    assert_error(duplicate, 400, "BadRequestException", "Team event type with this slug already exists")
    stranger = api.post(
        f"/v2/teams/{TEAM}/event-types",
        json={
            "title": "X",
            "slug": "x",
            "lengthInMinutes": 15,
            "schedulingType": "roundRobin",
            "hosts": [{"userId": 5}],
        },
    )
    assert_error(stranger, 404, "NotFoundException")
    assert stranger.json()["error"]["message"].startswith("Invalid hosts")
    missing = api.post(f"/v2/teams/{TEAM}/event-types", json={"title": "X", "schedulingType": "roundRobin"})
    assert_error(missing, 400, "BadRequestException")

    path = f"/v2/teams/{TEAM}/event-types/{created['id']}"
    updated = api.patch(path, json={"hosts": [{"userId": LENA, "priority": "low"}]}).json()["data"]
    assert [(h["userId"], h["priority"]) for h in updated["hosts"]] == [(LENA, "low")]  # replaced
    renamed = api.patch(path, json={"title": "Intro"}).json()["data"]
    assert renamed["title"] == "Intro" and [h["userId"] for h in renamed["hosts"]] == [LENA]
    by_slug = api.get(f"/v2/teams/{TEAM}/event-types", params={"eventSlug": "intro-call"}).json()["data"]
    assert [e["id"] for e in by_slug] == [created["id"]]
    assert len(api.get(f"/v2/teams/{TEAM}/event-types").json()["data"]) == 4
    assert (
        api.get(
            "/v2/event-types",
            params={"username": "fabianaskproai"},
            headers={"cal-api-version": "2024-06-14"},
        ).json()["data"]
        == []
    )

    deleted = api.delete(path)
    assert deleted.status_code == 200 and deleted.json()["data"] == {"id": created["id"], "title": "Intro"}
    assert_error(api.get(path), 404, "NotFoundException")


# ---------------------------------------------------------------------------------------------
# Rate limit and faults


def test_rate_limit_120_per_minute_then_reset(api: httpx.Client) -> None:
    for i in range(120):
        ok = api.get(f"/v2/teams/{TEAM}")
        assert ok.status_code == 200, i
    assert ok.headers["X-RateLimit-Limit-Default"] == "120"
    assert ok.headers["X-RateLimit-Remaining-Default"] == "0"
    limited = api.get(f"/v2/teams/{TEAM}/memberships?take=1")
    body = assert_error(
        limited,
        429,
        "ThrottlerException",
        "CustomThrottlerGuard - Too many requests. Please try again later.",
    )
    assert body["path"] == f"/v2/teams/{TEAM}/memberships?take=1"
    assert limited.headers["X-RateLimit-Remaining-Default"] == "0"
    assert 0 < int(limited.headers["X-RateLimit-Reset-Default"]) <= 60

    api.post("/_standin/reset")
    again = api.get(f"/v2/teams/{TEAM}")
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining-Default"] == "119"
    # Over the limit, Cal.com blocks the key for the block duration (60 s; 1 s here), even after
    # the window ends, and says so in Reset (throttler-guard.ts: timeToBlockExpire).
    api.post("/_standin/rate-limit", json={"enabled": True, "limit": 2, "window_s": 0.5, "block_s": 1.2})
    assert [api.get(f"/v2/teams/{TEAM}").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.6)
    blocked = api.get(f"/v2/teams/{TEAM}")
    assert blocked.status_code == 429  # the window passed, the block did not
    assert blocked.headers["X-RateLimit-Remaining-Default"] == "0"
    assert blocked.headers["X-RateLimit-Reset-Default"] == "1"
    time.sleep(0.65)
    assert api.get(f"/v2/teams/{TEAM}").status_code == 200  # the block is over: a new window
    api.post("/_standin/rate-limit", json={"enabled": False})
    assert {api.get(f"/v2/teams/{TEAM}").status_code for _ in range(5)} == {200}


def test_fault_on_the_nth_call_only(api: httpx.Client) -> None:
    api.post(
        "/_standin/faults", json=[{"endpoint": "GET /v2/slots", "fault": "5xx", "status": 503, "nth": 2}]
    )
    params = {"eventTypeId": DAMEN, "start": MONDAY, "end": MONDAY}
    statuses = [api.get("/v2/slots", params=params, headers=V_SLOTS).status_code for _ in range(3)]
    assert statuses == [200, 503, 200]
    assert api.get(f"/v2/teams/{TEAM}").status_code == 200  # other endpoints untouched
    assert api.get("/_standin/faults").json()[0]["fired"] == 1
    api.post("/_standin/faults", json=[{"endpoint": "*", "fault": "5xx", "times": 1}])
    assert_error(api.get(f"/v2/teams/{TEAM}"), 500, "INTERNAL_SERVER_ERROR")
    assert api.get(f"/v2/teams/{TEAM}").status_code == 200
    api.post(
        "/_standin/faults", json=[{"endpoint": "/v2/teams/*", "fault": "5xx", "status": 502, "body": "raw"}]
    )
    assert api.get(f"/v2/teams/{TEAM}").json() == {"statusCode": 502, "message": "Service unavailable"}
    api.delete("/_standin/faults")
    assert api.get(f"/v2/teams/{TEAM}").status_code == 200


def test_fault_429_and_latency(api: httpx.Client) -> None:
    api.post("/_standin/faults", json=[{"endpoint": "POST /v2/bookings", "fault": "429", "times": 1}])
    limited = book(api, DAMEN, "2026-03-02T08:00:00Z")
    assert_error(limited, 429, "ThrottlerException")
    assert limited.headers["X-RateLimit-Remaining-Default"] == "0"
    assert book(api, DAMEN, "2026-03-02T08:00:00Z").status_code == 201  # not processed the first time

    api.post("/_standin/latency", json={"ms": 150})
    began = time.monotonic()
    assert api.get(f"/v2/teams/{TEAM}").status_code == 200
    assert time.monotonic() - began >= 0.15
    api.post("/_standin/latency", json={"ms": 0})
    api.post(
        "/_standin/faults", json=[{"endpoint": "GET /v2/teams/*", "fault": "latency", "latency_ms": 120}]
    )
    began = time.monotonic()
    assert api.get(f"/v2/teams/{TEAM}").status_code == 200
    assert time.monotonic() - began >= 0.12


def test_fault_timeout_before_and_after_processing(api: httpx.Client) -> None:
    api.post(
        "/_standin/faults",
        json=[{"endpoint": "POST /v2/bookings", "fault": "timeout", "sleep_s": 0.4, "times": 2}],
    )
    with pytest.raises(httpx.ReadTimeout):
        api.post(
            "/v2/bookings",
            json={
                "start": "2026-03-02T08:00:00Z",
                "eventTypeId": DAMEN,
                "attendee": {"name": "A", "email": "a@x.de", "timeZone": "UTC"},
            },
            headers=V_BOOKINGS,
            timeout=0.15,
        )
    began = time.monotonic()
    waited = book(api, DAMEN, "2026-03-02T08:00:00Z")
    assert_error(waited, 504, "GatewayTimeoutException")
    assert time.monotonic() - began >= 0.4
    assert api.get("/_standin/bookings").json() == []  # "before": nothing was booked

    # "after": Cal.com booked it, the client only saw the timeout -> look up by metadata, do not retry.
    api.post(
        "/_standin/faults",
        json=[
            {"endpoint": "POST /v2/bookings", "fault": "timeout", "sleep_s": 0.4, "phase": "after", "nth": 1}
        ],
    )
    with pytest.raises(httpx.ReadTimeout):
        api.post(
            "/v2/bookings",
            json={
                "start": "2026-03-02T08:00:00Z",
                "eventTypeId": DAMEN,
                "attendee": {"name": "A", "email": "a@x.de", "timeZone": "UTC"},
                "metadata": {"ext_id": "req_42"},
            },
            headers=V_BOOKINGS,
            timeout=0.15,
        )
    found = api.get(
        "/v2/bookings", params={"attendeeEmail": "a@x.de", "eventTypeId": DAMEN}, headers=V_BOOKINGS
    )
    assert [b["metadata"]["ext_id"] for b in found.json()["data"]] == ["req_42"]


# ---------------------------------------------------------------------------------------------
# Concurrency, webhooks, CLI


def test_concurrent_creates_for_the_same_slot_have_one_winner(
    standin: CalcomStandIn, api: httpx.Client
) -> None:
    et = create_event_type(
        api,
        title="Solo",
        slug="solo",
        lengthInMinutes=30,
        schedulingType="roundRobin",
        hosts=[{"userId": FABIAN}],
    )

    def attempt(i: int) -> int:
        with httpx.Client(
            base_url=standin.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=5
        ) as client:
            return book(client, et["id"], "2026-03-02T08:00:00Z", email=f"p{i}@example.com").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = sorted(pool.map(attempt, range(8)))
    assert results == [201] + [400] * 7


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_signed_webhooks_on_create_and_cancel(api: httpx.Client) -> None:
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_port}/calcom/webhook"
        assert api.post("/_standin/webhooks", json={"url": url, "secret": "s3cret"}).status_code == 201
        data = book(api, DAMEN, "2026-03-02T08:00:00Z", metadata={"ext_id": "w1"}).json()["data"]
        api.post(f"/v2/bookings/{data['uid']}/cancel", json={"cancellationReason": "x"}, headers=V_BOOKINGS)
        deadline = time.monotonic() + 3
        while len(_Receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        receiver.shutdown()
        receiver.server_close()
    events = {}
    for headers, body in _Receiver.received:
        expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["X-Cal-Signature-256"] == expected
        envelope = json.loads(body)
        events[envelope["triggerEvent"]] = envelope
    assert set(events) == {"BOOKING_CREATED", "BOOKING_CANCELLED"}
    created = events["BOOKING_CREATED"]["payload"]
    assert created["uid"] == data["uid"] and created["bookingId"] == data["id"]
    assert created["organizer"]["id"] == data["hosts"][0]["id"] and created["status"] == "ACCEPTED"
    assert created["startTime"] == "2026-03-02T08:00:00Z" and created["metadata"]["ext_id"] == "w1"
    assert events["BOOKING_CANCELLED"]["payload"]["status"] == "CANCELLED"


def test_cli_prints_its_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.calcom_standin", "--fixture", str(FIXTURE), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[4]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/_standin").json()["team"]["id"] == TEAM
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
