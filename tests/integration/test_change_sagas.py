"""Cancel and reschedule sagas on the local stack: our real ASL (statemachines/cancel.asl.json,
statemachines/reschedule.asl.json) on moto's engine through StartSyncExecution, the task handlers
in-process, the Cal.com stand-in over HTTP.

Every test first books the composite service (4 Cal.com bookings) with the booking saga, then
cancels or reschedules it: all bookings cancelled, twice is idempotent, a Cal.com 503 on a cancel
is retried; a reschedule books the new segments before cancelling the old ones and keeps the
appointment's id and code; a taken new time or a failure halfway through leaves the old
appointment and its bookings untouched and no new booking behind; unknown or another company's
appointments are NotFound.
"""

from __future__ import annotations

import importlib
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
    hhmm,
    plan_of,
    z,
)

OLD_START = at(DAY, "14:00")
NEW_START = at(DAY, "10:00")  # the same day, before: A 10:00-10:30, B 11:15, C 11:30, D 12:00-12:30


@pytest.fixture
def cb(fresh):
    modules = _modules(fresh)
    yield modules
    modules.standin.http.close()


@pytest.fixture
def booked(cb):
    """The composite service booked for Fabian at 14:00: (appointment summary, its 4 Cal.com uids)."""
    booking_id, outcome = book(cb, COMPOSITE, OLD_START)
    assert outcome.booked, outcome
    uids = sorted(b["uid"] for b in cb.standin.active(booking_id))
    assert len(uids) == 4
    cb.standin.http.delete("/_standin/requests").raise_for_status()
    return outcome.appointment, uids


def changes(cb):
    import importlib

    return importlib.import_module("calbridge.services.appointment_changes")


def cancel(cb, appointment_id: str, company_id: str = COMPANY, **extra: Any):
    body = {"company_id": company_id, "appointment_id": appointment_id, **extra}
    return changes(cb).run_cancel(body)


def reschedule(cb, appointment_id: str, start, company_id: str = COMPANY):
    body = {"company_id": company_id, "appointment_id": appointment_id, "start": start.isoformat()}
    return changes(cb).run_reschedule(body)


def by_uid(cb) -> dict[str, dict[str, Any]]:
    return {b["uid"]: b for b in cb.standin.bookings()}


def cancel_calls(cb) -> list[dict[str, Any]]:
    calls = cb.standin.http.get("/_standin/requests", params={"method": "POST"}).raise_for_status().json()
    return [c for c in calls if str(c.get("path", "")).endswith("/cancel")]


def items(cb, appointment_id: str) -> dict[str, dict[str, Any]]:
    return {i["appointment_id"]: i for i in cb.records.items(COMPANY, appointment_id)}


def assert_untouched(cb, appointment, uids: list[str]) -> None:
    """The old appointment as booked: status, times, uids; its Cal.com bookings all active."""
    bookings = by_uid(cb)
    assert [bookings[uid]["status"] for uid in uids] == ["accepted"] * 4
    stored = items(cb, appointment.appointment_id)
    head = stored[appointment.appointment_id]
    assert head["status"] == "booked"
    assert head["calcom_booking_uids"] == appointment.calcom_booking_uids
    assert head["confirmation_code"] == appointment.confirmation_code
    assert head.get("reschedule_count") is None
    for segment in appointment.segments:
        item = stored[f"{appointment.appointment_id}#{segment.key}"]
        assert (item["status"], item["calcom_booking_uid"]) == ("booked", segment.calcom_booking_uid)


# ------------------------------------------------------------------------ cancel


