"""The booking workflow's pure parts: input rules, metadata, confirmation codes, error causes
(domain/booking.py). Which event type books a hold: tests/unit/test_event_types_domain.py."""

import json
from datetime import date, datetime
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
    is_ours,
    lease_key,
    new_confirmation_code,
    parse_reservations,
)
from calbridge.domain.models import Service

BERLIN = ZoneInfo("Europe/Berlin")
FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())
COMPANY = FIXTURE["company"]["company_id"]
DEMO = {s["service_id"]: Service.model_validate({"company_id": COMPANY, **s}) for s in FIXTURE["services"]}
START = datetime(2030, 3, 6, 14, 0, tzinfo=BERLIN)


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
