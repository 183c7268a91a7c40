"""`make load` in its CI size (issue 14, item 5): four callers for three seconds, each checking a day
and booking the start offered, through the HTTP front against the stand-in with its rate limiter
on (local/load.py). The full run (20 callers, 60 s) is `make load`; this proves the module works
and that its report is sound: every caller hears an honest answer, Cal.com never answers 429,
every booking is stored once with one Cal.com booking per hold, and a booking costs the Cal.com
requests its holds and its check need, no more."""

from __future__ import annotations

from local.load import ANSWERED, NOT_NOW, run_load

CALLERS, SECONDS = 4, 3.0
#: A check of a composite reads 2 event types' slots for the staff member named (ADR 0016), a
#: booking creates one Cal.com booking per hold (5 at most: service 42 with its gaps booked).
#: More per booking would be retries or repairs: the key's budget spent on nothing.
MOST_CALCOM_REQUESTS_PER_BOOKING = 2 + 5


def test_a_few_callers_for_a_few_seconds_check_and_book_within_the_key(fresh):
    report = run_load(fresh, callers=CALLERS, seconds=SECONDS)
    print("\n" + "\n".join(report.lines()))

    checks, bookings = report.of("check_availability"), report.of("book_appointment")
    assert checks and bookings, report.samples
    assert report.elapsed_s >= SECONDS
    assert report.bookings > 0 and report.bookings_per_min > 0 and report.calls_per_s > 0
    assert not report.unexpected, [s.detail for s in report.samples if s.detail]
    assert {s.kind for s in report.samples} <= ANSWERED | NOT_NOW
    assert report.statuses[429] == 0, report.statuses  # the key never blocked
    assert report.busiest_60s <= 120
    assert report.problems == [], report.problems  # stored once, one booking per hold, no orphan
    assert 1 <= report.calcom_per_booking <= MOST_CALCOM_REQUESTS_PER_BOOKING, report.endpoints
    assert 0 <= report.slot_reads_per_check <= 2
    assert report.endpoints["POST /v2/bookings"] >= report.bookings
    for tool in ("check_availability", "book_appointment"):
        p50, p95 = report.latency_ms(tool)
        assert 0 < p50 <= p95, (tool, p50, p95)

    lines = report.lines()
    assert lines[0] == f"| {CALLERS} callers, {SECONDS:g} s | value |"
    assert any(line.startswith("| check_availability | ") for line in lines)
    assert any(line.startswith("| book_appointment | ") for line in lines)
    assert any("outcome check" in line and line.endswith("| sound |") for line in lines)
