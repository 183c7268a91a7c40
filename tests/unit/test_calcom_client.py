"""CalcomClient against httpx.MockTransport: requests on the wire, parsing, paging, error mapping.

Payloads are copies of docs/reference/calcom.md's examples (tests/fixtures/calcom/), so the suite does not
depend on the shared folder beside the repository.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from calbridge.adapters.calcom import (
    AttendeeInput,
    Booking,
    CalcomClient,
    CreateBookingRequest,
    HostPriority,
    SchedulingType,
    TeamEventTypeCreate,
    TeamEventTypeHost,
    TeamEventTypeUpdate,
    retry_after_s,
)
from calbridge.config import CalcomApiVersions, Settings
from calbridge.errors import (
    CalcomContractError,
    CalcomError,
    CalcomRejected,
    CalcomUnavailable,
    RateLimited,
    SlotUnavailable,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "calcom"
API_KEY = "cal_live_0123456789abcdef"
# Distinct values per family, so each test proves which one was sent.
VERSIONS = CalcomApiVersions(
    bookings="2024-08-13", slots="2024-09-04", event_types="2024-06-14", teams="2099-01-01"
)
BERLIN = ZoneInfo("Europe/Berlin")

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def ok(data: Any, status: int = 200, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"status": "success", "data": data, **extra})


def booking_json(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(load("booking_create_response")["data"])
    data.update(changes)
    return data


def membership_json(membership_id: int) -> dict[str, Any]:
    return {
        "id": membership_id,
        "userId": 1000 + membership_id,
        "teamId": 55,
        "accepted": True,
        "role": "MEMBER",
        "user": {"email": f"user{membership_id}@acme.io"},
    }


class FakeCalcom:
    """A MockTransport handler that answers queued replies in order and records every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        return reply(request) if callable(reply) else reply

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def client_for(fake: FakeCalcom, base_url: str = "https://api.cal.com") -> CalcomClient:
    return CalcomClient(
        base_url=base_url,
        api_key_provider=lambda: API_KEY,
        versions=VERSIONS,
        transport=httpx.MockTransport(fake),
    )


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def assert_headers(request: httpx.Request, version: str) -> None:
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["cal-api-version"] == version


def create_request(**changes: Any) -> CreateBookingRequest:
    fields: dict[str, Any] = {
        "start": datetime(2025, 6, 3, 16, 0, tzinfo=BERLIN),
        "event_type_id": 777,
        "attendee": AttendeeInput(name="Sam Park", time_zone="Europe/Berlin", email="sam@example.com"),
        "metadata": {"ext_id": "req_01HZX"},
    }
    fields.update(changes)
    return CreateBookingRequest(**fields)


# --- construction, base URL, auth, lifecycle -----------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.cal.com", "https://api.cal.com/v2/slots"),
        ("https://api.cal.com/", "https://api.cal.com/v2/slots"),
        ("https://api.cal.com/v2", "https://api.cal.com/v2/slots"),
        ("https://api.cal.com/v2/", "https://api.cal.com/v2/slots"),
        ("https://cal.example.com/api/v2", "https://cal.example.com/api/v2/slots"),
    ],
)
def test_base_url_with_or_without_v2_suffix(base_url: str, expected: str) -> None:
    fake = FakeCalcom(ok({}))
    client_for(fake, base_url).get_slots(777, DAY_START, DAY_END, "UTC")
    assert str(fake.last.url).split("?")[0] == expected


def test_from_settings_uses_base_url_versions_and_timeouts() -> None:
    settings = Settings(
        companies_table="c",
        phone_numbers_table="p",
        staff_table="s",
        services_table="sv",
        calls_table="cl",
        idempotency_table="i",
        host_mappings_table="hm",
        mapping_audits_table="ma",
        host_reviews_table="hr",
        appointments_table="ap",
        slot_cache_table="sc",
        event_map_table="em",
        leases_table="le",
        team_members_table="tm",
        sync_runs_table="sr",
        team_sync_queue_url="https://sqs.eu-central-1.amazonaws.com/123456789012/team-sync",
        compensation_queue_url="https://sqs.eu-central-1.amazonaws.com/123456789012/compensation",
        booking_requests_table="BookingRequestsTable",
        booking_requests_queue_url="https://sqs.eu-central-1.amazonaws.com/123456789012/booking-requests",
        reconciliation_queue_url="https://sqs.eu-central-1.amazonaws.com/123456789012/reconciliation",
        reconciliation_runs_table="ReconciliationRunsTable",
        booking_state_machine_arn="arn:aws:states:eu-central-1:123456789012:stateMachine:booking",
        cancel_state_machine_arn="arn:aws:states:eu-central-1:123456789012:stateMachine:cancel",
        reschedule_state_machine_arn="arn:aws:states:eu-central-1:123456789012:stateMachine:reschedule",
        calcom_base_url="https://api.cal.com/v2",
        calcom_api_versions=VERSIONS,
        calcom_connect_timeout_s=2.5,
        calcom_read_timeout_s=12.0,
        retell_api_key_secret="r",
        calcom_api_key_secret="k",
        calcom_webhook_secret_secret="w",
    )
    fake = FakeCalcom(ok([]))
    client = CalcomClient.from_settings(settings, lambda: API_KEY, transport=httpx.MockTransport(fake))
    client.list_team_event_types(55)
    assert str(fake.last.url) == "https://api.cal.com/v2/teams/55/event-types"
    assert_headers(fake.last, "2099-01-01")
    assert fake.last.extensions["timeout"] == {"connect": 2.5, "read": 12.0, "write": 12.0, "pool": 2.5}


