"""The pure comparison of reconciliation (domain/reconciliation.py, docs/adr/0023-reconciliation.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calbridge.domain.booking import booking_metadata
from calbridge.domain.reconciliation import (
    AppointmentOnRecord,
    CalcomBookingSeen,
    HoldOnRecord,
    ReconciliationReport,
    attention_marks,
    compare,
)

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)
WINDOW = {"window_start": NOW - timedelta(days=1), "window_end": NOW + timedelta(days=60), "now": NOW}
START = NOW + timedelta(days=1)
_ids = iter(range(700001, 800000))


def booking(
    uid: str,
    attempt: str,
    *,
    company: str = "salon-demo",
    status: str = "accepted",
    start: datetime = START,
    age: timedelta = timedelta(hours=2),
    **extra,
) -> CalcomBookingSeen:
    return CalcomBookingSeen(
        id=next(_ids),
        uid=uid,
        status=status,
        start=start,
        created_at=NOW - age,
        metadata=booking_metadata(company, attempt, "A"),
        **extra,
    )


def appointment(
    appointment_id: str, *holds: tuple[str, str, datetime | None], status: str = "booked", **extra
):
    return AppointmentOnRecord(
        appointment_id=appointment_id,
        status=status,
        starts_at=START,
        holds=tuple(HoldOnRecord(hold=h, uid=u, start=s) for h, u, s in holds),
        **extra,
    )


def run(bookings, appointments):
    return compare("salon-demo", bookings, appointments, grace=GRACE, **WINDOW)


def test_a_booking_no_appointment_holds_is_an_orphan_once_older_than_the_grace_period():
    result = run([booking("old", "b-failed"), booking("new", "b-flight", age=timedelta(minutes=3))], [])
    assert [o.uid for o in result.orphans] == ["old"]
    assert result.orphans[0].booking_id == "b-failed"
    assert len(result.in_flight) == 1 and result.ours == 2


def test_an_orphan_that_has_ended_is_left_alone():
    past = NOW - timedelta(hours=3)
    ended = booking("gone", "b-failed", start=past, end=past + timedelta(minutes=30), age=timedelta(days=2))
    running = booking("now", "b-failed", start=NOW - timedelta(minutes=10), end=NOW + timedelta(minutes=20))
    assert [o.uid for o in run([ended, running], []).orphans] == ["now"]


def test_bookings_held_by_a_booked_appointment_are_not_orphans_but_failed_and_cancelled_ones_release_them():
    held = appointment("b1", ("A", "u1", START))
    failed = appointment("b2", ("A", "u2", START), status="failed")
    cancel_failed = appointment("b3", ("A", "u3", START), status="cancel_failed")
    result = run(
        [booking("u1", "b1"), booking("u2", "b2"), booking("u3", "b3")], [held, failed, cancel_failed]
    )
    assert sorted(o.uid for o in result.orphans) == ["u2", "u3"]
    assert result.diverged == ()


def test_an_unknown_status_keeps_its_bookings():
    pending = appointment("b1", ("A", "u1", START), status="confirming")
    assert run([booking("u1", "b1")], [pending]).orphans == ()


def test_other_companies_inactive_bookings_and_bookings_without_our_metadata_are_ignored():
    foreign = booking("f", "b9", company="salon-nord")
    cancelled = booking("c", "b8", status="cancelled")
    plain = CalcomBookingSeen(
        id=1, uid="p", status="accepted", start=START, created_at=NOW - timedelta(days=1)
    )
    result = run([foreign, cancelled, plain], [])
    assert result.orphans == () and result.ours == 1


def test_a_hold_cancelled_in_calcom_diverges():
    held = appointment("b1", ("A", "u1", START), ("B", "u2", START + timedelta(minutes=30)))
    bookings = [
        booking("u1", "b1"),
        booking("u2", "b1", status="cancelled", start=START + timedelta(minutes=30)),
    ]
    (diverged,) = run(bookings, [held]).diverged
    assert diverged.appointment_id == "b1"
    assert [(i.hold, i.problem) for i in diverged.issues] == [("B", "cancelled")]


def test_a_missing_hold_and_a_moved_start_diverge():
    held = appointment("b1", ("A", "u1", START), ("B", "u2", START + timedelta(hours=1)))
    (diverged,) = run([booking("u2", "b1", start=START + timedelta(hours=2))], [held]).diverged
    problems = {i.hold: i for i in diverged.issues}
    assert problems["A"].problem == "missing" and problems["A"].calcom_booking_id is None
    assert problems["B"].problem == "moved" and problems["B"].calcom_start == START + timedelta(hours=2)


def test_a_hold_rescheduled_in_calcom_diverges_and_its_new_booking_is_no_orphan():
    held = appointment("b1", ("A", "u1", START))
    old = booking("u1", "b1", status="cancelled", rescheduled_to_uid="u1b")
    moved = booking("u1b", "b1", start=START + timedelta(days=1), rescheduled_from_uid="u1")
    result = run([old, moved], [held])
    assert result.orphans == ()
    (issue,) = result.diverged[0].issues
    assert (issue.problem, issue.moved_to_uid, issue.calcom_start) == (
        "moved",
        "u1b",
        START + timedelta(days=1),
    )


def test_each_issue_becomes_an_attention_mark_keyed_by_booking_and_problem():
    held = AppointmentOnRecord(
        appointment_id="b1",
        status="booked",
        starts_at=START,
        holds=(
            HoldOnRecord(hold="A", uid="u1", start=START, segment_keys=("A",)),
            HoldOnRecord(hold="B", uid="u2", start=START, segment_keys=("B", "C")),
        ),
    )
    bookings = [booking("u2", "b1", start=START + timedelta(hours=1))]
    (diverged,) = run(bookings, [held]).diverged
    marks = attention_marks(diverged, at=NOW)
    assert [(m.key, m.hold, m.segment_keys) for m in marks] == [
        ("reconciliation#u1#missing", "A", ("A",)),
        ("reconciliation#u2#moved", "B", ("B", "C")),
    ]
    assert (
        marks[1].reason
        == f"moved in Cal.com to {(START + timedelta(hours=1)).isoformat()} (found by reconciliation)"
    )
    assert {m.trigger for m in marks} == {"RECONCILIATION"} and marks[1].new_start == START + timedelta(
        hours=1
    )


def test_appointments_outside_the_window_and_not_booked_are_not_checked():
    past = AppointmentOnRecord(
        appointment_id="b1",
        status="booked",
        starts_at=NOW - timedelta(days=3),
        holds=(HoldOnRecord(hold="A", uid="u1"),),
    )
    cancelled = appointment("b2", ("A", "u2", START), status="cancelled")
    result = run([], [past, cancelled])
    assert result.diverged == () and result.appointments_checked == 0


def test_a_clean_company_compares_to_nothing():
    held = appointment("b1", ("A", "u1", START))
    result = run([booking("u1", "b1")], [held])
    assert (result.orphans, result.diverged, result.in_flight, result.appointments_checked) == ((), (), (), 1)


def test_the_logged_report_leaves_the_uids_out():
    report = ReconciliationReport(
        run_id="r1",
        company_id="salon-demo",
        trigger="schedule",
        started_at=NOW,
        diverged=list(run([], [appointment("b1", ("A", "secret-uid", START))]).diverged),
    )
    assert "secret-uid" not in str(report.loggable())
    assert "secret-uid" in report.model_dump_json()
