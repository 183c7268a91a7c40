"""The booking workflow's pure parts: which event type books a hold, input rules, metadata,
confirmation codes, error causes (domain/booking.py)."""

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from calbridge.domain.booking import (
    CODE_ALPHABET,
    BookingRequest,
    Customer,
    HoldFailure,
    Reservation,
    booking_metadata,
    error_message,
    event_type_for,
    is_ours,
    lease_key,
    new_confirmation_code,
    parse_reservations,
)
from calbridge.domain.event_types import EventMapEntry, SyncStatus
from calbridge.domain.models import PausePolicy, Service
from calbridge.domain.planning import plan_service
from calbridge.errors import EventTypeMissing

BERLIN = ZoneInfo("Europe/Berlin")
FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())
COMPANY = FIXTURE["company"]["company_id"]
DEMO = {s["service_id"]: Service.model_validate({"company_id": COMPANY, **s}) for s in FIXTURE["services"]}
START = datetime(2030, 3, 6, 14, 0, tzinfo=BERLIN)


def entry(service_id: str, key: str, length: int, event_type_id: int | None = 900, **extra) -> EventMapEntry:
    return EventMapEntry(
        company_id=COMPANY,
        service_id=service_id,
        segment_key=key,
        event_type_id=event_type_id,
        slug=f"cb-{service_id}-{key.lower()}",
        title=f"{service_id} - {key}",
        length=length,
        sync_status=extra.pop("sync_status", SyncStatus.SYNCED),
        updated_at=datetime(2030, 1, 1, tzinfo=UTC),
        **extra,
    )


def with_policy(service: Service, policy: PausePolicy) -> Service:
    return Service.model_validate({**service.model_dump(), "pause_policy": policy})


def test_a_simple_service_books_on_its_own_event_type():
    service = DEMO["41"]
    (hold,) = plan_service(service, START).holds
    assert event_type_for(hold, service, {}) == 3719001
    without = Service.model_validate({**service.model_dump(), "calcom_event_type_id": None})
    with pytest.raises(EventTypeMissing, match="hold A of service 41"):
        event_type_for(hold, without, {})


def test_composite_segments_book_on_their_event_map_entries():
    service = DEMO["177"]
    lengths = {"A": 30, "B": 15, "C": 30, "D": 30}
    entries = {k: entry("177", k, n, 800 + i) for i, (k, n) in enumerate(lengths.items())}
    plan = plan_service(service, START)
    assert [event_type_for(h, service, entries) for h in plan.holds] == [800, 801, 802, 803]


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (None, "no segment event type"),
        ({"event_type_id": None}, "no segment event type"),
        ({"sync_status": SyncStatus.FAILED, "detail": "no hosts"}, "is failed: no hosts"),
        ({"sync_status": SyncStatus.REMOVED}, "is removed"),
        ({"sync_status": SyncStatus.PENDING}, "is pending"),
        ({"length": 45}, "lasts 45 min, the hold 30 min"),
    ],
)
def test_an_unusable_segment_event_type_is_event_type_missing_naming_the_hold(changed, message):
    service = DEMO["177"]
    hold = plan_service(service, START).holds[0]
    entries = {} if changed is None else {"A": entry("177", "A", **{"length": 30, **changed})}
    with pytest.raises(EventTypeMissing, match=message) as missing:
        event_type_for(hold, service, entries)
    assert "hold A of service 177" in str(missing.value)


def test_a_drifted_entry_still_books():
    service = DEMO["177"]
    hold = plan_service(service, START).holds[0]
    assert event_type_for(hold, service, {"A": entry("177", "A", 30, sync_status=SyncStatus.DRIFTED)}) == 900


def test_gap_holds_need_their_gap_event_types_and_whole_holds_the_services():
    blocked = DEMO["42"]
    holds = {h.key: h for h in plan_service(blocked, START).holds}
    with pytest.raises(EventTypeMissing, match="hold gap-A of service 42: no gap event type"):
        event_type_for(holds["gap-A"], blocked, {})
    assert event_type_for(holds["gap-A"], blocked, {"gap-A": entry("42", "gap-A", 10, 777)}) == 777
    never = with_policy(DEMO["177"], PausePolicy.NEVER)
    never = Service.model_validate({**never.model_dump(), "calcom_event_type_id": 555})
    (whole,) = plan_service(never, START).holds
    assert event_type_for(whole, never, {}) == 555


def test_the_request_needs_an_aware_start_and_a_reachable_customer():
    base = {
        "company_id": COMPANY,
        "booking_id": "bk_1",
        "service_id": "41",
        "start": "2030-03-06T14:00:00+01:00",
        "staff_id": "fabian-spitzer",
        "customer": {"name": "Anna", "phone": "0049 151 2345 6789"},
    }
    request = BookingRequest.model_validate(base)
    assert request.customer.phone == "+4915123456789" and request.start.utcoffset() is not None
    for bad in (
        {"start": "2030-03-06T14:00:00"},
        {"customer": {"name": "Anna"}},
        {"customer": {"name": "Anna", "email": "not-an-email"}},
        {"booking_id": "has spaces"},
        {"booking_id": "x" * 81},
    ):
        with pytest.raises(ValidationError):
            BookingRequest.model_validate({**base, **bad})
    assert Customer(name="Anna", email="anna@example.com").phone is None


def test_metadata_names_attempt_hold_and_company():
    metadata = booking_metadata(COMPANY, "bk_1", "B")
    assert is_ours(metadata, COMPANY, "bk_1") and is_ours(metadata, COMPANY, "bk_1", "B")
    assert not is_ours(metadata, COMPANY, "bk_1", "C")
    assert not is_ours(metadata, "other-company", "bk_1")
    assert not is_ours(metadata, COMPANY, "bk_10")
    assert all(isinstance(v, str) and len(k) <= 40 for k, v in metadata.items())  # Cal.com's limits


def test_lease_key_and_confirmation_codes():
    assert lease_key("fabian-spitzer", date(2030, 3, 6)) == "fabian-spitzer#2030-03-06"
    codes = {new_confirmation_code() for _ in range(200)}
    assert len(codes) > 190
    assert all(len(c) == 6 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("01OIL") & set(CODE_ALPHABET)


def test_error_message_reads_a_lambda_error_cause_or_plain_text():
    cause = json.dumps({"errorMessage": "slot taken", "errorType": "SlotUnavailable", "stackTrace": ["x"]})
    assert error_message(cause) == "slot taken"
    assert error_message("plain words") == "plain words"
    assert error_message('["json", "but no message"]') == '["json", "but no message"]'
    assert error_message(None) == ""


def test_map_results_parse_as_reservations_or_failures():
    reservation = {
        "hold": "A",
        "uid": "u1",
        "calcom_booking_id": 1,
        "event_type_id": 2,
        "start": "2030-03-06T13:00:00Z",
        "end": "2030-03-06T13:30:00Z",
        "reused": False,
    }
    failure = {"failed": True, "hold": "B", "error": "SlotUnavailable", "cause": "{}"}
    parsed = parse_reservations([reservation, failure])
    assert isinstance(parsed[0], Reservation) and isinstance(parsed[1], HoldFailure)
    assert parsed[1].error == "SlotUnavailable"