def test_api_key_provider_is_called_per_request() -> None:
    keys = iter(["cal_first", "cal_rotated"])
    fake = FakeCalcom(ok(booking_json()), ok(booking_json()))
    client = CalcomClient(
        base_url="https://api.cal.com",
        api_key_provider=lambda: next(keys),
        transport=httpx.MockTransport(fake),
    )
    client.get_booking("a")
    client.get_booking("b")
    assert [r.headers["Authorization"] for r in fake.requests] == ["Bearer cal_first", "Bearer cal_rotated"]


def test_default_versions_are_the_pinned_config_defaults() -> None:
    fake = FakeCalcom(ok(booking_json()))
    client = CalcomClient(
        base_url="https://api.cal.com", api_key_provider=lambda: API_KEY, transport=httpx.MockTransport(fake)
    )
    client.get_booking("a")
    assert fake.last.headers["cal-api-version"] == CalcomApiVersions().bookings


def test_context_manager_closes_the_connection_pool() -> None:
    fake = FakeCalcom(ok(booking_json()))
    with client_for(fake) as client:
        client.get_booking("a")
    with pytest.raises(RuntimeError, match="closed"):
        client.get_booking("a")


def test_client_can_be_shared_across_threads() -> None:
    fake = FakeCalcom(*[ok(booking_json()) for _ in range(16)])
    client = client_for(fake)
    with ThreadPoolExecutor(max_workers=8) as pool:
        uids = list(pool.map(lambda i: client.get_booking(f"uid{i}").uid, range(16)))
    assert uids == ["k3Jd9WqPz7nR2sVb1xYcLm"] * 16
    assert len(fake.requests) == 16


# --- bookings --------------------------------------------------------------------------------------


def test_create_booking_request_on_the_wire() -> None:
    fake = FakeCalcom(httpx.Response(201, json=load("booking_create_response")))
    client_for(fake).create_booking(create_request())

    request = fake.last
    assert request.method == "POST"
    assert str(request.url) == "https://api.cal.com/v2/bookings"
    assert_headers(request, "2024-08-13")
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(request) == {
        "start": "2025-06-03T14:00:00Z",  # 16:00 Berlin (CEST) as UTC
        "eventTypeId": 777,
        "attendee": {
            "name": "Sam Park",
            "timeZone": "Europe/Berlin",
            "email": "sam@example.com",
            "language": "en",
        },
        "metadata": {"ext_id": "req_01HZX"},
    }


def test_create_booking_optional_fields() -> None:
    fake = FakeCalcom(httpx.Response(201, json=load("booking_create_response")))
    request = create_request(
        attendee=AttendeeInput(
            name="Sam", time_zone="Europe/Berlin", phone_number="+4915112345678", language="de"
        ),
        length_in_minutes=45,
        booking_fields_responses={"company": "Example GmbH"},
    )
    client_for(fake).create_booking(request)
    body = body_of(fake.last)
    assert body["attendee"] == {
        "name": "Sam",
        "timeZone": "Europe/Berlin",
        "phoneNumber": "+4915112345678",
        "language": "de",
    }
    assert body["lengthInMinutes"] == 45
    assert "routing" not in body  # a routing form's response: calbridge has none (ADR 0013)
    assert body["bookingFieldsResponses"] == {"company": "Example GmbH"}


def test_create_booking_parses_the_reference_response() -> None:
    fake = FakeCalcom(httpx.Response(201, json=load("booking_create_response")))
    booking = client_for(fake).create_booking(create_request())

    assert booking.id == 48213
    assert booking.uid == "k3Jd9WqPz7nR2sVb1xYcLm"
    assert booking.status == "accepted"
    assert booking.start == datetime(2025, 6, 3, 14, 0, tzinfo=UTC)
    assert booking.end == datetime(2025, 6, 3, 14, 30, tzinfo=UTC)
    assert booking.start.tzinfo is not None
    assert booking.duration == 30
    assert booking.event_type_id == 777
    assert booking.event_type is not None and booking.event_type.slug == "intro-call"
    assert booking.resolved_event_type_id == 777
    assert booking.organizer is not None
    assert (booking.organizer.id, booking.organizer.email) == (1042, "dana@acme.io")
    assert booking.hosts[0].time_zone == "America/New_York"
    assert booking.attendees[0].email == "sam@example.com"
    assert booking.attendees[0].time_zone == "Europe/Berlin"
    assert booking.metadata == {"ext_id": "req_01HZX..."}
    assert booking.booking_fields_responses["company"] == "Example GmbH"
    assert booking.updated_at is None
    assert booking.created_at == datetime(2025, 6, 1, 10, 12, 44, 120000, tzinfo=UTC)


def test_create_booking_recurring_list_returns_the_earliest_occurrence() -> None:
    later = booking_json(uid="second", start="2025-06-10T14:00:00Z", end="2025-06-10T14:30:00Z")
    first = booking_json(uid="first", recurringBookingUid="series-1")
    fake = FakeCalcom(ok([later, first], status=201))
    booking = client_for(fake).create_booking(create_request())
    assert (booking.uid, booking.recurring_booking_uid) == ("first", "series-1")