def test_cancel_cancels_every_cal_com_booking_and_the_appointment(cb, booked):
    appointment, uids = booked

    outcome = cancel(cb, appointment.appointment_id, reason="Kunde hat abgesagt")

    assert outcome.status == "cancelled", outcome
    result = outcome.cancellation
    assert sorted(result.cancelled_uids) == uids and result.already_cancelled_uids == []
    assert not result.already_cancelled and result.cancelled_at is not None
    bookings = by_uid(cb)
    assert [bookings[uid]["status"] for uid in uids] == ["cancelled"] * 4
    assert {bookings[uid]["cancellationReason"] for uid in uids} == {"Kunde hat abgesagt"}
    stored = items(cb, appointment.appointment_id)
    assert len(stored) == 5
    assert {i["status"] for i in stored.values()} == {"cancelled"}
    assert {i["cancel_reason"] for i in stored.values()} == {"Kunde hat abgesagt"}
    assert all(i["cancelled_at"] for i in stored.values())
    # The code still finds the appointment (now cancelled).
    assert cb.records.get(COMPANY, f"code#{appointment.confirmation_code}")["parent_id"] == (
        appointment.appointment_id
    )


def test_cancelling_twice_is_idempotent(cb, booked):
    appointment, _ = booked
    assert cancel(cb, appointment.appointment_id).status == "cancelled"
    calls = len(cancel_calls(cb))
    first = items(cb, appointment.appointment_id)

    again = cancel(cb, appointment.appointment_id)

    assert again.status == "cancelled", again
    assert again.cancellation.already_cancelled and again.cancellation.cancelled_uids == []
    assert len(cancel_calls(cb)) == calls == 4  # nothing sent to Cal.com the second time
    assert items(cb, appointment.appointment_id) == first


def test_a_cal_com_503_on_one_cancel_is_retried_and_the_cancel_succeeds(cb, booked):
    appointment, uids = booked
    cb.standin.faults({"endpoint": "POST /v2/bookings/*/cancel", "fault": "5xx", "status": 503, "nth": 2})

    outcome = cancel(cb, appointment.appointment_id)

    assert outcome.status == "cancelled", outcome
    assert sorted(outcome.cancellation.cancelled_uids) == uids
    assert len(cancel_calls(cb)) == 5  # 4 + the retry
    assert [by_uid(cb)[uid]["status"] for uid in uids] == ["cancelled"] * 4
    assert {i["status"] for i in items(cb, appointment.appointment_id).values()} == {"cancelled"}


def test_a_lost_cancel_response_is_retried_and_counts_as_done(cb, booked):
    """Cal.com cancelled, the answer was a 503: the retry is refused (already cancelled), the
    booking reads back as cancelled, so it counts as done."""
    appointment, uids = booked
    cb.standin.faults(
        {"endpoint": "POST /v2/bookings/*/cancel", "fault": "5xx", "status": 503, "nth": 1, "phase": "after"}
    )

    outcome = cancel(cb, appointment.appointment_id)

    assert outcome.status == "cancelled", outcome
    assert len(outcome.cancellation.already_cancelled_uids) == 1
    assert len(outcome.cancellation.cancelled_uids) == 3
    assert [by_uid(cb)[uid]["status"] for uid in uids] == ["cancelled"] * 4


def test_a_cancel_cal_com_keeps_failing_ends_cancel_failed_with_cancellation_failed(cb, booked):
    """One booking's cancel fails on every attempt (the Map's retries run out, ~7 s): the others
    are cancelled, the appointment is cancel_failed naming it, the execution fails."""
    appointment, uids = booked
    stuck = appointment.segments[1].calcom_booking_uid
    cb.standin.faults({"endpoint": f"POST /v2/bookings/{stuck}/cancel", "fault": "5xx", "status": 503})

    outcome = cancel(cb, appointment.appointment_id)

    assert (outcome.status, outcome.error) == ("failed", "CancellationFailed"), outcome
    assert stuck in outcome.message and "CalcomUnavailable" in outcome.message
    assert len([c for c in cancel_calls(cb) if stuck in c["path"]]) == 4  # 1 + 3 retries
    bookings = by_uid(cb)
    assert {uid: bookings[uid]["status"] for uid in uids} == {
        uid: "accepted" if uid == stuck else "cancelled" for uid in uids
    }
    head = cb.records.get(COMPANY, appointment.appointment_id)
    assert (head["status"], head["failed_cancel_uids"]) == ("cancel_failed", [stuck])


