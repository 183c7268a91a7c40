"""The booking saga on the local stack: our real ASL (statemachines/booking.asl.json) on moto's
engine through StartSyncExecution, the task handlers in-process, the Cal.com stand-in over HTTP.

Simple and composite bookings, a taken slot at each segment k of 4, Cal.com failing one create
for good, a lost create response (no duplicate), two concurrent bookings of one slot, a busy
lease, both sides of a DST change, bad input; then the steps called directly: compensation with
the real Cal.com client (idempotent, only our bookings), Finalize run twice, the lease rules.

Days: a Wednesday at least a week ahead (Fabian works Mon-Sat 09:00-18:00 Berlin), and the
Saturday before / Monday after the next DST change, all computed from today (the stand-in runs on
real time, so they are in its future).
"""

from __future__ import annotations

import importlib
import itertools
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

ZONE = ZoneInfo("Europe/Berlin")
COMPANY = "salon-demo"
FABIAN = "fabian-spitzer"
FABIAN_USER = 1420209
COMPOSITE = "177"  # A 30 (+45 gap), B 15, C 30, D 30; pause policy free
SIMPLE = "41"  # Damenhaarschnitt, 45 min; Fabian's own event type of it (grid: 09:00 + n * 45 min)
CUSTOMER = {"name": "Anna Becker", "phone": "+49 151 2345 6789", "email": "anna.becker@example.com"}
CODE_ALPHABET = set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")


def workday(weeks_ahead: int = 1) -> date:
    """A Wednesday at least `weeks_ahead` weeks from today."""
    day = date.today() + timedelta(weeks=weeks_ahead)
    return day + timedelta(days=(2 - day.weekday()) % 7)


def next_dst_change(after: date) -> date:
    """The next last Sunday of March or October (Europe/Berlin's DST changes) after `after`."""
    for year in (after.year, after.year + 1):
        for month in (3, 10):
            last = date(year, month + 1, 1) - timedelta(days=1)
            sunday = last - timedelta(days=(last.weekday() - 6) % 7)
            if sunday > after:
                return sunday
    raise AssertionError("unreachable")