def test_create_booking_request_validation() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        create_request(start=datetime(2025, 6, 3, 14, 0))
    with pytest.raises(ValidationError, match="email or a phone_number"):
        AttendeeInput(name="Sam", time_zone="UTC")
    with pytest.raises(ValidationError, match="at most 50 keys"):
        create_request(metadata={f"k{i}": "v" for i in range(51)})
    with pytest.raises(ValidationError, match="longer than 40"):
        create_request(metadata={"k" * 41: "v"})
    with pytest.raises(ValidationError, match="longer than 500"):
        create_request(metadata={"k": "v" * 501})
    assert create_request(metadata={f"k{i}": "v" * 500 for i in range(50)}).metadata


def test_utc_z_keeps_milliseconds_only_when_present() -> None:
    request = create_request(start=datetime(2025, 6, 3, 16, 0, 0, 250000, tzinfo=BERLIN))
    assert request.body()["start"] == "2025-06-03T14:00:00.250Z"


def test_get_booking_path_headers_and_escaped_uid() -> None:
    fake = FakeCalcom(ok(booking_json()))
    client_for(fake).get_booking("abc/../x")
    assert fake.last.method == "GET"
    assert fake.last.url.raw_path == b"/v2/bookings/abc%2F..%2Fx"
    assert_headers(fake.last, "2024-08-13")


def test_booking_tolerates_unknown_host_unknown_fields_and_nulls() -> None:
    payload = booking_json(
        hosts=[{"id": "unknown", "name": "unknown", "email": "unknown", "brandNewField": {"x": 1}}],
        attendees=None,
        metadata=None,
        description=None,
        someFutureField=[1, 2, 3],
        rescheduledToUid="newer",
    )
    payload.pop("eventType")
    fake = FakeCalcom(ok(payload))
    booking = client_for(fake).get_booking("k3Jd9WqPz7nR2sVb1xYcLm")
    assert booking.hosts[0].id == "unknown"
    assert booking.attendees == []
    assert booking.metadata == {}
    assert booking.event_type is None and booking.resolved_event_type_id == 777
    assert booking.rescheduled_to_uid == "newer"
    assert not hasattr(booking, "someFutureField")


def test_get_booking_of_a_series_returns_the_earliest() -> None:
    fake = FakeCalcom(
        ok(
            [
                booking_json(uid="b", start="2025-06-10T14:00:00Z", end="2025-06-10T14:30:00Z"),
                booking_json(uid="a"),
            ]
        )
    )
    assert client_for(fake).get_booking("series").uid == "a"


def test_list_bookings_query_parameters() -> None:
    fake = FakeCalcom(ok([], pagination={"totalItems": 0, "hasNextPage": False}))
    client_for(fake).list_bookings(
        status=["upcoming", "unconfirmed"],
        attendee_email="sam+calls@example.com",
        event_type_ids=[777, 778],
        team_id=55,
        after_start=datetime(2025, 6, 3, 0, 0, tzinfo=BERLIN),
        before_end=datetime(2025, 6, 4, tzinfo=UTC),
        sort_start="asc",
    )
    request = fake.last
    assert request.url.path == "/v2/bookings"
    assert_headers(request, "2024-08-13")
    assert dict(request.url.params) == {
        "status": "upcoming,unconfirmed",
        "attendeeEmail": "sam+calls@example.com",
        "eventTypeIds": "777,778",
        "teamId": "55",
        "afterStart": "2025-06-02T22:00:00Z",
        "beforeEnd": "2025-06-04T00:00:00Z",
        "sortStart": "asc",
        "take": "100",
        "skip": "0",
    }
    assert b"attendeeEmail=sam%2Bcalls%40example.com" in request.url.query


def test_list_bookings_pages_with_items_returned_and_has_next_page() -> None:
    fake = FakeCalcom(
        ok(
            [booking_json(id=1, uid="u1"), booking_json(id=2, uid="u2")],
            pagination={"itemsReturned": 2, "totalItems": 3, "remainingItems": 1, "hasNextPage": True},
        ),
        ok(
            [booking_json(id=3, uid="u3")],
            pagination={"itemsReturned": 1, "totalItems": 3, "remainingItems": 0, "hasNextPage": False},
        ),
    )
    bookings = client_for(fake).list_bookings(event_type_id=777, page_size=2)
    assert [b.uid for b in bookings] == ["u1", "u2", "u3"]
    assert [(r.url.params["take"], r.url.params["skip"]) for r in fake.requests] == [("2", "0"), ("2", "2")]
    assert all(r.url.params["eventTypeId"] == "777" for r in fake.requests)


def test_list_bookings_pages_with_returned_items_and_remaining_items_only() -> None:
    fake = FakeCalcom(
        ok(
            [booking_json(id=1, uid="u1"), booking_json(id=2, uid="u2")],
            pagination={"returnedItems": 2, "remainingItems": 2},
        ),
        ok(
            [booking_json(id=3, uid="u3"), booking_json(id=4, uid="u4")],
            pagination={"returnedItems": 2, "remainingItems": 0},
        ),
    )
    bookings = client_for(fake).list_bookings(page_size=2)
    assert [b.id for b in bookings] == [1, 2, 3, 4]
    assert len(fake.requests) == 2


