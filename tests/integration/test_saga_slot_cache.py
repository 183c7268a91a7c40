"""The sagas keep the 60 s slot cache (adapters/store/slot_cache.py) honest themselves: Finalize,
Compensate, MarkCancelled and SwapAppointment drop the entries of the holds they booked, freed or
found refused, inside the transaction they write anyway (no extra DynamoDB call), and the
appointment keeps those keys for a later cancel or reschedule. Entries of other days stay.

On the local stack: our real ASL on moto's engine, the task handlers in-process, the Cal.com
stand-in over HTTP; the cache is filled by the production availability service.
"""

from __future__ import annotations

import importlib
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.test_booking_saga import (
    COMPANY,
    COMPOSITE,
    DAY,
    FABIAN,
    FABIAN_USER,
    _modules,
    at,
    book,
)

OTHER_DAY = DAY + timedelta(days=7)


@pytest.fixture
def cb(fresh):
    modules = _modules(fresh)
    modules.slot_cache = importlib.import_module("calbridge.adapters.store.slot_cache")
    modules.repositories = importlib.import_module("calbridge.adapters.store.repositories")
    modules.changes = importlib.import_module("calbridge.services.appointment_changes")
    yield modules
    modules.standin.http.close()


#: The segments whose event types availability asks Cal.com for: A, and B, whose slots also answer
#: for C and D (the same 5-minute grid; B is the shortest: docs/adr/0016-availability-budget.md).
READ = "AB"


def keys(cb, day, segments: str = "ABCD") -> list[str]:
    """The cache entries of the composite service's segment event types for Fabian on `day`."""
    return sorted(
        cb.slot_cache.cache_key(COMPANY, cb.event_types[(COMPOSITE, key)], FABIAN_USER, day)
        for key in segments
    )


def fill(cb, *days) -> None:
    """Read Fabian's free starts of the composite service on `days`: availability caches them."""
    company = cb.repositories.CompanyRepository().get(COMPANY)
    service = cb.services.get(COMPANY, COMPOSITE)
    cb.wiring.availability().free_starts(company, service, list(days), FABIAN)


def cached(cb, day) -> list[str]:
    record = cb.slot_cache.SlotCacheRecord
    return [key for key in keys(cb, day) if record.count(key) > 0]


def read(cb, day) -> list[str]:
    """The entries a look at `day` fills: those of the event types availability reads."""
    return keys(cb, day, READ)


def head(cb, appointment_id: str) -> dict[str, Any]:
    return cb.records.get(COMPANY, appointment_id)


def test_a_booking_drops_the_entries_of_its_day_in_its_finalize_transaction(cb):
    fill(cb, DAY, OTHER_DAY)
    assert cached(cb, DAY) == read(cb, DAY) and cached(cb, OTHER_DAY) == read(cb, OTHER_DAY)
    # Fabian's host mapping exists already (its first resolution writes it, in a transaction).
    fabian = {"id": FABIAN_USER, "name": "Fabian Spitzer", "email": "fabian@askproai.de"}
    host = importlib.import_module("calbridge.domain.hosts").HostRef.from_calcom(fabian)
    cb.wiring.host_resolver().resolve(COMPANY, host)
    connection = importlib.import_module("pynamodb.connection.base").Connection
    original, calls = connection._make_api_call, Counter()

    running = importlib.import_module("local.lambda_runtime").RUNNING_FUNCTION

    def counting(self: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
        # The booking's calls, not those of the Cal.com webhooks its creates trigger: in AWS those
        # reach another function, here they run in background threads of the same process.
        if running.get(None) != "CalcomWebhookFunction":
            calls[operation] += 1
        return original(self, operation, *args, **kwargs)

    connection._make_api_call = counting
    try:
        booking_id, outcome = book(cb, COMPOSITE, at(DAY, "14:00"))
    finally:
        connection._make_api_call = original

    assert outcome.booked, outcome
    assert cached(cb, DAY) == [] and cached(cb, OTHER_DAY) == read(cb, OTHER_DAY)
    # The saga drops every hold's entry: a superset of what availability reads.
    assert head(cb, booking_id)["slot_cache_keys"] == keys(cb, DAY)
    # Folded into Finalize's one transaction: no call of its own (issue 4: at most 6 per booking).
    assert calls["TransactWriteItems"] == 1 and not calls["BatchWriteItem"] and not calls["DeleteItem"]
    assert sum(calls.values()) <= 6, calls
    # The next look at that day asks Cal.com again, and the booked start is no longer offered.
    company = cb.repositories.CompanyRepository().get(COMPANY)
    service = cb.services.get(COMPANY, COMPOSITE)
    starts = {o.start for o in cb.wiring.availability().free_starts(company, service, [DAY], FABIAN)}
    assert at(DAY, "14:00") not in starts and at(DAY, "09:00") in starts


def test_a_booking_cal_com_refused_drops_the_stale_entries_too(cb):
    """Our cache said 14:00 was free; Cal.com refuses segment B (booked elsewhere meanwhile):
    Compensate drops the day's entries, so the next check sees the truth."""
    fill(cb, DAY)
    cb.standin.seed_booking(at(DAY, "15:15"), 15)  # taken behind the cache's back

    booking_id, outcome = book(cb, COMPOSITE, at(DAY, "14:00"))

    assert outcome.error == "SlotUnavailable", outcome
    assert cached(cb, DAY) == []
    assert head(cb, booking_id)["status"] == "failed"


def test_cancel_and_reschedule_drop_what_the_appointment_held_and_takes(cb):
    booking_id, outcome = book(cb, COMPOSITE, at(DAY, "14:00"))
    assert outcome.booked, outcome
    fill(cb, DAY, OTHER_DAY)

    moved = cb.changes.run_reschedule(
        {"company_id": COMPANY, "appointment_id": booking_id, "start": at(OTHER_DAY, "10:00").isoformat()}
    )

    assert moved.status == "rescheduled", moved
    assert cached(cb, DAY) == [] and cached(cb, OTHER_DAY) == []  # the freed day and the new one
    assert head(cb, booking_id)["slot_cache_keys"] == keys(cb, OTHER_DAY)

    fill(cb, DAY, OTHER_DAY)
    cancelled = cb.changes.run_cancel({"company_id": COMPANY, "appointment_id": booking_id})

    assert cancelled.status == "cancelled", cancelled
    assert cached(cb, OTHER_DAY) == [] and cached(cb, DAY) == read(cb, DAY)
