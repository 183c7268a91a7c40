"""Availability within the caller's patience (docs/adr/0016-availability-budget.md), on the local
stack against the Cal.com stand-in over HTTP: what the shared-grid reading answers is exactly what
every hold's own event type says; a multi-day answer fills every day's cache entry; the request
cap and the time budget cut a check short, and the answer says so."""

from __future__ import annotations

import importlib
import time as monotonic_time
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import httpx
import pytest

from tests.helpers import link_staff

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # Sunday 07:00 in Berlin (closed); the stand-in is frozen here
SUNDAY, MONDAY = date(2026, 3, 1), date(2026, 3, 2)
USERS = {
    "fabian-spitzer": 1420209,
    "emma-williams": 1420210,
    "lena-mueller": 1420211,
    "sara-oezdemir": 1420212,
}


@pytest.fixture
def env(fresh):
    control = httpx.Client(base_url=fresh.calcom_url, timeout=30)
    control.post("/_standin/clock", json={"now": NOW.isoformat()}).raise_for_status()
    modules = SimpleNamespace(
        wiring=importlib.import_module("calbridge.services.wiring"),
        availability=importlib.import_module("calbridge.services.availability"),
        store=importlib.import_module("calbridge.adapters.store.repositories"),
        slot_cache=importlib.import_module("calbridge.adapters.store.slot_cache"),
        mappings=importlib.import_module("calbridge.adapters.store.host_mappings"),
        event_map=importlib.import_module("calbridge.adapters.store.event_map"),
        planning=importlib.import_module("calbridge.domain.planning"),
        event_types=importlib.import_module("calbridge.domain.event_types"),
        errors=importlib.import_module("calbridge.errors"),
    )
    modules.wiring.event_type_provisioner().provision("salon-demo")
    modules.company = modules.store.CompanyRepository().get("salon-demo")
    modules.services = modules.store.ServiceRepository()
    modules.control = control

    def service_for(**limits):
        return modules.availability.AvailabilityService(
            modules.wiring.calcom_client(),
            modules.store.StaffRepository(),
            modules.mappings.HostMappingRepository(),
            modules.event_map.EventMapRepository(),
            modules.slot_cache.SlotCache(60),
            clock=lambda: NOW,
            limits=modules.availability.AvailabilityLimits(**limits),
        )

    modules.service_for = service_for
    yield modules
    control.post("/_standin/latency", json={"ms": 0})
    control.post("/_standin/clock", json={"now": None})
    control.close()


def slots_requests(env) -> list[dict]:
    return [r for r in env.control.get("/_standin/requests").json() if r["path"] == "/v2/slots"]


def book_fabian(env, start: str, minutes: int) -> None:
    """A booking of Fabian's made in Cal.com (another event type), at an odd time."""
    env.control.post(
        "/_standin/bookings",
        json={
            "start": start,
            "duration": minutes,
            "event_type_id": 3719001,
            "host_user_id": USERS["fabian-spitzer"],
        },
    ).raise_for_status()


def every_staff_member_performs(env, service_id: str) -> None:
    """All four staff linked to their Cal.com users and performing `service_id`, provisioned."""
    for staff_id, user_id in USERS.items():
        link_staff(staff_id, user_id, provision=False)
    service = env.services.get("salon-demo", service_id)
    env.services.save(service.model_copy(update={"staff_ids": list(USERS)}))
    report = env.wiring.event_type_provisioner().provision("salon-demo", repair=False, create_missing=True)
    assert report.ok, report.summary()


def truth(env, service_id: str, day: date) -> set[datetime]:
    """Fabian's free starts on `day` from every hold's OWN event type (one request per hold)."""
    service = env.services.get("salon-demo", service_id)
    entries = env.event_types.index_event_map(
        env.event_map.EventMapRepository().list("salon-demo", service_id)
    )
    user = USERS["fabian-spitzer"]
    start, end = env.availability.local_day(day, env.company)
    slots = {}
    for hold in env.event_types.hold_targets(service):
        event_type = env.event_types.event_type_for(hold, service, entries, user)
        answer = env.wiring.calcom_client().get_slots(event_type, start, end, "Europe/Berlin")
        slots[hold.key] = {s.start.astimezone(UTC) for s in answer.slots}
    first = env.event_types.hold_targets(service)[0].key
    return {
        t
        for t in slots[first]
        if any(
            env.planning.plan_fits(plan, lambda hold: hold.start in slots[hold.key])
            for plan in env.planning.plan_variants(service, t)
        )
    }


@pytest.mark.parametrize("service_id", ["177", "178", "42"])
def test_holds_read_from_the_shortest_on_their_grid_answer_what_their_own_event_types_say(env, service_id):
    # Fabian's day broken up at odd minutes, so every hold's grid and end matter.
    book_fabian(env, "2026-03-02T09:05:00Z", 20)  # 10:05-10:25 Berlin
    book_fabian(env, "2026-03-02T11:40:00Z", 35)  # 12:40-13:15
    book_fabian(env, "2026-03-02T15:10:00Z", 10)  # 16:10-16:20
    service = env.services.get("salon-demo", service_id)
    found = {o.start for o in env.service_for().free_starts(env.company, service, [MONDAY], "fabian-spitzer")}
    expected = truth(env, service_id, MONDAY)
    assert expected, "the day has free starts"
    assert found == expected