def test_list_bookings_pages_with_total_items_only() -> None:
    fake = FakeCalcom(
        ok([booking_json(id=1, uid="u1"), booking_json(id=2, uid="u2")], pagination={"totalItems": 3}),
        ok([booking_json(id=3, uid="u3")], pagination={"totalItems": 3}),
    )
    assert [b.id for b in client_for(fake).list_bookings(page_size=2)] == [1, 2, 3]


def test_list_bookings_without_pagination_stops_at_a_short_page() -> None:
    fake = FakeCalcom(
        ok([booking_json(id=1, uid="u1"), booking_json(id=2, uid="u2")]),
        ok([booking_json(id=3, uid="u3")], pagination="garbage"),
    )
    assert [b.id for b in client_for(fake).list_bookings(page_size=2)] == [1, 2, 3]
    assert len(fake.requests) == 2


def test_list_bookings_stops_on_an_empty_page_even_if_told_there_is_more() -> None:
    fake = FakeCalcom(ok([], pagination={"hasNextPage": True}))
    assert client_for(fake).list_bookings() == []
    assert len(fake.requests) == 1


def test_page_size_is_checked() -> None:
    with pytest.raises(ValueError, match="page_size"):
        client_for(FakeCalcom()).list_bookings(page_size=251)


def test_cancel_booking() -> None:
    fake = FakeCalcom(ok(booking_json(status="cancelled", cancellationReason="caller asked")))
    booking = client_for(fake).cancel_booking("k3Jd9WqPz7nR2sVb1xYcLm", reason="caller asked")
    assert fake.last.method == "POST"
    assert fake.last.url.path == "/v2/bookings/k3Jd9WqPz7nR2sVb1xYcLm/cancel"
    assert_headers(fake.last, "2024-08-13")
    assert body_of(fake.last) == {"cancellationReason": "caller asked"}
    assert (booking.status, booking.cancellation_reason) == ("cancelled", "caller asked")


def test_cancel_booking_without_reason_sends_an_empty_object() -> None:
    fake = FakeCalcom(ok(booking_json(status="cancelled")))
    client_for(fake).cancel_booking("uid1")
    assert body_of(fake.last) == {}


def test_reschedule_booking_returns_the_new_booking() -> None:
    new = booking_json(
        id=48214,
        uid="newUid",
        start="2025-06-05T09:00:00.000Z",
        end="2025-06-05T09:30:00.000Z",
        rescheduledFromUid="k3Jd9WqPz7nR2sVb1xYcLm",
    )
    fake = FakeCalcom(ok(new, status=201))
    booking = client_for(fake).reschedule_booking(
        "k3Jd9WqPz7nR2sVb1xYcLm",
        datetime(2025, 6, 5, 11, 0, tzinfo=BERLIN),
        reason="conflict",
        rescheduled_by="dana@acme.io",
    )
    assert fake.last.method == "POST"
    assert fake.last.url.path == "/v2/bookings/k3Jd9WqPz7nR2sVb1xYcLm/reschedule"
    assert_headers(fake.last, "2024-08-13")
    assert body_of(fake.last) == {
        "start": "2025-06-05T09:00:00Z",
        "reschedulingReason": "conflict",
        "rescheduledBy": "dana@acme.io",
    }
    assert (booking.uid, booking.rescheduled_from_uid) == ("newUid", "k3Jd9WqPz7nR2sVb1xYcLm")
    assert booking.start == datetime(2025, 6, 5, 9, 0, tzinfo=UTC)


# --- slots -----------------------------------------------------------------------------------------


DAY_START = datetime(2025, 6, 3, tzinfo=BERLIN)
DAY_END = datetime(2025, 6, 5, tzinfo=BERLIN) - timedelta(seconds=1)


def test_get_slots_request_and_reference_response() -> None:
    fake = FakeCalcom(httpx.Response(200, json=load("slots_range_response")))
    slots = client_for(fake).get_slots(777, DAY_START, DAY_END, "Europe/Berlin", duration=30)

    request = fake.last
    assert request.method == "GET"
    assert request.url.path == "/v2/slots"
    assert_headers(request, "2024-09-04")
    assert dict(request.url.params) == {
        "eventTypeId": "777",
        "start": "2025-06-02T22:00:00Z",  # Berlin's midnights as instants: a date alone is a UTC day
        "end": "2025-06-04T21:59:59Z",
        "timeZone": "Europe/Berlin",
        "format": "range",
        "duration": "30",
    }
    assert list(slots.days) == [date(2025, 6, 3)]  # the empty 2025-06-04 is dropped
    first = slots.days[date(2025, 6, 3)][0]
    assert first.start == datetime(2025, 6, 3, 14, 0, tzinfo=UTC)
    assert first.start.utcoffset() == timedelta(hours=2)  # offset as Cal.com sent it
    assert first.end == datetime(2025, 6, 3, 14, 30, tzinfo=UTC)
    assert [s.start.hour for s in slots.slots] == [16, 16]


def test_get_slots_datetime_bounds_are_sent_as_utc_and_reschedule_uid_passed() -> None:
    fake = FakeCalcom(ok({}))
    client_for(fake).get_slots(
        777,
        datetime(2025, 6, 3, 8, 0, tzinfo=BERLIN),
        datetime(2025, 6, 3, 20, 0, tzinfo=BERLIN),
        "Europe/Berlin",
        booking_uid_to_reschedule="old",
    )
    params = fake.last.url.params
    assert (params["start"], params["end"]) == ("2025-06-03T06:00:00Z", "2025-06-03T18:00:00Z")
    assert params["bookingUidToReschedule"] == "old"
    assert "duration" not in params