def test_cancels_that_fail_mark_the_appointment_cancel_failed_and_a_new_cancel_finishes(cb, booked):
    """MarkCancelled called directly with one failed cancel (as the Map reports it after its
    retries): cancel_failed naming the uid, CancellationFailed; a later cancel completes."""
    appointment, uids = booked
    module = changes(cb)
    steps = cb.wiring.appointment_changes()
    snapshot = steps.load_for_cancel(
        module.CancelRequest(company_id=COMPANY, appointment_id=appointment.appointment_id)
    )
    stuck = appointment.segments[2].calcom_booking_uid
    reports = [
        {"failed": True, "uid": uid, "error": "CalcomUnavailable", "cause": '{"errorMessage": "503"}'}
        if uid == stuck
        else {"uid": uid, "status": "cancelled"}
        for uid in snapshot.uids
    ]
    with pytest.raises(cb.errors.CancellationFailed) as failed:
        steps.mark_cancelled(module.MarkCancelledInput(appointment=snapshot, cancellations=reports))
    assert stuck in failed.value.message
    stored = items(cb, appointment.appointment_id)
    head = stored.pop(appointment.appointment_id)
    assert (head["status"], head["failed_cancel_uids"]) == ("cancel_failed", [stuck])
    statuses = {i["calcom_booking_uid"]: i["status"] for i in stored.values()}
    assert statuses == {uid: "booked" if uid == stuck else "cancelled" for uid in uids}

    outcome = cancel(cb, appointment.appointment_id)

    assert outcome.status == "cancelled", outcome
    assert {i["status"] for i in items(cb, appointment.appointment_id).values()} == {"cancelled"}
    assert cb.records.get(COMPANY, appointment.appointment_id).get("failed_cancel_uids") is None
    assert [by_uid(cb)[uid]["status"] for uid in uids] == ["cancelled"] * 4


# ------------------------------------------------------------------------ reschedule


def test_reschedule_books_the_new_time_cancels_the_old_and_keeps_id_and_code(cb, booked):
    appointment, old_uids = booked
    plan = plan_of(cb, COMPOSITE, NEW_START)

    outcome = reschedule(cb, appointment.appointment_id, NEW_START)

    assert outcome.status == "rescheduled", outcome
    moved = outcome.appointment
    assert (moved.appointment_id, moved.confirmation_code, moved.composite_group_uid) == (
        appointment.appointment_id,
        appointment.confirmation_code,
        appointment.composite_group_uid,
    )
    assert (moved.start, moved.end) == (plan.start, plan.end)
    local = [(s.key, hhmm(s.start), hhmm(s.end)) for s in moved.segments]
    assert local == [
        ("A", "10:00", "10:30"),
        ("B", "11:15", "11:30"),
        ("C", "11:30", "12:00"),
        ("D", "12:00", "12:30"),
    ]
    assert {(s.staff_id, s.calcom_host_id) for s in moved.segments} == {(FABIAN, FABIAN_USER)}
    new_uids = set(moved.calcom_booking_uids.values())
    assert len(new_uids) == 4 and not new_uids & set(old_uids)

    bookings = by_uid(cb)
    assert [bookings[uid]["status"] for uid in old_uids] == ["cancelled"] * 4
    for segment in plan.segments:
        booking = bookings[moved.calcom_booking_uids[segment.key]]
        assert booking["status"] == "accepted" and booking["hostUserIds"] == [FABIAN_USER]
        assert (booking["start"], booking["end"]) == (z(segment.start), z(segment.end))
    assert len(cb.standin.active()) == 4  # nothing else in Fabian's calendar

    stored = items(cb, appointment.appointment_id)
    head = stored.pop(appointment.appointment_id)
    assert head["status"] == "booked" and head["reschedule_count"] == 1
    assert head["calcom_booking_uids"] == moved.calcom_booking_uids
    assert head["replaced_calcom_booking_uids"] == appointment.calcom_booking_uids
    assert head["confirmation_code"] == appointment.confirmation_code
    assert head["customer_name"] == "Anna Becker"
    assert sorted(stored) == [f"{appointment.appointment_id}#{k}" for k in "ABCD"]
    for segment in moved.segments:
        item = stored[f"{appointment.appointment_id}#{segment.key}"]
        assert item["calcom_booking_uid"] == segment.calcom_booking_uid and item["status"] == "booked"
        assert (item["staff_id"], item["calcom_host_id"]) == (FABIAN, FABIAN_USER)
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None

    # The moved appointment can be cancelled: its NEW bookings go.
    assert cancel(cb, appointment.appointment_id).status == "cancelled"
    assert cb.standin.active() == []