def test_a_composite_asks_two_event_types_per_staff_member_for_the_day_and_the_week_after(env):
    service = env.services.get("salon-demo", "177")
    env.control.delete("/_standin/requests")
    answer = env.service_for().check(env.company, service, MONDAY, time(14, 0), staff_id="fabian-spitzer")
    assert answer.match is not None and answer.complete
    requests = slots_requests(env)
    assert len(requests) == 2  # segment A's event type, and B's for B, C and D
    # One window per event type: Monday's local midnight to the end of the 7th day after it.
    assert {(r["query"]["start"], r["query"]["end"]) for r in requests} == {
        ("2026-03-01T23:00:00Z", "2026-03-09T22:59:59Z")
    }


def test_a_multi_day_answer_fills_every_day_of_the_cache(env):
    service = env.services.get("salon-demo", "177")
    availability = env.service_for()
    availability.check(env.company, service, MONDAY, time(14, 0), staff_id="fabian-spitzer")
    env.control.delete("/_standin/requests")

    thursday = availability.check(env.company, service, MONDAY + timedelta(days=3), staff_id="fabian-spitzer")

    assert thursday.starts and thursday.complete
    # Thursday and its 4 following days came from the first check; the rest of its week is asked once.
    requests = slots_requests(env)
    assert len(requests) == 2
    assert {r["query"]["start"] for r in requests} == {"2026-03-09T23:00:00Z"}


def test_closed_day_with_four_staff_stays_within_eight_requests_in_one_round(env):
    every_staff_member_performs(env, "177")
    service = env.services.get("salon-demo", "177")
    # A long latency, so that a loaded machine cannot blur one round trip into two (8 in a row: 16 s).
    env.control.post("/_standin/latency", json={"ms": 2000}).raise_for_status()
    env.control.delete("/_standin/requests")

    started = monotonic_time.perf_counter()
    answer = env.service_for().check(env.company, service, SUNDAY, time(11, 0))
    elapsed = monotonic_time.perf_counter() - started

    assert answer.match is None and answer.complete
    assert [a.start.date() for a in answer.alternatives] == [MONDAY] * 3
    assert len(slots_requests(env)) == 8  # 4 staff x (segment A, segment B for B-D)
    assert elapsed < 2 * 2.0, "all of them in one round trip"


def test_the_request_cap_reads_whole_staff_members_and_says_the_answer_is_partial(env):
    every_staff_member_performs(env, "177")
    service = env.services.get("salon-demo", "177")
    env.control.delete("/_standin/requests")

    answer = env.service_for(max_calcom_requests=5).check(env.company, service, MONDAY, time(14, 0))

    assert len(slots_requests(env)) == 4  # two staff members' two event types; half a third reads nothing
    assert not answer.complete
    assert {o.staff_id for o in answer.starts} <= {"fabian-spitzer", "emma-williams"}


def test_the_budget_answers_with_what_came_in_time(env):
    service = env.services.get("salon-demo", "177")
    link_staff("lena-mueller", USERS["lena-mueller"])
    env.service_for().check(env.company, service, MONDAY, time(14, 0), staff_id="fabian-spitzer")  # cached
    env.control.post("/_standin/latency", json={"ms": 5000}).raise_for_status()

    started = monotonic_time.perf_counter()
    answer = env.service_for(budget_ms=500).check(env.company, service, MONDAY, time(14, 0))
    elapsed = monotonic_time.perf_counter() - started

    assert elapsed < 2.5, "the check stopped waiting at its budget, long before Cal.com answered"
    assert not answer.complete
    assert answer.match is not None and answer.match.staff_id == "fabian-spitzer"
    assert {o.staff_id for o in answer.starts} == {"fabian-spitzer"}


def test_nothing_in_time_is_calcom_unavailable(env):
    service = env.services.get("salon-demo", "177")
    env.control.post("/_standin/latency", json={"ms": 3000}).raise_for_status()
    started = monotonic_time.perf_counter()
    with pytest.raises(env.errors.CalcomUnavailable):
        env.service_for(budget_ms=300).check(env.company, service, MONDAY, time(14, 0))
    assert monotonic_time.perf_counter() - started < 1.5


def test_a_staff_member_cal_com_fails_for_is_left_out_and_the_answer_is_partial(env):
    link_staff("lena-mueller", USERS["lena-mueller"])
    service = env.services.get("salon-demo", "41")  # simple: one request per staff member
    env.control.post(
        "/_standin/faults", json={"rules": [{"endpoint": "GET /v2/slots", "fault": "5xx", "nth": 1}]}
    ).raise_for_status()

    answer = env.service_for(concurrency=1).check(env.company, service, MONDAY)

    assert not answer.complete and answer.starts
    assert len({o.staff_id for o in answer.starts}) == 1


def test_a_cap_too_small_for_anyone_is_calcom_unavailable_without_a_request(env):
    service = env.services.get("salon-demo", "177")  # Fabian needs two event types read
    env.control.delete("/_standin/requests")
    with pytest.raises(env.errors.CalcomUnavailable):
        env.service_for(max_calcom_requests=1).check(env.company, service, MONDAY, time(14, 0))
    assert slots_requests(env) == []