def test_get_slots_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        client_for(FakeCalcom()).get_slots(777, datetime(2025, 6, 3), DAY_END, "UTC")


@pytest.mark.parametrize("data", [{}, None, {"2025-06-04": []}, {"2025-06-04": None}])
def test_get_slots_no_availability(data: Any) -> None:
    fake = FakeCalcom(ok(data))
    slots = client_for(fake).get_slots(777, DAY_START, DAY_END, "UTC")
    assert slots.days == {} and slots.slots == []


def test_get_slots_absent_days_and_slots_sorted_across_days() -> None:
    fake = FakeCalcom(
        ok(
            {
                "2025-06-05": [{"start": "2025-06-05T09:00:00.000Z"}],
                "2025-06-03": [{"start": "2025-06-03T10:00:00.000Z", "seatsRemaining": 2}],
            }
        )
    )
    slots = client_for(fake).get_slots(777, DAY_START, DAY_END + timedelta(days=1), "UTC")
    assert sorted(slots.days) == [date(2025, 6, 3), date(2025, 6, 5)]
    assert [s.start.day for s in slots.slots] == [3, 5]
    assert slots.slots[0].end is None and slots.slots[0].seats_remaining == 2


# --- team memberships ------------------------------------------------------------------------------


def test_memberships_page_until_a_short_page() -> None:
    fake = FakeCalcom(
        httpx.Response(200, json=load("team_memberships_page")),
        ok([membership_json(3), membership_json(4)]),
        ok([membership_json(5)]),
    )
    memberships = client_for(fake).list_team_memberships(55, page_size=2)

    assert [m.user_id for m in memberships] == [1042, 1043, 1003, 1004, 1005]
    assert [r.url.path for r in fake.requests] == ["/v2/teams/55/memberships"] * 3
    assert [(r.url.params["take"], r.url.params["skip"]) for r in fake.requests] == [
        ("2", "0"),
        ("2", "2"),
        ("2", "4"),
    ]
    for request in fake.requests:
        assert_headers(request, "2099-01-01")

    dana, alex = memberships[:2]
    assert (dana.id, dana.team_id, dana.role, dana.accepted) == (901, 55, "ADMIN", True)
    assert dana.user.email == "dana@acme.io" and dana.user.avatar_url is None
    assert (alex.accepted, alex.user.metadata) == (False, {"dept": "sales"})


def test_memberships_stop_at_an_empty_page_after_full_pages() -> None:
    fake = FakeCalcom(ok([membership_json(1), membership_json(2)]), ok([]))
    assert len(client_for(fake).list_team_memberships(55, page_size=2)) == 2
    assert len(fake.requests) == 2


def test_memberships_default_page_size_is_the_maximum() -> None:
    fake = FakeCalcom(ok([membership_json(1)]))
    client_for(fake).list_team_memberships(55)
    assert fake.last.url.params["take"] == "250"


def test_endless_paging_is_cut_off() -> None:
    def always_full(request: httpx.Request) -> httpx.Response:
        return ok([membership_json(1)])

    fake = FakeCalcom(*[always_full] * 600)
    with pytest.raises(CalcomUnavailable, match="beyond"):
        client_for(fake).list_team_memberships(55, page_size=1)


# --- team event types ------------------------------------------------------------------------------


def test_create_team_event_type_body_matches_the_reference_and_parses_the_response() -> None:
    fake = FakeCalcom(httpx.Response(201, json=load("team_event_type_create_response")))
    event_type = client_for(fake).create_team_event_type(
        55,
        TeamEventTypeCreate(
            title="Intro call",
            slug="intro-call",
            length_in_minutes=30,
            scheduling_type="ROUND_ROBIN",
            hidden=False,
            hosts=[
                TeamEventTypeHost(user_id=1042, mandatory=False, priority="high"),
                TeamEventTypeHost(user_id=1043, mandatory=False, priority="MEDIUM"),
            ],
        ),
    )
    request = fake.last
    assert request.method == "POST"
    assert request.url.path == "/v2/teams/55/event-types"
    assert_headers(request, "2099-01-01")
    assert body_of(request) == load("team_event_type_create_request")

    assert (event_type.id, event_type.team_id, event_type.owner_id) == (777, 55, None)
    assert event_type.scheduling_type is SchedulingType.ROUND_ROBIN
    assert event_type.length_in_minutes == 30 and event_type.hidden is False
    assert [(h.user_id, h.priority, h.name) for h in event_type.hosts] == [
        (1042, HostPriority.HIGH, "Dana Lee"),
        (1043, HostPriority.MEDIUM, "Alex Kim"),
    ]
    assert event_type.team is not None and event_type.team.slug == "sales"


def test_update_team_event_type_sends_only_set_fields_and_writable_host_fields() -> None:
    response = load("team_event_type_create_response")
    fake = FakeCalcom(httpx.Response(200, json=response))
    current_hosts = [TeamEventTypeHost.model_validate(h) for h in response["data"]["hosts"]]
    client_for(fake).update_team_event_type(
        55, 777, TeamEventTypeUpdate(hosts=current_hosts[:1], hidden=False, title="Erstgespräch")
    )
    assert fake.last.method == "PATCH"
    assert fake.last.url.path == "/v2/teams/55/event-types/777"
    assert_headers(fake.last, "2099-01-01")
    assert body_of(fake.last) == {
        "hosts": [{"userId": 1042, "mandatory": False, "priority": "high"}],
        "hidden": False,
        "title": "Erstgespräch",
    }