def at(day: date, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def hhmm(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%H:%M")


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


DAY = workday()


# ------------------------------------------------------------------------ fixtures, helpers


class StandIn:
    """The stand-in's control API, over HTTP like the functions' own calls."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def bookings(self, booking_id: str | None = None) -> list[dict[str, Any]]:
        items = self.http.get("/_standin/bookings").raise_for_status().json()
        if booking_id is None:
            return items
        return [b for b in items if (b.get("metadata") or {}).get("calbridge_booking_id") == booking_id]

    def active(self, booking_id: str | None = None) -> list[dict[str, Any]]:
        return [b for b in self.bookings(booking_id) if b["status"] not in ("cancelled", "rejected")]

    def faults(self, *rules: dict[str, Any]) -> None:
        self.http.post("/_standin/faults", json=list(rules)).raise_for_status()

    def seed_booking(self, start: datetime, minutes: int, host: int = FABIAN_USER) -> None:
        body = {"start": z(start), "duration": minutes, "host_user_id": host, "status": "accepted"}
        self.http.post("/_standin/bookings", json=body).raise_for_status()

    def requests(self, method: str, path: str) -> list[dict[str, Any]]:
        params = {"method": method, "path": path}
        return self.http.get("/_standin/requests", params=params).raise_for_status().json()


def _modules(stack) -> SimpleNamespace:
    """The modules the stack imported at its start (a cold start), the stand-in, the event map."""
    modules = SimpleNamespace(
        booking=importlib.import_module("calbridge.services.booking"),
        domain=importlib.import_module("calbridge.domain.booking"),
        planning=importlib.import_module("calbridge.domain.planning"),
        errors=importlib.import_module("calbridge.errors"),
        records=importlib.import_module("calbridge.adapters.store.bookings").BookingRecordRepository(),
        leases=importlib.import_module("calbridge.adapters.store.leases").LeaseRepository(),
        services=importlib.import_module("calbridge.adapters.store.repositories").ServiceRepository(),
        wiring=importlib.import_module("calbridge.services.wiring"),
        standin=StandIn(stack.calcom_url),
    )
    event_map = importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository()
    if not [e for e in event_map.list(COMPANY) if e.service_id == COMPOSITE and e.event_type_id]:
        # The demo seed provisions the segment event types; should it not (yet), do it here.
        modules.wiring.event_type_provisioner().provision(COMPANY)
    # Fabian's own event type of each hold (the one-host event types of ADR 0013).
    modules.event_types = {
        (e.service_id, e.segment_key): e.event_type_id
        for e in event_map.list(COMPANY)
        if e.host_user_id == FABIAN_USER
    }
    return modules


@pytest.fixture
def cb(fresh):
    """For tests that book: the demo salon as seeded, before and after."""
    modules = _modules(fresh)
    yield modules
    modules.standin.http.close()


@pytest.fixture(scope="module")
def seeded(stack):
    """For tests that book nothing: seeded once for them all (reseeding costs ~1 s a test)."""
    from tests.conftest import reseed

    reseed(stack)
    modules = _modules(stack)
    yield modules
    modules.standin.http.close()
    reseed(stack)


@pytest.fixture
def cb_light(seeded):
    seeded.standin.http.delete("/_standin/faults").raise_for_status()
    seeded.standin.http.delete("/_standin/requests").raise_for_status()
    return seeded


def execution(service_id: str, start: datetime, staff_id: str = FABIAN, **extra: Any) -> dict[str, Any]:
    return {
        "company_id": COMPANY,
        "booking_id": f"bk_{uuid.uuid4().hex}",
        "service_id": service_id,
        "start": start.isoformat(),
        "staff_id": staff_id,
        "customer": CUSTOMER,
        "call_id": "call_test",
        **extra,
    }


def book(cb, service_id: str, start: datetime, **extra: Any):
    request = execution(service_id, start, **extra)
    return request["booking_id"], cb.booking.run_booking(request)


def plan_of(cb, service_id: str, start: datetime):
    return cb.planning.plan_service(cb.services.get(COMPANY, service_id), start)


def assert_nothing_left(cb, booking_id: str, error: str) -> None:
    """No active Cal.com booking of the attempt, no booked appointment, a failed-attempt record."""
    assert cb.standin.active(booking_id) == []
    items = cb.records.items(COMPANY, booking_id)
    assert [i["status"] for i in items] == ["failed"], items
    assert items[0]["error"] == error and items[0]["error_cause"]
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None


# ------------------------------------------------------------------------ bookings that succeed


def test_a_simple_service_is_one_cal_com_booking_with_the_staff_member(cb):
    start = at(DAY, "14:15")
    booking_id, outcome = book(cb, SIMPLE, start)

    assert outcome.booked, outcome
    appointment = outcome.appointment
    assert (appointment.appointment_id, appointment.staff_id, appointment.service_id) == (
        booking_id,
        FABIAN,
        SIMPLE,
    )
    assert len(appointment.confirmation_code) == 6 and set(appointment.confirmation_code) <= CODE_ALPHABET
    (booking,) = cb.standin.active(booking_id)
    assert booking["start"] == z(start) and booking["end"] == z(start + timedelta(minutes=45))
    # Fabian's own one-host event type of the service, not the salon's round-robin 3719001.
    assert booking["eventTypeId"] == cb.event_types[(SIMPLE, "A")] != 3719001
    assert booking["hostUserIds"] == [FABIAN_USER]
    assert (
        booking["metadata"]["calbridge_hold"] == "A" and booking["metadata"]["calbridge_company"] == COMPANY
    )
    assert appointment.calcom_booking_uids == {"A": booking["uid"]}

    stored = {i["appointment_id"]: i for i in cb.records.items(COMPANY, booking_id)}
    head = stored[booking_id]
    assert (head["status"], head["staff_id"], head["calcom_host_id"]) == ("booked", FABIAN, FABIAN_USER)
    assert head["confirmation_code"] == appointment.confirmation_code
    assert (head["customer_name"], head["customer_phone"]) == ("Anna Becker", "+4915123456789")
    assert head["call_id"] == "call_test" and head["calcom_booking_uid"] == booking["uid"]
    assert stored[f"{booking_id}#A"]["calcom_booking_uid"] == booking["uid"]
    code = cb.records.get(COMPANY, f"code#{appointment.confirmation_code}")
    assert code["parent_id"] == booking_id
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None  # released by Finalize


def test_a_composite_service_books_every_segment_at_its_planned_time(cb):
    start = at(DAY, "14:00")
    plan = plan_of(cb, COMPOSITE, start)
    booking_id, outcome = book(cb, COMPOSITE, start)

    assert outcome.booked, outcome
    appointment = outcome.appointment
    bookings = {b["metadata"]["calbridge_hold"]: b for b in cb.standin.active(booking_id)}
    assert sorted(bookings) == ["A", "B", "C", "D"]
    for segment in plan.segments:
        booking = bookings[segment.key]
        assert (booking["start"], booking["end"]) == (z(segment.start), z(segment.end))
        assert booking["eventTypeId"] == cb.event_types[(COMPOSITE, segment.key)]
        assert booking["hostUserIds"] == [FABIAN_USER]
    local = [(s.key, hhmm(s.start), hhmm(s.end)) for s in appointment.segments]
    assert local == [
        ("A", "14:00", "14:30"),
        ("B", "15:15", "15:30"),
        ("C", "15:30", "16:00"),
        ("D", "16:00", "16:30"),
    ]
    assert {s.staff_id for s in appointment.segments} == {FABIAN}  # from host resolution
    assert {s.calcom_host_id for s in appointment.segments} == {FABIAN_USER}
    assert appointment.calcom_booking_uids == {key: b["uid"] for key, b in bookings.items()}

    items = {i["appointment_id"]: i for i in cb.records.items(COMPANY, booking_id)}
    assert sorted(items) == [booking_id, *(f"{booking_id}#{k}" for k in "ABCD")]
    assert {i["status"] for i in items.values()} == {"booked"}
    assert {i["composite_group_uid"] for i in items.values()} == {appointment.composite_group_uid}
    for key in "ABCD":
        segment = items[f"{booking_id}#{key}"]
        assert (segment["staff_id"], segment["calcom_host_id"]) == (FABIAN, FABIAN_USER)
        assert segment["calcom_booking_uid"] == bookings[key]["uid"]
        assert segment["staff_source"] in ("auto_email", "existing_mapping")
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None


def test_a_blocked_service_books_its_segments_and_gaps_without_a_hole(cb):
    """Service 42 (blocked): A 45, gap 10, B 60, gap 15, C 20 -> 3 segment + 2 gap bookings that
    hold Fabian from 14:00 to 16:30 in one piece, each on its own event type."""
    start = at(DAY, "14:00")
    plan = plan_of(cb, "42", start)
    company = (
        importlib.import_module("calbridge.adapters.store.repositories").CompanyRepository().get(COMPANY)
    )
    service = cb.services.get(COMPANY, "42")
    answer = cb.wiring.availability().check(company, service, DAY, start.timetz(), FABIAN)
    assert answer.match is not None and answer.match.plan.holds == plan.holds  # gaps are slots too
    booking_id, outcome = book(cb, "42", start)

    assert outcome.booked, outcome
    bookings = sorted(cb.standin.active(booking_id), key=lambda b: b["start"])
    assert [b["metadata"]["calbridge_hold"] for b in bookings] == ["A", "gap-A", "B", "gap-B", "C"]
    assert bookings[0]["start"] == z(start) and bookings[-1]["end"] == z(plan.end)
    assert hhmm(plan.end) == "16:30"
    for before, after in itertools.pairwise(bookings):
        assert before["end"] == after["start"]  # no hole: nobody else can get Fabian in between
    for booking in bookings:
        assert booking["eventTypeId"] == cb.event_types[("42", booking["metadata"]["calbridge_hold"])]
        assert booking["hostUserIds"] == [FABIAN_USER]
    assert cb.event_types[("42", "gap-A")] not in {cb.event_types[("42", k)] for k in "ABC"}

    appointment = outcome.appointment
    local = [(s.key, hhmm(s.start), hhmm(s.end)) for s in appointment.segments]
    assert local == [("A", "14:00", "14:45"), ("B", "14:55", "15:55"), ("C", "16:10", "16:30")]
    assert set(appointment.calcom_booking_uids) >= {"A", "B", "C"}
    items = cb.records.items(COMPANY, booking_id)
    assert {i["status"] for i in items} == {"booked"}
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None


def set_policy(cb, service_id: str, **changes: Any):
    """Save the service with `changes` (pause_policy, ...) and provision it again, as an admin PUT does."""
    service = cb.services.get(COMPANY, service_id)
    cb.services.save(type(service).model_validate({**service.model_dump(), **changes}))
    report = cb.wiring.event_type_provisioner().provision(COMPANY, service_id)
    assert report.ok, report.summary()
    return cb.services.get(COMPANY, service_id)


def test_a_flexible_service_books_its_segments_and_availability_stretches_a_gap(cb):
    service = set_policy(cb, COMPOSITE, pause_policy="flexible", max_gap_stretch=30)
    start = at(DAY, "14:00")
    booking_id, outcome = book(cb, COMPOSITE, start)

    assert outcome.booked, outcome
    bookings = {b["metadata"]["calbridge_hold"]: b for b in cb.standin.active(booking_id)}
    assert sorted(bookings) == ["A", "B", "C", "D"]  # as free: segments only, the gap stays open
    plan = plan_of(cb, COMPOSITE, start)
    for segment in plan.segments:
        assert (bookings[segment.key]["start"], bookings[segment.key]["end"]) == (
            z(segment.start),
            z(segment.end),
        )
        assert bookings[segment.key]["eventTypeId"] == cb.event_types[(COMPOSITE, segment.key)]
    assert {i["status"] for i in cb.records.items(COMPANY, booking_id)} == {"booked"}

    # B's unstretched time at 11:15 is taken: availability stretches the gap after A instead.
    cb.standin.seed_booking(at(DAY, "11:15"), 15)
    company = (
        importlib.import_module("calbridge.adapters.store.repositories").CompanyRepository().get(COMPANY)
    )
    answer = cb.wiring.availability().check(company, service, DAY, at(DAY, "10:00").timetz(), FABIAN)
    assert answer.match is not None, answer.alternatives
    stretched = answer.match.plan
    assert stretched.gap_stretch and 0 < stretched.gap_stretch[0] <= 30
    assert hhmm(stretched.start) == "10:00"
    assert hhmm(stretched.segments[1].start) > "11:15"


def test_a_never_service_is_one_booking_of_the_whole_duration(cb):
    set_policy(cb, COMPOSITE, pause_policy="never")  # provisions Fabian's "whole" event type
    whole = next(
        e.event_type_id
        for e in importlib.import_module("calbridge.adapters.store.event_map")
        .EventMapRepository()
        .list(COMPANY)
        if (e.service_id, e.segment_key, e.host_user_id) == (COMPOSITE, "whole", FABIAN_USER)
    )
    start = at(DAY, "14:00")  # on the 150-minute grid from 09:00
    booking_id, outcome = book(cb, COMPOSITE, start)

    assert outcome.booked, outcome
    (booking,) = cb.standin.active(booking_id)
    assert booking["metadata"]["calbridge_hold"] == "whole"
    assert (booking["start"], booking["end"]) == (z(start), z(start + timedelta(minutes=150)))
    assert booking["eventTypeId"] == whole and booking["hostUserIds"] == [FABIAN_USER]
    local = [(s.key, hhmm(s.start), hhmm(s.end)) for s in outcome.appointment.segments]
    assert local == [  # the segments are still recorded, for the appointment and the confirmation
        ("A", "14:00", "14:30"),
        ("B", "15:15", "15:30"),
        ("C", "15:30", "16:00"),
        ("D", "16:00", "16:30"),
    ]
    assert {i["status"] for i in cb.records.items(COMPANY, booking_id)} == {"booked"}
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None


def test_both_sides_of_a_dst_change_book_the_right_utc_times(cb):
    change = next_dst_change(DAY)
    saturday, monday = change - timedelta(days=1), change + timedelta(days=1)
    starts = {}
    for day in (saturday, monday):
        booking_id, outcome = book(cb, COMPOSITE, at(day, "14:00"))
        assert outcome.booked, outcome
        first = next(b for b in cb.standin.active(booking_id) if b["metadata"]["calbridge_hold"] == "A")
        starts[day] = first["start"]
        assert first["start"] == z(at(day, "14:00"))
        assert hhmm(outcome.appointment.segments[-1].end) == "16:30"
    offsets = {day: at(day, "14:00").utcoffset() for day in (saturday, monday)}
    assert set(offsets.values()) == {timedelta(hours=1), timedelta(hours=2)}
    utc_hours = {
        day: datetime.fromisoformat(value.replace("Z", "+00:00")).hour for day, value in starts.items()
    }
    assert utc_hours == {day: 14 - int(offsets[day].total_seconds() // 3600) for day in offsets}


def test_a_lease_taken_ahead_starts_the_workflow_at_its_holds(cb, fresh):
    """The tool layer's path (ADR 0019): plan and lease made before StartSyncExecution, so the
    workflow runs no Plan and no AcquireLock task; Finalize checks the hosts and gives the lease back."""
    saga = cb.wiring.booking_saga()
    request = cb.domain.BookingRequest.model_validate(execution(COMPOSITE, at(DAY, "14:00")))
    plan = saga.plan(request)
    lease = saga.lease_ahead(plan)
    assert lease is not None and lease.owner == request.booking_id

    outcome = cb.booking.run_booking(request, plan=plan, lease=lease)

    assert outcome.booked, outcome
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in fresh.last_express_history("BookingStateMachine")
        if "stateEnteredEventDetails" in e
    ]
    assert entered == ["PlanGiven", "ReserveHolds", *["ReserveHold"] * 4, "Finalize", "Booked"]
    assert cb.leases.get(COMPANY, plan.lease_key) is None


def test_a_lease_taken_ahead_is_given_back_by_compensation(cb):
    start = at(DAY, "14:00")
    cb.standin.seed_booking(plan_of(cb, COMPOSITE, start).segments[2].start, 30)  # C is taken
    saga = cb.wiring.booking_saga()
    request = cb.domain.BookingRequest.model_validate(execution(COMPOSITE, start))
    plan = saga.plan(request)

    outcome = cb.booking.run_booking(request, plan=plan, lease=saga.lease_ahead(plan))

    assert (outcome.status, outcome.error) == ("failed", "SlotUnavailable")
    assert_nothing_left(cb, request.booking_id, "SlotUnavailable")  # the lease included


def test_a_busy_lease_is_not_taken_ahead_and_the_workflow_waits_for_it(cb):
    """Another booking of Fabian's day holds the lease: lease_ahead leaves it (None), and the
    workflow's AcquireLock waits with its retries, then ends LeaseBusy; theirs is kept."""
    key = f"{FABIAN}#{DAY.isoformat()}"
    cb.leases.acquire(COMPANY, key, "bk_someone_else", ttl_s=60, now=datetime.now(UTC))
    saga = cb.wiring.booking_saga()
    request = cb.domain.BookingRequest.model_validate(execution(SIMPLE, at(DAY, "14:15")))
    plan = saga.plan(request)

    assert saga.lease_ahead(plan) is None
    outcome = cb.booking.run_booking(request, plan=plan)

    assert (outcome.status, outcome.error) == ("failed", "LeaseBusy")
    assert cb.leases.get(COMPANY, key).owner == "bk_someone_else"
    assert cb.standin.requests("POST", "/v2/bookings") == []


def test_a_lease_that_is_not_the_plans_is_refused_before_anything_starts(cb_light):
    cb = cb_light
    saga = cb.wiring.booking_saga()
    request = cb.domain.BookingRequest.model_validate(execution(SIMPLE, at(DAY, "14:15")))
    plan = saga.plan(request)
    other = cb.leases.acquire(
        COMPANY, "someone#2030-01-01", request.booking_id, ttl_s=60, now=datetime.now(UTC)
    )

    with pytest.raises(ValueError, match="not this plan's"):
        cb.booking.run_booking(request, plan=plan, lease=other)
    with pytest.raises(ValueError, match="not this plan's"):
        cb.booking.run_booking(request, lease=other)  # a lease without the plan


# ------------------------------------------------------------------------ failures: nothing remains


@pytest.mark.parametrize("k", range(4), ids=lambda k: f"segment-{'ABCD'[k]}")
def test_a_taken_slot_at_segment_k_leaves_no_booking_and_no_appointment(cb, k):
    start = at(DAY, "14:00")
    taken = plan_of(cb, COMPOSITE, start).segments[k]
    cb.standin.seed_booking(taken.start, taken.minutes)  # Fabian is busy for segment k only

    booking_id, outcome = book(cb, COMPOSITE, start)

    assert (outcome.status, outcome.error) == ("failed", "SlotUnavailable")
    assert f"hold {taken.key}" in outcome.message
    cancelled = [b for b in cb.standin.bookings(booking_id) if b["status"] == "cancelled"]
    assert sorted(b["metadata"]["calbridge_hold"] for b in cancelled) == sorted(set("ABCD") - {taken.key})
    assert_nothing_left(cb, booking_id, "SlotUnavailable")


def test_cal_com_failing_one_create_for_good_is_retried_then_compensated(cb):
    # Four creates run in parallel (calls 1-4); the 2nd fails, and so do its two retries (5, 6).
    cb.standin.faults(
        {"endpoint": "POST /v2/bookings", "fault": "5xx", "status": 503, "nth": 2},
        {"endpoint": "POST /v2/bookings", "fault": "5xx", "status": 503, "nth": 5, "times": 2},
    )
    booking_id, outcome = book(cb, COMPOSITE, at(DAY, "14:00"))

    assert (outcome.status, outcome.error) == ("failed", "ReservationFailed")
    assert "CalcomUnavailable" in outcome.message
    assert len(cb.standin.requests("POST", "/v2/bookings")) == 6  # 4 + 2 retries, never more
    assert len(cb.standin.bookings(booking_id)) == 3  # created, then cancelled
    assert_nothing_left(cb, booking_id, "ReservationFailed")


@pytest.mark.parametrize(
    "fault",
    [{"fault": "5xx", "status": 503}, {"fault": "timeout", "sleep_s": 0.2}],
    ids=["503-after-create", "timeout-after-create"],
)
def test_a_lost_create_response_is_found_by_metadata_and_not_duplicated(cb, fault):
    cb.standin.faults({"endpoint": "POST /v2/bookings", "nth": 3, "phase": "after", **fault})
    booking_id, outcome = book(cb, COMPOSITE, at(DAY, "14:00"))

    assert outcome.booked, outcome
    active = cb.standin.active(booking_id)
    assert sorted(Counter(b["metadata"]["calbridge_hold"] for b in active).items()) == [
        (key, 1) for key in "ABCD"
    ]
    assert len(cb.standin.requests("POST", "/v2/bookings")) == 4  # the retry found it: no 5th create
    assert set(outcome.appointment.calcom_booking_uids.values()) == {b["uid"] for b in active}


def test_two_concurrent_bookings_of_one_slot_one_wins_the_other_leaves_nothing(cb):
    start = at(DAY, "14:00")
    requests = [execution(COMPOSITE, start), execution(COMPOSITE, start)]
    outcomes: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def run(request: dict[str, Any]) -> None:
        barrier.wait()
        outcomes[request["booking_id"]] = cb.booking.run_booking(request)

    threads = [threading.Thread(target=run, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners = [b for b, o in outcomes.items() if o.booked]
    losers = [b for b, o in outcomes.items() if not o.booked]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    (winner,), (loser,) = winners, losers
    assert outcomes[loser].error in ("SlotUnavailable", "LeaseBusy")
    assert len(cb.standin.active(winner)) == 4
    assert cb.standin.active(loser) == []
    assert len(cb.standin.active()) == 4  # nothing else in Fabian's calendar
    assert [i["status"] for i in cb.records.items(COMPANY, loser)] == ["failed"]
    assert cb.records.get(COMPANY, winner)["status"] == "booked"


def test_a_lease_held_by_another_booking_makes_it_fail_with_lease_busy(cb):
    key = f"{FABIAN}#{DAY.isoformat()}"
    cb.leases.acquire(COMPANY, key, "bk_someone_else", ttl_s=60, now=datetime.now(UTC))

    booking_id, outcome = book(cb, SIMPLE, at(DAY, "14:15"))

    assert (outcome.status, outcome.error) == ("failed", "LeaseBusy")
    assert cb.standin.requests("POST", "/v2/bookings") == []
    assert cb.leases.get(COMPANY, key).owner == "bk_someone_else"  # theirs is kept
    assert [i["status"] for i in cb.records.items(COMPANY, booking_id)] == ["failed"]


@pytest.mark.parametrize(
    ("overrides", "error", "recorded"),
    [
        ({"service_id": "999"}, "UnknownService", True),
        ({"staff_id": "nobody"}, "UnknownStaff", True),
        ({"staff_id": "emma-williams"}, "StaffNotBookable", True),  # no Cal.com user id
        ({"service_id": "43"}, "StaffNotBookable", True),  # Fabian does not cut children's hair
        ({"company_id": "no-such-company"}, "UnknownCompany", False),
    ],
    ids=["unknown-service", "unknown-staff", "staff-without-calcom-user", "staff-not-performing",
         "unknown-company"],
)  # fmt: skip
def test_bad_bookings_fail_with_a_named_error_and_book_nothing(cb_light, overrides, error, recorded):
    cb = cb_light
    request = {**execution(SIMPLE, at(DAY, "14:15")), **overrides}
    outcome = cb.booking.run_booking(request)

    assert (outcome.status, outcome.error) == ("failed", error), outcome
    assert outcome.message and "Traceback" not in outcome.message
    assert cb.standin.requests("POST", "/v2/bookings") == []
    items = cb.records.items(request["company_id"], request["booking_id"])
    assert [i["status"] for i in items] == (["failed"] if recorded else [])


def test_invalid_input_is_refused_before_anything_starts(cb_light):
    cb = cb_light
    request = execution(SIMPLE, at(DAY, "14:15"), customer={"name": "Anna"})  # no e-mail, no phone
    with pytest.raises(cb.errors.InvalidRequest) as refused:
        cb.booking.run_booking(request)
    assert refused.value.field == "customer"
    naive = execution(SIMPLE, at(DAY, "14:15"))
    naive["start"] = "2030-01-01T14:00:00"
    with pytest.raises(cb.errors.InvalidRequest):
        cb.booking.run_booking(naive)


# ------------------------------------------------------------------------ the steps, called directly


def reserve_all(cb, saga, plan, retry: int = 0) -> list[dict[str, Any]]:
    items = []
    for hold in plan.holds:
        request = cb.domain.HoldRequest(
            company_id=plan.company_id,
            booking_id=plan.booking_id,
            calcom_user_id=plan.calcom_user_id,
            timezone=plan.timezone,
            language=plan.language,
            customer=plan.customer,
            hold=hold,
        )
        step = cb.booking.ReserveHoldInput(request=request, retry=retry)
        items.append(saga.reserve_hold(step).model_dump(mode="json"))
    return items


# ------------------------------------------------------------------------ deferred compensation


@pytest.fixture
def compensation_queue(fresh):
    """CompensationQueue, delivered to its worker once more after the test (each test leaves it
    empty: a deferred job must not reach another test)."""
    sqs = fresh.boto3_client("sqs")
    url = sqs.get_queue_url(QueueName="CompensationQueue")["QueueUrl"]
    yield SimpleNamespace(sqs=sqs, url=url)
    fresh.drain_queue("CompensationQueue")


def _queued(queue) -> dict[str, int]:
    attributes = queue.sqs.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {
        name.removeprefix("ApproximateNumberOfMessages") or "Visible": int(n)
        for name, n in attributes.items()
    }


def test_a_rate_limited_compensation_is_queued_and_finished_when_the_block_ends(
    cb, fresh, compensation_queue
):
    """Cal.com's key limit is reached mid-saga (its CustomThrottlerGuard blocks the key; here for
    2 s instead of 60): the workflow answers at once with the original error, the cancels wait in
    CompensationQueue until the reset, and then nothing of the attempt is left (ADR 0024)."""
    start = at(DAY, "14:00")
    cb.standin.seed_booking(plan_of(cb, COMPOSITE, start).segments[2].start, 30)  # C is taken
    # 4 creates pass the limiter (3 booked, C refused as taken); Compensate's listing is the 5th.
    limiter = {"enabled": True, "limit": 4, "window_s": 60, "block_s": 2}
    cb.standin.http.post("/_standin/rate-limit", json=limiter).raise_for_status()
    try:
        booking_id, outcome = book(cb, COMPOSITE, start)

        assert (outcome.status, outcome.error) == ("failed", "SlotUnavailable")
        # Compensate listed once, was refused, and queued the rest: no retries waiting out the block.
        assert len(cb.standin.requests("GET", "/v2/bookings")) == 1
        assert len(cb.standin.active(booking_id)) == 3  # still in Cal.com, for now
        failed = cb.records.get(COMPANY, booking_id)
        assert (failed["status"], failed["compensation"]) == ("failed", "deferred")
        assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None
        assert _queued(compensation_queue)["Delayed"] == 1
        assert fresh.drain_queue("CompensationQueue") == []  # not before Cal.com's reset

        time.sleep(2.5)
        (delivery,) = fresh.drain_queue("CompensationQueue")
    finally:
        cb.standin.http.post("/_standin/rate-limit", json={"limit": 120, "block_s": 60}).raise_for_status()

    assert delivery.result.function_error is None, delivery.result.json()
    assert cb.standin.active(booking_id) == []
    assert cb.records.get(COMPANY, booking_id)["compensation"] == "compensated"
    assert _queued(compensation_queue) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}


def test_a_compensation_cal_com_still_refuses_is_put_back_until_its_reset(cb, fresh, compensation_queue):
    """The worker's try is refused too (429, reset in 1 s): the job is reported failed and put
    back until the reset, not lost; the next delivery finishes it."""
    saga = cb.wiring.booking_saga()
    request = cb.domain.BookingRequest.model_validate(execution(SIMPLE, at(DAY, "14:15")))
    plan = saga.plan(request)
    (item,) = reserve_all(cb, saga, plan)
    job = cb.booking.DeferredCompensation(plan=plan, reservations=[item], error="StaffMismatch")
    compensation_queue.sqs.send_message(QueueUrl=compensation_queue.url, MessageBody=job.model_dump_json())
    cb.standin.faults({"endpoint": "GET /v2/bookings", "fault": "429", "reset_s": 1, "times": 1})

    (refused,) = fresh.drain_queue("CompensationQueue")

    assert refused.failed_ids == refused.message_ids
    assert len(cb.standin.active(plan.booking_id)) == 1
    assert _queued(compensation_queue)["NotVisible"] == 1  # put back until the reset, not deleted
    time.sleep(1.2)
    (finished,) = fresh.drain_queue("CompensationQueue")
    assert (finished.failed_ids, finished.receive_counts) == ([], {refused.message_ids[0]: 2})
    assert cb.standin.active(plan.booking_id) == []
    assert _queued(compensation_queue) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}


def test_a_compensation_job_that_is_no_job_is_dropped_not_retried(cb, fresh, compensation_queue):
    compensation_queue.sqs.send_message(QueueUrl=compensation_queue.url, MessageBody='{"plan": "nonsense"}')

    (delivery,) = fresh.drain_queue("CompensationQueue")

    assert delivery.result.json() == {"batchItemFailures": []}
    assert _queued(compensation_queue) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}


def test_deferral_waits_for_cal_coms_reset_else_backs_off_within_sqs_limits(cb_light):
    booking, errors = cb_light.booking, cb_light.errors
    limited = errors.RateLimited("429", retry_after_s=42.2)
    down = errors.CalcomUnavailable("503")
    assert booking.deferral_s(limited, attempt=1) == 43
    assert [booking.deferral_s(down, attempt=n) for n in (1, 2, 3, 7)] == [30, 60, 120, 900]
    assert booking.deferral_s(errors.RateLimited("429", retry_after_s=0.2), attempt=1) == 1


def test_compensation_cancels_only_our_bookings_and_is_idempotent(cb):
    """With the real Cal.com client against the stand-in: whatever is active with our booking id
    is cancelled (also what the workflow never heard of), a cancelled one counts as done, another
    attempt's booking in the same window stays, and running it again changes nothing."""
    from calbridge.adapters.calcom.models import AttendeeInput, CreateBookingRequest

    saga, calcom = cb.wiring.booking_saga(), cb.wiring.calcom_client()
    plan = saga.plan(cb.domain.BookingRequest.model_validate(execution(COMPOSITE, at(DAY, "14:00"))))
    items = reserve_all(cb, saga, plan)
    calcom.cancel_booking(items[0]["uid"], "cancelled by hand")
    other = calcom.create_booking(  # another attempt, in the gap after A, on A's event type
        CreateBookingRequest(
            start=at(DAY, "14:30"),
            event_type_id=plan.holds[0].event_type_id,
            attendee=AttendeeInput(name="Ben", email="ben@example.com", time_zone="Europe/Berlin"),
            metadata=cb.domain.booking_metadata(COMPANY, "bk_other", "A"),
        )
    )

    state = cb.booking.CompensateInput.model_validate(
        {"plan": plan.model_dump(mode="json"), "reservations": items[:2],  # C and D never reported
         "error": {"Error": "StaffMismatch", "Cause": '{"errorMessage": "hold A went to emma"}'}}
    )  # fmt: skip
    first = saga.compensate(state)
    assert sorted(first.cancelled) == sorted(i["uid"] for i in items[1:])
    assert first.already_cancelled == [items[0]["uid"]]
    assert first.recorded and first.lease_released
    assert cb.standin.active(plan.booking_id) == []
    assert [b["uid"] for b in cb.standin.active("bk_other")] == [other.uid]  # not ours: untouched
    record = cb.records.get(COMPANY, plan.booking_id)
    assert (record["status"], record["error"], record["error_cause"]) == (
        "failed",
        "StaffMismatch",
        "hold A went to emma",
    )

    again = saga.compensate(state)
    assert again.cancelled == []
    assert sorted(again.already_cancelled) == sorted(i["uid"] for i in items[:2])
    assert [b["uid"] for b in cb.standin.active("bk_other")] == [other.uid]


def test_finalize_twice_keeps_one_appointment_and_its_code(cb):
    saga = cb.wiring.booking_saga()
    plan = saga.plan(cb.domain.BookingRequest.model_validate(execution(COMPOSITE, at(DAY, "14:00"))))
    saga.acquire_lock(plan)
    items = reserve_all(cb, saga, plan)
    first = saga.finalize(plan, items)
    second = saga.finalize(plan, items)  # a retried step (the first answer got lost)

    assert second.confirmation_code == first.confirmation_code
    assert second.composite_group_uid == first.composite_group_uid
    assert len(cb.records.items(COMPANY, plan.booking_id)) == 5
    assert cb.leases.get(COMPANY, plan.lease_key) is None


def test_a_retried_reservation_reuses_the_booking_an_earlier_attempt_made(cb):
    saga = cb.wiring.booking_saga()
    plan = saga.plan(cb.domain.BookingRequest.model_validate(execution(SIMPLE, at(DAY, "14:15"))))
    (first,) = reserve_all(cb, saga, plan)
    (again,) = reserve_all(cb, saga, plan, retry=1)
    assert (again["uid"], again["reused"], first["reused"]) == (first["uid"], True, False)
    assert len(cb.standin.active(plan.booking_id)) == 1


def test_leases_are_reentrant_exclusive_and_expire(cb_light):
    cb = cb_light
    now = datetime.now(UTC)
    key = f"{FABIAN}#2030-01-02"
    cb.leases.acquire(COMPANY, key, "bk_one", ttl_s=60, now=now)
    cb.leases.acquire(COMPANY, key, "bk_one", ttl_s=60, now=now)  # its own again: fine
    with pytest.raises(cb.errors.LeaseBusy):
        cb.leases.acquire(COMPANY, key, "bk_two", ttl_s=60, now=now)
    assert cb.leases.release(COMPANY, key, "bk_two") is False  # not theirs to release
    assert cb.leases.get(COMPANY, key).owner == "bk_one"
    later = now + timedelta(seconds=61)
    assert cb.leases.acquire(COMPANY, key, "bk_two", ttl_s=60, now=later).owner == "bk_two"  # expired
    assert cb.leases.release(COMPANY, key, "bk_two") is True
    assert cb.leases.release(COMPANY, key, "bk_two") is True  # absent: nothing to do


def test_finalize_leaves_a_lease_that_another_booking_took_over(cb):
    """Our lease expired mid-flight and another attempt took it: Finalize books, theirs stays."""
    saga = cb.wiring.booking_saga()
    plan = saga.plan(cb.domain.BookingRequest.model_validate(execution(SIMPLE, at(DAY, "14:15"))))
    saga.acquire_lock(plan)
    items = reserve_all(cb, saga, plan)
    later = datetime.now(UTC) + timedelta(seconds=120)
    cb.leases.acquire(COMPANY, plan.lease_key, "bk_next_caller", ttl_s=60, now=later)

    summary = saga.finalize(plan, items)

    assert cb.records.get(COMPANY, summary.appointment_id)["status"] == "booked"
    assert cb.leases.get(COMPANY, plan.lease_key).owner == "bk_next_caller"


def test_the_sample_event_plans_on_the_stack(cb_light):
    """events/booking_plan.json: the execution input, as `make invoke FN=BookingPlanFunction` sends it."""
    import json
    from pathlib import Path

    event = json.loads((Path(__file__).parents[2] / "events" / "booking_plan.json").read_text("utf-8"))
    plan = cb_light.wiring.booking_saga().plan(cb_light.domain.BookingRequest.model_validate(event))
    assert [h.key for h in plan.holds] == ["A", "B", "C", "D"]
    assert plan.lease_key == "fabian-spitzer#2030-03-06" and plan.calcom_user_id == FABIAN_USER


# ------------------------------------------------------------------ waiting within a caller's budget


class HeldWorkflow:
    """A Step Functions client whose StartSyncExecution runs until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[str] = []

    def start_sync_execution(self, **request: Any) -> dict[str, Any]:
        self.started.append(request["name"])
        self.release.wait(timeout=30)
        return {"status": "SUCCEEDED", "name": request["name"]}


def test_a_workflow_outlasting_the_wait_goes_on_and_one_never_sent_is_withdrawn(cb_light):
    booking = cb_light.booking
    held = HeldWorkflow()
    try:
        # Every waiting thread busy with a workflow that outlasts its caller's wait: each "running".
        busy = booking._waiting()._max_workers
        for n in range(busy):
            assert booking.start_sync(held, 0.05, name=f"running-{n}") is None
        # One more finds no thread: it is withdrawn, never sent, so it cannot start after the answer.
        with pytest.raises(cb_light.errors.WorkflowUnavailable):
            booking.start_sync(held, 0.05, name="never-sent")
        assert "never-sent" not in held.started and len(held.started) == busy
    finally:
        held.release.set()
    assert booking.start_sync(held, 5.0, name="after") == {"status": "SUCCEEDED", "name": "after"}
    assert booking.start_sync(held, None, name="unbounded")["name"] == "unbounded"
