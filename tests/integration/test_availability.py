"""Availability on the local stack: Cal.com slots per segment event type from the stand-in."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, time
from types import SimpleNamespace

import httpx
import pytest

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # Sunday 07:00 in Berlin; the stand-in is frozen here
MONDAY = date(2026, 3, 2)


@pytest.fixture
def env(fresh):
    stack = fresh
    control = httpx.Client(base_url=stack.calcom_url)
    control.post("/_standin/clock", json={"now": NOW.isoformat()}).raise_for_status()
    wiring = importlib.import_module("calbridge.services.wiring")
    availability_module = importlib.import_module("calbridge.services.availability")
    store = importlib.import_module("calbridge.adapters.store.repositories")
    slot_cache = importlib.import_module("calbridge.adapters.store.slot_cache")
    mapping_store = importlib.import_module("calbridge.adapters.store.host_mappings")
    event_map = importlib.import_module("calbridge.adapters.store.event_map")
    wiring.event_type_provisioner().provision("salon-demo")
    service = SimpleNamespace(
        availability=availability_module.AvailabilityService(
            wiring.calcom_client(),
            store.StaffRepository(),
            mapping_store.HostMappingRepository(),
            event_map.EventMapRepository(),
            slot_cache.SlotCache(60),
            clock=lambda: NOW,
        ),
        company=store.CompanyRepository().get("salon-demo"),
        services=store.ServiceRepository(),
        errors=importlib.import_module("calbridge.errors"),
        control=control,
        calcom=wiring.calcom_client(),
    )
    yield service
    control.post("/_standin/clock", json={"now": None})
    control.close()


def local(moment: datetime) -> str:
    return moment.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).strftime("%H:%M")


def test_composite_start_is_free_when_every_segment_fits(env):
    service = env.services.get("salon-demo", "177")
    answer = env.availability.check(env.company, service, MONDAY, time(14, 0), staff_id="fabian-spitzer")
    assert answer.match is not None and answer.match.staff_id == "fabian-spitzer"
    assert [(s.key, local(s.start)) for s in answer.match.plan.segments] == [
        ("A", "14:00"),
        ("B", "15:15"),
        ("C", "15:30"),
        ("D", "16:00"),
    ]


def test_a_busy_later_segment_makes_the_start_unavailable_and_offers_alternatives(env):
    # Fabian is booked 15:30-16:15 Berlin (a Damenhaarschnitt): segment C of a 14:00 start would clash.
    env.control.post(
        "/_standin/bookings",
        json={
            "start": "2026-03-02T14:30:00Z",
            "duration": 45,
            "event_type_id": 3719001,
            "host_user_id": 1420209,
        },
    ).raise_for_status()
    service = env.services.get("salon-demo", "177")
    answer = env.availability.check(env.company, service, MONDAY, time(14, 0), staff_id="fabian-spitzer")
    assert answer.match is None
    assert len(answer.alternatives) == 3
    assert all(a.start.date() == MONDAY for a in answer.alternatives), "same day first"
    assert all(a.staff_id == "fabian-spitzer" for a in answer.alternatives)


def test_simple_service_lists_free_starts_of_every_staff_member(env):
    service = env.services.get("salon-demo", "41")
    answer = env.availability.check(env.company, service, MONDAY)
    starts = {(local(o.start), o.staff_id) for o in answer.starts}
    assert ("09:00", "fabian-spitzer") in starts
    assert all(o.start > NOW for o in answer.starts)


def test_staff_who_does_not_perform_the_service_is_refused(env):
    with pytest.raises(env.errors.NotFound):
        env.availability.check(
            env.company, env.services.get("salon-demo", "177"), MONDAY, staff_id="emma-williams"
        )


def test_slots_are_cached(env):
    service = env.services.get("salon-demo", "177")
    env.availability.check(env.company, service, MONDAY, time(14, 0), staff_id="fabian-spitzer")
    env.control.delete("/_standin/requests")
    env.availability.check(env.company, service, MONDAY, time(14, 0), staff_id="fabian-spitzer")
    assert [r for r in env.control.get("/_standin/requests").json() if r["path"] == "/v2/slots"] == []

    # Our own bookings drop these entries: tests/integration/test_saga_slot_cache.py.