def test_list_get_and_delete_team_event_types() -> None:
    data = load("team_event_type_create_response")["data"]
    fake = FakeCalcom(ok([data]), ok(data), ok({"id": 777, "title": "Intro call"}))
    client = client_for(fake)

    assert [e.slug for e in client.list_team_event_types(55, event_slug="intro-call")] == ["intro-call"]
    assert fake.last.url.path == "/v2/teams/55/event-types"
    assert dict(fake.last.url.params) == {"eventSlug": "intro-call"}

    assert client.get_team_event_type(55, 777).id == 777
    assert (fake.last.method, fake.last.url.path) == ("GET", "/v2/teams/55/event-types/777")

    assert client.delete_team_event_type(55, 777) is None
    assert (fake.last.method, fake.last.url.path) == ("DELETE", "/v2/teams/55/event-types/777")
    for request in fake.requests:
        assert_headers(request, "2099-01-01")


def test_delete_accepts_an_empty_body() -> None:
    fake = FakeCalcom(httpx.Response(204))
    client_for(fake).delete_team_event_type(55, 777)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("roundRobin", SchedulingType.ROUND_ROBIN),
        ("ROUND_ROBIN", SchedulingType.ROUND_ROBIN),
        ("COLLECTIVE", SchedulingType.COLLECTIVE),
        ("MANAGED", SchedulingType.MANAGED),
    ],
)
def test_scheduling_type_spellings(given: str, expected: SchedulingType) -> None:
    event_type = TeamEventTypeCreate(title="t", slug="t", length_in_minutes=15, scheduling_type=given)
    assert event_type.scheduling_type is expected
    assert event_type.body()["schedulingType"] == expected.value


def test_team_event_type_write_validation() -> None:
    with pytest.raises(ValidationError, match="not both"):
        TeamEventTypeCreate(
            title="t",
            slug="t",
            length_in_minutes=15,
            scheduling_type="collective",
            hosts=[TeamEventTypeHost(user_id=1)],
            assign_all_team_members=True,
        )
    with pytest.raises(ValidationError):
        TeamEventTypeHost(user_id=1, priority="urgent")
    assert TeamEventTypeHost(user_id=1, priority=4).priority is HostPriority.HIGHEST
    assert TeamEventTypeUpdate(hosts=[]).body() == {"hosts": []}  # an empty list removes every host


def test_list_user_event_types() -> None:
    fake = FakeCalcom(
        ok(
            [
                {
                    "id": 12,
                    "title": "30 min",
                    "slug": "30min",
                    "lengthInMinutes": 30,
                    "ownerId": 1042,
                    "users": [{"id": 1042, "name": "Dana Lee", "username": "dana", "weekStart": "Monday"}],
                    "bookingFields": [],
                }
            ]
        )
    )
    [event_type] = client_for(fake).list_user_event_types("dana")
    assert fake.last.url.path == "/v2/event-types"
    assert dict(fake.last.url.params) == {"username": "dana"}
    assert_headers(fake.last, "2024-06-14")
    assert (event_type.id, event_type.owner_id, event_type.users[0].id) == (12, 1042, 1042)


# --- error mapping ---------------------------------------------------------------------------------


def envelope_error(code: str, message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "timestamp": "2025-06-01T10:13:02.551Z",
        "path": "/v2/x",
        "error": {"code": code, "message": message},
    }


def create(fake: FakeCalcom) -> Booking:
    return client_for(fake).create_booking(create_request())


def test_400_on_create_is_slot_unavailable() -> None:
    fake = FakeCalcom(httpx.Response(400, json=load("error_400_slot_taken")))
    with pytest.raises(SlotUnavailable) as caught:
        create(fake)
    assert caught.value.status_code == 400
    assert caught.value.code == "BadRequestException"
    assert (
        caught.value.message == "One of the hosts either already has booking at this time or is not available"
    )


@pytest.mark.parametrize(
    "message",
    [
        "User either already has booking at this time or is not available",
        "Attempting to book a meeting in the past.",
        "The event type can't be booked at the \"start\" time provided. This could be because it's too soon",
        "no_available_users_found_error",
    ],
)
def test_cal_coms_slot_texts_are_slot_unavailable(message: str) -> None:
    fake = FakeCalcom(httpx.Response(400, json=envelope_error("BadRequestException", message)))
    with pytest.raises(SlotUnavailable):
        create(fake)


