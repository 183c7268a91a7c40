import json
import logging

import pytest
from aws_lambda_powertools import Logger

from calbridge.config import load_settings
from calbridge.errors import InvalidConfiguration
from calbridge.observability import RedactingFormatter, mask_phone, redact

ENV = {
    "COMPANIES_TABLE": "c",
    "PHONE_NUMBERS_TABLE": "p",
    "STAFF_TABLE": "s",
    "SERVICES_TABLE": "sv",
    "CALLS_TABLE": "calls",
    "IDEMPOTENCY_TABLE": "i",
    "HOST_MAPPINGS_TABLE": "hm",
    "MAPPING_AUDITS_TABLE": "ma",
    "HOST_REVIEWS_TABLE": "hr",
    "APPOINTMENTS_TABLE": "ap",
    "SLOT_CACHE_TABLE": "sc",
    "EVENT_MAP_TABLE": "em",
    "LEASES_TABLE": "le",
    "BOOKING_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:booking",
    "CANCEL_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:cancel",
    "RESCHEDULE_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:reschedule",
    "TEAM_SYNC_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/TeamSyncQueue",
    "COMPENSATION_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/CompensationQueue",
    "BOOKING_REQUESTS_TABLE": "BookingRequestsTable",
    "BOOKING_REQUESTS_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/BookingRequestsQueue",
    "RECONCILIATION_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/ReconciliationQueue",
    "RECONCILIATION_RUNS_TABLE": "ReconciliationRunsTable",
    "SYNC_RUNS_TABLE": "sr",
    "TEAM_MEMBERS_TABLE": "tm",
    "CALCOM_BASE_URL": "https://api.cal.com",
    "RETELL_API_KEY_SECRET": "calbridge/retell-api-key",
    "CALCOM_API_KEY_SECRET": "calbridge/calcom-api-key",
    "CALCOM_WEBHOOK_SECRET_SECRET": "calbridge/calcom-webhook-secret",
}


def test_settings_load_with_pinned_calcom_versions():
    settings = load_settings(ENV)
    assert settings.calcom_api_versions.bookings == "2024-08-13"
    assert settings.calcom_api_versions.slots == "2024-09-04"
    assert settings.calcom_api_versions.event_types == "2024-06-14"
    assert settings.signature_tolerance_s == 300


def test_versions_and_timeouts_are_configurable():
    settings = load_settings(
        {**ENV, "CALCOM_API_VERSION_BOOKINGS": "2026-02-25", "CALCOM_READ_TIMEOUT_S": "4"}
    )
    assert settings.calcom_api_versions.bookings == "2026-02-25"
    assert settings.calcom_read_timeout_s == 4


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"COMPANIES_TABLE": ""}, "COMPANIES_TABLE"),
        ({"CALCOM_BASE_URL": "not a url"}, "CALCOM_BASE_URL"),
        ({"CALCOM_READ_TIMEOUT_S": "-1"}, "CALCOM_READ_TIMEOUT_S"),
    ],
)
def test_invalid_environment_names_the_variable(change, named):
    with pytest.raises(InvalidConfiguration, match=named):
        load_settings({**ENV, **change})


def test_redaction_masks_phones_and_emails_everywhere():
    record = {
        "message": "call from +4915112345678 for fabian@askproai.de",
        "to_number": "+493012345670",
        "customer_phone": "0151 1234567",
        "nested": [{"email": "lena.mueller@salon-demo.de"}],
        "call_id": "call_7f3c2a9e41b84d0c9a1e5b6d2f",
        "timestamp_ms": 1778572800412,
    }
    out = json.dumps(redact(record))
    for secret in ("+4915112345678", "fabian@", "+493012345670", "0151 1234567", "lena.mueller@"):
        assert secret not in out
    assert "f***@askproai.de" in out and "+49*********78" in out
    assert "call_7f3c2a9e41b84d0c9a1e5b6d2f" in out and "1778572800412" in out


def test_mask_phone_keeps_prefix_and_last_two_digits():
    assert mask_phone("+4930123456789") == "+49*********89"
    assert mask_phone("123") == "***"


def test_logger_output_is_redacted(capsys):
    log = Logger(service="test-redaction", logger_formatter=RedactingFormatter(), stream=None)
    log.info("booking for anna@example.com", to_number="+4930123456789")
    out = capsys.readouterr().out
    assert "anna@example.com" not in out and "+4930123456789" not in out
    assert "a***@example.com" in out
    logging.getLogger("test-redaction").handlers.clear()
