"""Retention's pure parts (docs/adr/0028): TTL values, expiry, and who a caller is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from calbridge.domain.retention import CallerRef, expired, expires_at

END = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)


def test_expires_at_is_epoch_seconds_days_after_the_moment():
    assert expires_at(END, 365) == int((END + timedelta(days=365)).timestamp())
    assert expires_at(END, 1) - expires_at(END, 0) == 86400


def test_expired_from_the_ttl_second_on_and_never_without_one():
    ttl = expires_at(END, 10)
    assert not expired(ttl, END + timedelta(days=10, seconds=-1))
    assert expired(ttl, END + timedelta(days=10))
    assert not expired(None, END + timedelta(days=10_000))


def test_a_caller_is_named_by_a_normalised_phone_or_an_email():
    assert CallerRef(phone="+49 151 1234-5678").phone == "+4915112345678"
    by_mail = CallerRef(email=" Anna@Example.org ")
    assert by_mail.kind == "email"
    assert by_mail.names(None, "anna@example.ORG") and not by_mail.names("+4915112345678", None)
    by_phone = CallerRef(phone="0049 151 12345678")
    assert by_phone.names("+4915112345678", None) and not by_phone.names(None, "anna@example.org")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"phone": "+4915112345678", "email": "a@b.de"},
        {"phone": "0151 12345678"},
        {"email": "nobody"},
        {"x": 1},
    ],
)
def test_a_caller_needs_exactly_one_valid_identifier(data):
    with pytest.raises(ValidationError):
        CallerRef.model_validate(data)