@pytest.mark.parametrize(
    "body",
    [
        envelope_error(
            "BadRequestException",
            "routing property is wrong, responseId property is wrong,responseId must be an integer number ",
        ),
        envelope_error("BadRequestException", "end property is wrong,property end should not exist "),
        envelope_error("BadRequestException", "Body is required"),
        {
            **envelope_error("BadRequestException", "Bad Request Exception"),
            "error": {
                "code": "BadRequestException",
                "message": "Bad Request Exception",
                "details": {
                    "errors": [{"property": "hosts", "constraints": {"isArray": "hosts must be an array"}}]
                },
            },
        },
    ],
)
def test_a_400_from_cals_validation_pipes_is_a_contract_error_not_a_taken_slot(
    body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from calbridge.observability import metrics

    metrics.clear_metrics()
    fake = FakeCalcom(httpx.Response(400, json=body))
    with pytest.raises(CalcomContractError) as caught:
        create(fake)
    assert not isinstance(caught.value, SlotUnavailable)
    assert caught.value.message == body["error"]["message"].strip()
    logged = [r for r in caplog.records if r.getMessage() == "Cal.com refused our request as malformed"]
    assert logged and logged[0].levelname == "ERROR"
    assert metrics.metric_set.get("CalcomContractError", {}).get("Value") == [1.0]
    metrics.clear_metrics()


def test_an_unknown_400_on_create_is_a_refusal_not_a_taken_slot() -> None:
    fake = FakeCalcom(
        httpx.Response(400, json=envelope_error("BadRequestException", "Event type is not bookable today"))
    )
    with pytest.raises(CalcomRejected) as caught:
        create(fake)
    assert type(caught.value) is CalcomRejected


def test_400_on_reschedule_is_slot_unavailable() -> None:
    fake = FakeCalcom(httpx.Response(400, json=load("error_400_slot_taken")))
    with pytest.raises(SlotUnavailable):
        client_for(fake).reschedule_booking("uid", datetime(2025, 6, 5, 9, tzinfo=UTC))


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.cancel_booking("uid"),
        lambda c: c.list_bookings(event_type_id=1),
        lambda c: c.get_slots(777, DAY_START, DAY_END, "UTC"),
    ],
)
def test_400_elsewhere_is_rejected(call: Callable[[CalcomClient], Any]) -> None:
    fake = FakeCalcom(
        httpx.Response(400, json=envelope_error("BadRequestException", "Bad Request Exception"))
    )
    with pytest.raises(CalcomRejected) as caught:
        call(client_for(fake))
    assert (caught.value.status_code, caught.value.code) == (400, "BadRequestException")


def test_409_is_a_conflict_on_create_and_elsewhere() -> None:
    fake = FakeCalcom(
        httpx.Response(
            409, json={**envelope_error("booking_conflict", "Booking conflict"), "message": "dup"}
        ),
        httpx.Response(
            409,
            json=envelope_error("CONFLICT", "Invalid Input: Trying to create a record that already exists."),
        ),
    )
    with pytest.raises(SlotUnavailable) as caught:
        create(fake)
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        409,
        "booking_conflict",
        "Booking conflict",
    )
    with pytest.raises(SlotUnavailable):
        client_for(fake).create_team_event_type(
            55, TeamEventTypeCreate(title="t", slug="t", length_in_minutes=15, scheduling_type="collective")
        )


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (422, "UnprocessableEntityException", "Can't book this team event type because it has no hosts"),
        (404, "NotFoundException", "Booking with uid=nope was not found in the database"),
        (401, "UnauthorizedException", "Invalid API key"),
        (403, "ForbiddenException", "Insufficient team role"),
    ],
)
def test_other_4xx_are_rejected_with_calcoms_message(status: int, code: str, message: str) -> None:
    fake = FakeCalcom(httpx.Response(status, json=envelope_error(code, message)))
    with pytest.raises(CalcomRejected) as caught:
        create(fake)
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (status, code, message)
    assert not isinstance(caught.value, SlotUnavailable)


def test_nest_validation_message_list_is_joined() -> None:
    body = {
        "statusCode": 400,
        "message": ["start must be a valid ISO 8601 date", "attendee.name is empty"],
        "error": "Bad Request",
    }
    fake = FakeCalcom(httpx.Response(400, json=body))
    with pytest.raises(CalcomRejected) as caught:
        client_for(fake).cancel_booking("uid")
    assert caught.value.message == "start must be a valid ISO 8601 date; attendee.name is empty"
    assert caught.value.code is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {
                "X-RateLimit-Limit-Default": "120",
                "X-RateLimit-Remaining-Default": "0",
                "X-RateLimit-Reset-Default": "17",
            },
            17.0,
        ),
        ({"X-RateLimit-Reset-Teams_delete": "1"}, 1.0),
        ({"X-RateLimit-Reset-Default": "soon"}, 60.0),
        ({}, 60.0),
    ],
)
def test_429_is_rate_limited_with_retry_after(headers: dict[str, str], expected: float) -> None:
    fake = FakeCalcom(httpx.Response(429, json=load("error_429_rate_limited"), headers=headers))
    with pytest.raises(RateLimited) as caught:
        client_for(fake).get_slots(777, DAY_START, DAY_END, "UTC")
    assert caught.value.retry_after_s == expected
    assert (caught.value.status_code, caught.value.code) == (429, "ThrottlerException")
    assert caught.value.message == "CustomThrottlerGuard - Too many requests. Please try again later."


def test_429_reset_as_epoch_seconds() -> None:
    reset = str(int(time.time()) + 30)
    fake = FakeCalcom(
        httpx.Response(429, json=load("error_429_rate_limited"), headers={"X-RateLimit-Reset-Default": reset})
    )
    with pytest.raises(RateLimited) as caught:
        create(fake)
    assert 25 <= caught.value.retry_after_s <= 31


