"""Reconciliation on the local stack against the Cal.com stand-in (docs/adr/0023-reconciliation.md):
ReconciliationWorkerFunction invoked as `make reconcile` does, its schedule fired and its queue
drained as Lambda would, bookings planted and changed in the stand-in as Cal.com's own UI would."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.helpers import next_monday

CALL = {
    "call_id": "call_reconcile",
    "from_number": "+4915112345678",
    "to_number": "+4930123456789",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}
FABIAN = 1420209


def reconcile(stack, company_id: str = "salon-demo") -> dict:
    result = stack.invoke("ReconciliationWorkerFunction", {"company_id": company_id})
    assert not result.function_error, result.json()
    return result.json()


def standin(stack, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{stack.calcom_url}{path}", timeout=10, **kwargs)


def calcom_bookings(stack) -> dict[str, dict]:
    listed = standin(stack, "GET", "/_standin/bookings").json()
    return {b["uid"]: b for b in (listed.get("data", listed) if isinstance(listed, dict) else listed)}


def event_type_of_fabian() -> int:
    entries = (
        importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository().list("salon-demo")
    )
    return next(e.event_type_id for e in entries if e.host_user_id == FABIAN and e.event_type_id)


def plant(stack, attempt: str, *, age: timedelta, company: str = "salon-demo") -> dict:
    """A Cal.com booking with calbridge's metadata and no appointment (a compensation that gave up)."""
    metadata = importlib.import_module("calbridge.domain.booking").booking_metadata(company, attempt, "A")
    start = datetime.fromisoformat(next_monday()).replace(hour=9, tzinfo=UTC)
    response = standin(
        stack,
        "POST",
        "/_standin/bookings",
        json={
            "start": start.isoformat(),
            "duration": 30,
            "event_type_id": event_type_of_fabian(),
            "host_user_id": FABIAN,
            "status": "accepted",
            "attendee": {"name": "Anna Schmidt", "email": "anna@example.com", "timeZone": "Europe/Berlin"},
            "metadata": metadata,
            "created_at": (datetime.now(UTC) - age).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    created = created.get("data", created) if isinstance(created, dict) else created
    return created[0] if isinstance(created, list) else created


def book(retell) -> dict:
    response = retell.tool(
        "book_appointment",
        {
            "service": "Ansatzfärbung",
            "date": next_monday(),
            "time": "14:00",
            "mitarbeiter": "Fabian",
            "customer_name": "Anna Schmidt",
        },
        CALL,
    )
    result = response.json()
    assert result["success"] and result["data"]["booked"], result
    return result["data"]


def appointment_item(stack, appointment_id: str) -> dict:
    return stack.boto3_client("dynamodb").get_item(
        TableName="AppointmentsTable",
        Key={"company_id": {"S": "salon-demo"}, "appointment_id": {"S": appointment_id}},
        ConsistentRead=True,
    )["Item"]


def all_appointment_items(stack) -> list[dict]:
    return stack.boto3_client("dynamodb").scan(TableName="AppointmentsTable", ConsistentRead=True)["Items"]


def stored_reports(stack, company_id: str = "salon-demo") -> list[dict]:
    runs = importlib.import_module("calbridge.adapters.store.reconciliation_runs")
    return runs.ReconciliationRunRepository(90).recent(company_id)


def test_an_old_orphan_is_cancelled_and_a_fresh_one_in_flight_is_left_alone(fresh):
    old = plant(fresh, "b-gave-up", age=timedelta(hours=2))
    young = plant(fresh, "b-in-flight", age=timedelta(minutes=2))

    report = reconcile(fresh)

    assert report["status"] == "ok", report
    assert report["orphaned_bookings"] == 1 and report["orphans_cancelled"] == 1
    assert [(o["calcom_booking_id"], o["outcome"]) for o in report["orphans"]] == [(old["id"], "cancelled")]
    assert report["in_flight"] == [young["id"]]
    after = calcom_bookings(fresh)
    assert after[old["uid"]]["status"] == "cancelled"
    assert "reconciliation" in after[old["uid"]]["cancellationReason"]
    assert after[young["uid"]]["status"] == "accepted"
    assert stored_reports(fresh)[0]["run_id"] == report["run_id"]

    again = reconcile(fresh)  # idempotent: nothing left to cancel
    assert (again["status"], again["orphaned_bookings"], again["orphans"]) == ("ok", 0, [])


def host_cancels(stack, uid: str) -> None:
    """A host cancels a booking in Cal.com (its API, as Cal.com's UI does)."""
    api_key = json.loads(importlib.import_module("local.seed").DEMO_FIXTURE.read_text())["calcom"]["api_key"]
    response = standin(
        stack,
        "POST",
        f"/v2/bookings/{uid}/cancel",
        json={"cancellationReason": "Fabian ist krank"},
        headers={"Authorization": f"Bearer {api_key}", "cal-api-version": "2024-08-13"},
    )
    assert response.status_code == 200, response.text


def held_uids(stack, appointment_id: str) -> set[str]:
    return {v["S"] for v in appointment_item(stack, appointment_id)["calcom_booking_uids"]["M"].values()}


def attention_changes(appointment_id: str) -> list[dict]:
    records = importlib.import_module("calbridge.adapters.store.calcom_changes").CalcomChangeRecords()
    return [i for i in records.attention("salon-demo", appointment_id) if i.get("kind") == "attention_change"]


@pytest.fixture
def webhooks(stack):
    """The stand-in's webhook deliveries to the stack (ADR 0021); `lost()` drops the subscription
    for the test (a webhook that never arrives), restored afterwards."""
    dispatcher = stack.standin.app.webhooks

    class Webhooks:
        @staticmethod
        def lost() -> None:
            dispatcher.clear(keep_static=False)

        @staticmethod
        def delivered() -> None:
            dispatcher.join()

    yield Webhooks
    stack.connect_standin_webhooks()


def test_a_segment_a_host_cancelled_when_the_webhook_was_lost_marks_the_appointment(fresh, retell, webhooks):
    booked = book(retell)
    uids = held_uids(fresh, booked["appointment_id"])
    cancelled_uid = sorted(uids)[0]
    webhooks.lost()
    host_cancels(fresh, cancelled_uid)

    report = reconcile(fresh)

    assert report["status"] == "ok", report
    counts = (report["appointments_diverged"], report["appointments_flagged"], report["orphaned_bookings"])
    assert counts == (1, 1, 0)
    (diverged,) = report["diverged"]
    assert diverged["appointment_id"] == booked["appointment_id"]
    assert [(i["uid"], i["problem"]) for i in diverged["issues"]] == [(cancelled_uid, "cancelled")]
    (change,) = attention_changes(booked["appointment_id"])
    assert (change["trigger"], change["booking_uid"]) == ("RECONCILIATION", cancelled_uid)
    assert change["reason"] == "cancelled in Cal.com (found by reconciliation)"
    assert appointment_item(fresh, booked["appointment_id"])["status"]["S"] == "booked"
    active = {uid for uid, b in calcom_bookings(fresh).items() if b["status"] == "accepted"}
    assert uids - {cancelled_uid} <= active  # nothing of ours cancelled: the other segments stay booked

    again = reconcile(fresh)
    assert (again["appointments_diverged"], again["appointments_flagged"]) == (1, 0)
    assert len(attention_changes(booked["appointment_id"])) == 1


def test_a_change_the_webhook_marked_already_is_not_marked_again(fresh, retell, webhooks):
    booked = book(retell)
    cancelled_uid = sorted(held_uids(fresh, booked["appointment_id"]))[0]
    host_cancels(fresh, cancelled_uid)
    webhooks.delivered()
    assert [c["booking_uid"] for c in attention_changes(booked["appointment_id"])] == [cancelled_uid]

    report = reconcile(fresh)

    assert (report["appointments_diverged"], report["appointments_flagged"]) == (1, 0), report
    assert len(attention_changes(booked["appointment_id"])) == 1


def test_a_clean_company_gets_a_report_of_zeros_and_nothing_else_is_written(fresh, retell):
    book(retell)
    appointments, bookings = all_appointment_items(fresh), calcom_bookings(fresh)

    report = reconcile(fresh)

    assert report["status"] == "ok", report
    assert report["bookings_seen"] == 4 and report["appointments_checked"] == 1
    counts = ("orphaned_bookings", "orphans_cancelled", "appointments_diverged", "appointments_flagged")
    assert [report[name] for name in counts] == [0, 0, 0, 0]
    assert all_appointment_items(fresh) == appointments and calcom_bookings(fresh) == bookings
    assert len(stored_reports(fresh)) == 1


def test_calcom_failing_midway_reports_the_error_and_changes_nothing(fresh, retell):
    booked = book(retell)
    orphan = plant(fresh, "b-gave-up", age=timedelta(hours=2))
    appointments = all_appointment_items(fresh)
    faults = [{"endpoint": "GET /v2/bookings", "fault": "5xx", "status": 503}]
    assert standin(fresh, "POST", "/_standin/faults", json=faults).status_code in (200, 201)
    try:
        report = reconcile(fresh)
    finally:
        standin(fresh, "DELETE", "/_standin/faults")

    assert report["status"] == "failed" and report["errors"], report
    assert calcom_bookings(fresh)[orphan["uid"]]["status"] == "accepted"
    assert all_appointment_items(fresh) == appointments
    assert stored_reports(fresh)[0]["status"] == "failed"

    # A cancel that fails leaves that orphan for the next run; the run says so (partial).
    faults = [{"endpoint": "POST /v2/bookings/*/cancel", "fault": "5xx", "status": 503}]
    standin(fresh, "POST", "/_standin/faults", json=faults)
    try:
        partial = reconcile(fresh)
    finally:
        standin(fresh, "DELETE", "/_standin/faults")
    assert partial["status"] == "partial" and partial["orphans"][0]["outcome"] == "failed", partial
    assert calcom_bookings(fresh)[orphan["uid"]]["status"] == "accepted"
    assert appointment_item(fresh, booked["appointment_id"])["status"]["S"] == "booked"


@pytest.mark.parametrize("company_id", ["no-such-company"])
def test_an_unknown_company_is_skipped_and_nothing_is_stored(fresh, company_id):
    report = reconcile(fresh, company_id)
    assert (report["status"], report["reason"]) == ("skipped", "unknown company")
    assert stored_reports(fresh, company_id) == []


def test_the_schedule_fans_out_one_job_per_company_and_the_worker_runs_it(fresh):
    old = plant(fresh, "b-gave-up", age=timedelta(hours=2))
    fanned = fresh.fire_schedule("ReconciliationSchedule")
    assert "salon-demo" in fanned["enqueued"]
    fresh.drain_queue("ReconciliationQueue")
    assert calcom_bookings(fresh)[old["uid"]]["status"] == "cancelled"
    (report,) = stored_reports(fresh)
    assert (report["trigger"], report["orphans_cancelled"]) == ("schedule", 1)


ADMIN = {"x-calbridge-local-identity": "arn:aws:iam::123456789012:user/admin-alice"}


def test_an_admin_queues_a_run_for_one_company_and_reads_its_report(fresh):
    old = plant(fresh, "b-gave-up", age=timedelta(hours=2))
    with httpx.Client(base_url=fresh.http_url, headers=ADMIN, timeout=30) as admin:
        queued = admin.post("/admin/companies/salon-demo/reconcile")
        assert queued.status_code == 202, queued.text
        assert queued.json()["status"] == "queued"
        assert admin.post("/admin/companies/no-such-company/reconcile").status_code == 404
        fresh.drain_queue("ReconciliationQueue")
        runs = admin.get("/admin/companies/salon-demo/reconciliation-runs", params={"limit": 5})
        assert admin.get("/admin/companies/salon-demo/reconciliation-runs?limit=0").status_code == 400
    assert runs.status_code == 200, runs.text
    (report,) = runs.json()["runs"]
    assert (report["trigger"], report["status"], report["orphans_cancelled"]) == ("admin", "ok", 1)
    assert calcom_bookings(fresh)[old["uid"]]["status"] == "cancelled"


def test_calcom_failing_after_the_listing_changes_nothing_and_a_lost_booking_is_missing(fresh, retell):
    booked = book(retell)
    orphan = plant(fresh, "b-gave-up", age=timedelta(hours=2))
    hold = sorted(appointment_item(fresh, booked["appointment_id"])["calcom_booking_uids"]["M"])[0]
    fresh.boto3_client("dynamodb").update_item(  # the appointment holds a booking Cal.com lost
        TableName="AppointmentsTable",
        Key={"company_id": {"S": "salon-demo"}, "appointment_id": {"S": booked["appointment_id"]}},
        UpdateExpression="SET calcom_booking_uids.#hold = :lost",
        ExpressionAttributeNames={"#hold": hold},
        ExpressionAttributeValues={":lost": {"S": "lostBooking0000000000x"}},
    )
    appointments = all_appointment_items(fresh)
    faults = [
        {"endpoint": "GET /v2/bookings/*", "fault": "5xx", "status": 502}
    ]  # the read by uid, not the listing
    assert standin(fresh, "POST", "/_standin/faults", json=faults).status_code in (200, 201)
    try:
        failed = reconcile(fresh)
    finally:
        standin(fresh, "DELETE", "/_standin/faults")

    assert failed["status"] == "failed" and failed["errors"][0].startswith("CalcomUnavailable"), failed
    assert calcom_bookings(fresh)[orphan["uid"]]["status"] == "accepted"
    assert all_appointment_items(fresh) == appointments  # no mark, nothing cancelled

    report = reconcile(fresh)
    assert report["status"] == "ok", report
    assert report["orphans_cancelled"] == 1 and calcom_bookings(fresh)[orphan["uid"]]["status"] == "cancelled"
    (diverged,) = report["diverged"]
    assert [(i["hold"], i["problem"], i["calcom_booking_id"]) for i in diverged["issues"]] == [
        (hold, "missing", None)
    ]
    assert [c["booking_uid"] for c in attention_changes(booked["appointment_id"])] == [
        "lostBooking0000000000x"
    ]