def close_the_breaker(stack) -> None:
    """Delete the Cal.com breaker's shared state and every container's view of it."""
    breaker = importlib.import_module("calbridge.adapters.calcom.breaker")
    table = stack.boto3_client("dynamodb")
    found = table.query(
        TableName="LeasesTable",
        KeyConditionExpression="company_id = :p",
        ExpressionAttributeValues={":p": {"S": breaker.BREAKER_PARTITION}},
    )["Items"]
    for item in found:
        table.delete_item(TableName="LeasesTable", Key={k: item[k] for k in ("company_id", "lease_key")})
    importlib.import_module("calbridge.services.wiring").clear_caches()


def test_an_old_booking_cal_com_will_not_cancel_does_not_undo_the_reschedule(cb, booked, fresh):
    """The new bookings stand once made: an old one whose cancel keeps failing (~3 s of retries)
    is queued for the compensation worker and noted on the appointment, which moves anyway; once
    Cal.com takes the cancel, the worker cancels it and the note goes (ADR 0024)."""
    appointment, old_uids = booked
    stuck = appointment.segments[0].calcom_booking_uid
    cb.standin.faults({"endpoint": f"POST /v2/bookings/{stuck}/cancel", "fault": "5xx", "status": 503})

    outcome = reschedule(cb, appointment.appointment_id, NEW_START)

    assert outcome.status == "rescheduled", outcome
    bookings = by_uid(cb)
    assert {uid: bookings[uid]["status"] for uid in old_uids} == {
        uid: "accepted" if uid == stuck else "cancelled" for uid in old_uids
    }
    head = cb.records.get(COMPANY, appointment.appointment_id)
    assert head["calcom_booking_uids"] == outcome.appointment.calcom_booking_uids
    assert head["replaced_calcom_booking_uids"] == appointment.calcom_booking_uids
    assert (head["status"], head["failed_cancel_uids"]) == ("booked", [stuck])

    # Cal.com takes cancels again, and the breaker the 5 refused cancels opened is closed by hand
    # (docs/runbook.md), as its probe would after 30 s.
    cb.standin.http.delete("/_standin/faults").raise_for_status()
    close_the_breaker(fresh)
    (delivery,) = fresh.drain_queue("CompensationQueue")

    assert delivery.failed_ids == [] and delivery.result.json() == {"batchItemFailures": []}
    assert by_uid(cb)[stuck]["status"] == "cancelled"
    assert "failed_cancel_uids" not in cb.records.get(COMPANY, appointment.appointment_id)