def test_retry_after_parsing() -> None:
    now = 1_750_000_000.0
    assert retry_after_s({"X-RateLimit-Reset-Default": str(int(now) + 42)}, now=now) == 42
    assert retry_after_s({"X-RateLimit-Reset-Default": str(int(now) - 5)}, now=now) == 0  # already passed
    assert (
        retry_after_s({"x-ratelimit-reset-default": "3", "x-ratelimit-reset-other": "50"}) == 3
    )  # -Default wins
    assert retry_after_s({"X-RateLimit-Reset-A": "3", "X-RateLimit-Reset-B": "9"}) == 9  # else the longest
    assert retry_after_s({"Retry-After": "5"}) == 60


@pytest.mark.parametrize(
    ("response", "message", "code"),
    [
        (
            httpx.Response(500, json=envelope_error("INTERNAL_SERVER_ERROR", "Internal server error.")),
            "Internal server error.",
            "INTERNAL_SERVER_ERROR",
        ),
        (
            httpx.Response(500, json={"statusCode": 500, "message": "Internal server error"}),
            "Internal server error",
            None,
        ),
        (
            httpx.Response(
                502,
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                headers={"Content-Type": "text/html"},
            ),
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            None,
        ),
        (httpx.Response(503), "HTTP 503", None),
        (httpx.Response(301, headers={"Location": "https://elsewhere"}), "HTTP 301", None),
    ],
)
def test_server_side_failures_are_unavailable(
    response: httpx.Response, message: str, code: str | None
) -> None:
    fake = FakeCalcom(response)
    with pytest.raises(CalcomUnavailable) as caught:
        create(fake)
    assert (caught.value.status_code, caught.value.message, caught.value.code) == (
        response.status_code,
        message,
        code,
    )


def test_long_html_body_is_truncated() -> None:
    fake = FakeCalcom(httpx.Response(504, text="<html>" + "x" * 5000 + "</html>"))
    with pytest.raises(CalcomUnavailable) as caught:
        create(fake)
    assert len(caught.value.message) <= 201 and caught.value.message.endswith("…")


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_transport_failures_are_unavailable(exception: httpx.RequestError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        exception.request = request
        raise exception

    with pytest.raises(CalcomUnavailable) as caught:
        create(FakeCalcom(fail))
    assert caught.value.status_code is None
    assert type(exception).__name__ in caught.value.message
    assert caught.value.__cause__ is exception


def test_2xx_with_status_error_is_an_error() -> None:
    fake = FakeCalcom(httpx.Response(200, json=envelope_error("BadRequestException", "Something odd")))
    with pytest.raises(CalcomRejected) as caught:
        client_for(fake).get_booking("uid")
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        200,
        "BadRequestException",
        "Something odd",
    )


def test_2xx_that_is_not_json_or_not_a_booking_is_unavailable() -> None:
    fake = FakeCalcom(
        httpx.Response(200, text="<html>maintenance</html>"),
        ok({"id": "not-a-number", "uid": "x"}),
        ok([]),
    )
    client = client_for(fake)
    with pytest.raises(CalcomUnavailable, match="not a JSON object"):
        client.get_booking("uid")
    with pytest.raises(CalcomUnavailable, match="unexpected Booking"):
        client.get_booking("uid")
    with pytest.raises(CalcomUnavailable, match="without a booking"):
        client.get_booking("uid")


def test_every_error_is_a_calcom_error_without_the_api_key() -> None:
    replies: list[Reply] = [
        httpx.Response(400, json=load("error_400_slot_taken")),
        httpx.Response(401, json=envelope_error("UnauthorizedException", "Invalid API key")),
        httpx.Response(429, json=load("error_429_rate_limited")),
        httpx.Response(500, json={"statusCode": 500, "message": "Internal server error"}),
        httpx.Response(502, text="<html>bad gateway</html>"),
    ]
    for reply in replies:
        with pytest.raises(CalcomError) as caught:
            create(FakeCalcom(reply))
        assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value.args)


# --- a caller's time budget (docs/adr/0026-tool-call-budget.md) -----------------------------------


class StoppedClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_view_until_a_deadline_cuts_every_timeout_to_the_time_left() -> None:
    from calbridge.adapters.calcom.pacing import Deadline

    fake = FakeCalcom(ok(booking_json()), ok(booking_json()))
    clock = StoppedClock()
    client = client_for(fake)
    client.until(Deadline(2.0, clock=clock)).get_booking("uid")
    cut = fake.last.extensions["timeout"]
    assert cut == {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
    client.get_booking("uid")  # the original keeps its own timeouts
    assert fake.last.extensions["timeout"]["read"] == 10.0


def test_no_request_goes_out_with_less_than_the_minimum_left_and_the_breaker_never_sees_it() -> None:
    from calbridge.adapters.calcom.client import MIN_REQUEST_S
    from calbridge.adapters.calcom.pacing import Deadline

    judged: list[str] = []

    def breaker(exchange: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        judged.append("exchange")
        return exchange()

    fake = FakeCalcom(ok(booking_json()))
    clock = StoppedClock()
    client = CalcomClient(
        base_url="https://api.cal.com",
        api_key_provider=lambda: API_KEY,
        transport=httpx.MockTransport(fake),
        breaker=breaker,
    ).until(Deadline(MIN_REQUEST_S * 2, clock=clock))
    clock.now += MIN_REQUEST_S * 1.5
    with pytest.raises(CalcomUnavailable, match="time budget"):
        client.get_booking("uid")
    assert fake.requests == [] and judged == []
