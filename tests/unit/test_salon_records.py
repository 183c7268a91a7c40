"""Reading what happened (ADR 0031): a local day, cursors, a call's outcome and the page assembly."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from calbridge.domain.calls import RecordedCall
from calbridge.domain.salon_records import (
    AppointmentListing,
    CallListing,
    CallOutcome,
    call_outcome,
    decode_cursor,
    encode_cursor,
    local_day_bounds,
    page_of,
)
from calbridge.errors import InvalidRequest

AT = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
KEYS = ("appointment_id", "starts_at")
QUERY = {"date": "2026-03-10", "status": None}


def test_a_local_day_is_its_utc_span_also_across_a_dst_change():
    assert local_day_bounds(date(2026, 3, 10), "Europe/Berlin") == (
        datetime(2026, 3, 9, 23, tzinfo=UTC),
        datetime(2026, 3, 10, 23, tzinfo=UTC),
    )
    start, end = local_day_bounds(date(2026, 3, 29), "Europe/Berlin")  # clocks go forward: 23 hours
    assert (end - start).total_seconds() == 23 * 3600


def test_a_cursor_comes_back_only_to_its_company_and_query():
    cursor = encode_cursor("salon-demo", QUERY, {"appointment_id": "bk_1", "starts_at": "t"})
    assert decode_cursor(cursor, "salon-demo", QUERY, KEYS) == {"appointment_id": "bk_1", "starts_at": "t"}
    assert decode_cursor(None, "salon-demo", QUERY, KEYS) is None
    for company, query, keys in [
        ("salon-two", QUERY, KEYS),
        ("salon-demo", {**QUERY, "date": "2026-03-11"}, KEYS),
        ("salon-demo", QUERY, ("call_id", "created_at")),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            decode_cursor(cursor, company, query, keys)
        assert refused.value.field == "cursor"


@pytest.mark.parametrize("raw", ["", "%%%", "bm90IGpzb24", "W10", "eyJwIjp7ImFwcG9pbnRtZW50X2lkIjoxfX0"])
def test_anything_else_is_no_cursor(raw):
    with pytest.raises(InvalidRequest) as refused:
        decode_cursor(raw, "salon-demo", QUERY, KEYS)
    assert refused.value.field == "cursor"


def test_a_listing_reads_its_query_and_names_a_bad_field():
    listing = AppointmentListing.parse({"date": "2026-03-10", "staff_id": "fabian-spitzer", "limit": "5"})
    assert listing.limit == 5 and listing.statuses == ("booked", "cancelled", "cancel_failed")
    assert listing.key() == {
        "date": "2026-03-10",
        "branch_id": None,
        "staff_id": "fabian-spitzer",
        "status": None,
    }
    assert AppointmentListing.parse({"date": "2026-03-10", "status": "failed"}).statuses == ("failed",)
    assert CallListing.parse({"date": "2026-03-10", "outcome": "voicemail"}).outcome is CallOutcome.VOICEMAIL
    for query, field in [
        ({"date": "2026-3-10"}, "date"),
        ({"date": "2026-03-10", "limit": "-1"}, "limit"),
        ({"date": "2026-03-10", "status": "done"}, "status"),
        ({"date": "2026-03-10", "staff_id": "x" * 129}, "staff_id"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            AppointmentListing.parse(query)
        assert refused.value.field == field


def recorded(events: list[str], actions: list[str] = (), **facts) -> RecordedCall:
    return RecordedCall(
        company_id="salon-demo",
        call_id="c1",
        events=events,
        appointments=[{"appointment_id": f"bk_{a}", "action": a, "at": AT} for a in actions],
        created_at=AT,
        updated_at=AT,
        **facts,
    )


@pytest.mark.parametrize(
    ("call", "outcome"),
    [
        (recorded([], ["booked"]), CallOutcome.IN_PROGRESS),  # a tool call before call_started
        (recorded(["call_started"], ["booked"]), CallOutcome.IN_PROGRESS),
        (recorded(["call_ended"], ["cancelled", "booked"]), CallOutcome.BOOKED),
        (recorded(["call_ended", "call_analyzed"], ["cancelled", "rescheduled"]), CallOutcome.RESCHEDULED),
        (recorded(["call_ended"], ["cancelled"]), CallOutcome.CANCELLED),
        (recorded(["call_analyzed"], in_voicemail=True), CallOutcome.VOICEMAIL),
        (recorded(["call_started", "call_ended"]), CallOutcome.NO_BOOKING),
    ],
)
def test_a_calls_outcome_is_read_from_its_record(call, outcome):
    assert call_outcome(call) is outcome


def test_a_page_keeps_limit_matches_and_goes_on_after_the_last_item_it_read():
    items = [(n, {"n": str(n)}) for n in range(10)]
    even = lambda chunk: [n if n % 2 == 0 else None for n in chunk]  # noqa: E731
    assert page_of(iter(items), 3, even) == ([0, 2, 4], {"n": "4"})
    assert page_of(iter(items[5:]), 3, even) == ([6, 8], None)
    assert page_of(iter(items[:4]), 2, even) == ([0, 2], {"n": "2"})  # item 3 is left to read
    assert page_of(iter(items[:3]), 2, even) == ([0, 2], None)  # nothing left
    assert page_of(iter([]), 2, even) == ([], None)