def test_reschedule_to_a_taken_time_fails_and_leaves_the_old_appointment(cb, booked):
    appointment, old_uids = booked
    taken = plan_of(cb, COMPOSITE, NEW_START).segments[0]
    cb.standin.seed_booking(taken.start, taken.minutes)  # Fabian is busy at the new time's A

    outcome = reschedule(cb, appointment.appointment_id, NEW_START)

    assert (outcome.status, outcome.error) == ("failed", "SlotUnavailable"), outcome
    assert_untouched(cb, appointment, old_uids)
    ours = {b["uid"] for b in cb.standin.active() if (b.get("metadata") or {}).get("calbridge_booking_id")}
    assert ours == set(old_uids)  # no new booking left
    assert cancel_calls(cb) and all(c["path"].split("/")[-2] not in old_uids for c in cancel_calls(cb))
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None


def test_a_failure_halfway_through_a_reschedule_cancels_the_new_holds_only(cb, booked):
    """The 3rd new hold fails for good (503, and its 2 retries): the 3 new holds already made are
    cancelled again; the old appointment and its bookings are untouched."""
    appointment, old_uids = booked
    cb.standin.faults(
        {"endpoint": "POST /v2/bookings", "fault": "5xx", "status": 503, "nth": 3},
        {"endpoint": "POST /v2/bookings", "fault": "5xx", "status": 503, "nth": 5, "times": 2},
    )

    outcome = reschedule(cb, appointment.appointment_id, NEW_START)

    assert (outcome.status, outcome.error) == ("failed", "ReservationFailed"), outcome
    assert "CalcomUnavailable" in outcome.message
    new = [b for b in cb.standin.bookings() if b["uid"] not in old_uids]
    assert len(new) == 3 and {b["status"] for b in new} == {"cancelled"}
    assert {b["metadata"]["calbridge_booking_id"] for b in new} != {appointment.appointment_id}
    assert_untouched(cb, appointment, old_uids)
    assert sorted(b["uid"] for b in cb.standin.active()) == old_uids
    attempt = new[0]["metadata"]["calbridge_booking_id"]
    assert [i["status"] for i in cb.records.items(COMPANY, attempt)] == ["failed"]  # the attempt
    assert cb.leases.get(COMPANY, f"{FABIAN}#{DAY.isoformat()}") is None


def test_a_cancelled_appointment_cannot_be_rescheduled(cb, booked):
    appointment, _ = booked
    assert cancel(cb, appointment.appointment_id).status == "cancelled"
    cb.standin.http.delete("/_standin/requests").raise_for_status()

    outcome = reschedule(cb, appointment.appointment_id, NEW_START)

    assert (outcome.status, outcome.error) == ("failed", "AppointmentNotActive"), outcome
    assert cb.standin.requests("POST", "/v2/bookings") == []


# ------------------------------------------------------------------------ not found


@pytest.mark.parametrize("change", ["cancel", "reschedule"])
@pytest.mark.parametrize("who", ["unknown-id", "other-company"])
def test_unknown_or_other_companys_appointments_are_not_found_and_nothing_changes(cb, booked, change, who):
    appointment, uids = booked
    company, appointment_id = {
        "unknown-id": (COMPANY, "bk_does_not_exist"),
        "other-company": ("salon-other", appointment.appointment_id),
    }[who]

    if change == "cancel":
        outcome = cancel(cb, appointment_id, company_id=company)
    else:
        outcome = reschedule(cb, appointment_id, NEW_START + timedelta(days=1), company_id=company)

    assert (outcome.status, outcome.error) == ("failed", "NotFound"), outcome
    assert outcome.message and "Traceback" not in outcome.message
    assert cb.standin.requests("POST", "/v2/bookings") == [] and cancel_calls(cb) == []
    assert_untouched(cb, appointment, uids)


def test_a_segment_or_code_item_id_is_refused_before_anything_starts(cb, booked):
    appointment, uids = booked
    for item_id in (f"{appointment.appointment_id}#A", f"code#{appointment.confirmation_code}"):
        with pytest.raises(cb.errors.InvalidRequest):
            cancel(cb, item_id)
        with pytest.raises(cb.errors.InvalidRequest):
            reschedule(cb, item_id, NEW_START)
    assert_untouched(cb, appointment, uids)
