"""POST /calcom/webhook/{company_id}: Cal.com's booking webhooks over the HTTP front of the local stack.

Real signatures (the company's secret in the local Secrets Manager), the stand-in's own webhooks
(a host cancelling in Cal.com, calbridge's own cancels and reschedules), and signed deliveries
built as Cal.com sends them for what the stand-in does not send (redeliveries, any order,
reassignments, other companies)."""

from __future__ import annotations

import importlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calbridge.adapters.calcom_signature import sign
from tests.helpers import link_staff, next_monday

COMPANY = "salon-demo"
LOCAL_SECRET = "whsec_local_calbridge_dev"
CALLER = "+4915112345678"
CALL = {
    "call_id": "call_calcom_webhook",
    "from_number": CALLER,
    "to_number": "+4930123456789",
    "metadata": {"company_id": COMPANY, "branch_id": "berlin-mitte"},
}
EMMA = {"id": 1420210, "name": "Emma Williams", "email": "emma@askproai.de", "username": "emmawilliams"}
FABIAN = {
    "id": 1420209,
    "name": "Fabian Spitzer",
    "email": "fabian@askproai.de",
    "username": "fabianaskproai",
}


def post(stack, body: bytes | dict, *, company: str = COMPANY, secret: str | None = LOCAL_SECRET, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    sent = {"content-type": "application/json", **headers}
    if secret is not None:
        sent["x-cal-signature-256"] = sign(raw, secret)
    return httpx.post(f"{stack.http_url}/calcom/webhook/{company}", content=raw, headers=sent, timeout=30)


def webhook(trigger: str, uid: str, *, created_at: str | None = None, **payload) -> dict:
    stamp = created_at or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"triggerEvent": trigger, "createdAt": stamp, "payload": {"uid": uid, **payload}}


def records():
    return importlib.import_module("calbridge.adapters.store.calcom_changes").CalcomChangeRecords()


def attention(appointment_id: str, company: str = COMPANY) -> list[dict]:
    return records().attention(company, appointment_id)


def marks(company: str = COMPANY) -> list[dict]:
    return records().open_attention(company)


def changes(appointment_id: str) -> list[dict]:
    return [item for item in attention(appointment_id) if item["kind"] == "attention_change"]


def book(retell, **args) -> dict:
    response = retell.tool("book_appointment", {"customer_name": "Anna Schmidt", **args}, CALL)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["success"] and result["data"]["booked"], result
    return result["data"]


def holds(appointment_id: str) -> dict[str, str]:
    """hold key -> Cal.com uid of the appointment, as stored."""
    item = records().get(COMPANY, appointment_id)
    assert item is not None
    return dict(item["calcom_booking_uids"])


def segments(appointment_id: str) -> list[dict]:
    return [i for i in records().items(COMPANY, appointment_id) if i.get("kind") == "segment"]


def standin_deliveries(stack) -> list[dict]:
    """Wait for the stand-in's webhook threads, then its delivery log."""
    dispatcher = stack.standin.app.webhooks
    dispatcher.join(30)
    return dispatcher.state()["deliveries"]


def cancel_in_calcom(stack, uid: str, reason: str) -> None:
    """What a host does in Cal.com's UI: the booking is cancelled there, not through calbridge."""
    response = httpx.post(
        f"{stack.calcom_url}/v2/bookings/{uid}/cancel",
        json={"cancellationReason": reason},
        headers={"Authorization": f"Bearer {stack.standin.api_key}", "cal-api-version": "2024-08-13"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def booked(fresh, retell) -> dict:
    """An Ansatzfärbung with Fabian next Monday at 14:00: four segments, four Cal.com bookings."""
    data = book(retell, service="Ansatzfärbung", date=next_monday(), time="14:00", mitarbeiter="Fabian")
    standin_deliveries(fresh)  # its BOOKING_CREATED webhooks are in (and changed nothing)
    return data


# ------------------------------------------------------------------ the stand-in's own webhooks


def test_the_standin_is_subscribed_per_company_with_the_companys_secret(stack):
    assert stack.calcom_webhook_url == f"{stack.http_url}/calcom/webhook/{COMPANY}"
    subscriptions = stack.standin.app.webhooks.state()["subscriptions"]
    assert [s["url"] for s in subscriptions].count(stack.calcom_webhook_url) == 1
    assert stack.secrets[f"calbridge/calcom-webhook-secret/{COMPANY}"] == LOCAL_SECRET


def test_a_host_cancelling_a_segment_in_calcom_marks_the_appointment(fresh, booked):
    appointment_id = booked["appointment_id"]
    uid_b = holds(appointment_id)["B"]
    assert marks() == []

    cancel_in_calcom(fresh, uid_b, "Fabian ist krank")
    delivered = [d for d in standin_deliveries(fresh) if d["trigger"] == "BOOKING_CANCELLED"]
    assert [d["status"] for d in delivered] == [200], delivered

    [mark] = marks()
    assert mark["parent_id"] == appointment_id and mark["status"] == "open"
    assert mark["reason"] == "cancelled in Cal.com: Fabian ist krank"
    assert set(mark["segment_keys"]) == {"B"} and mark["change_count"] == 1
    [change] = changes(appointment_id)
    assert change["trigger"] == "BOOKING_CANCELLED" and change["booking_uid"] == uid_b
    assert change["hold_key"] == "B"
    # Nothing of the appointment is deleted or changed: the salon decides.
    item = records().get(COMPANY, appointment_id)
    assert item["status"] == "booked" and holds(appointment_id)["B"] == uid_b
    assert len(segments(appointment_id)) == 4


def test_calbridges_own_cancel_and_reschedule_mark_nothing(fresh, booked, retell):
    appointment_id = booked["appointment_id"]
    first = set(holds(appointment_id).values())
    monday = next_monday()
    moved = retell.tool(
        "reschedule_appointment", {"date": monday, "new_date": monday, "new_time": "10:00"}, CALL
    )
    assert moved.status_code == 200 and moved.json()["data"]["rescheduled"], moved.text
    assert records().state(COMPANY, appointment_id).replaced_uids == first
    cancelled = retell.tool("cancel_appointment", {"date": monday}, CALL)
    assert cancelled.status_code == 200 and cancelled.json()["data"]["cancelled"], cancelled.text

    delivered = standin_deliveries(fresh)
    assert {d["trigger"] for d in delivered} == {"BOOKING_CREATED", "BOOKING_CANCELLED"}
    assert all(d["status"] == 200 for d in delivered), delivered
    assert len([d for d in delivered if d["trigger"] == "BOOKING_CANCELLED"]) == 8
    assert attention(appointment_id) == [] and marks() == []


# ------------------------------------------------------------------ signatures and protocol


def test_signatures_are_checked_before_anything_else(fresh, booked):
    body = webhook("BOOKING_CANCELLED", holds(booked["appointment_id"])["A"])
    raw = json.dumps(body).encode()

    missing = post(fresh, raw, secret=None)
    wrong = post(fresh, raw, secret="whsec_someone_else")
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_signature"
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_signature"
    tampered = httpx.post(
        f"{fresh.http_url}/calcom/webhook/{COMPANY}",
        content=raw + b" ",
        headers={"x-cal-signature-256": sign(raw, LOCAL_SECRET)},
    )
    assert tampered.status_code == 401
    # Cal.com's header is lower-case hex; an upper-case copy of it is the same signature.
    upper = httpx.post(
        f"{fresh.http_url}/calcom/webhook/{COMPANY}",
        content=raw,
        headers={"x-cal-signature-256": sign(raw, LOCAL_SECRET).upper()},
    )
    assert upper.status_code == 200, upper.text
    assert marks() != []


def test_a_stranger_learns_nothing_about_which_companies_exist(fresh):
    raw = json.dumps(webhook("BOOKING_CANCELLED", "x")).encode()
    known = post(fresh, raw, secret="guess")
    unknown = post(fresh, raw, company="salon-nobody", secret="guess")
    malformed = post(fresh, raw, company="bad%20id", secret="guess")
    assert known.status_code == unknown.status_code == malformed.status_code == 401
    assert known.json() == unknown.json() == malformed.json()


def test_a_signed_request_for_a_company_that_does_not_exist_is_404(fresh):
    fresh.company_webhook_secret("salon-gone", "whsec_gone")
    response = post(fresh, webhook("BOOKING_CANCELLED", "x"), company="salon-gone", secret="whsec_gone")
    assert response.status_code == 404 and response.json()["error"] == "unknown_company"
    # Another company's secret does not sign for this one.
    assert post(fresh, webhook("BOOKING_CANCELLED", "x"), secret="whsec_gone").status_code == 401


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-03-10T08:00:00.000Z"}',
        b'{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-03-10T08:00:00.000Z","payload":[]}',
        b'{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-03-10T08:00:00.000Z","payload":{"uid":7}}',
        b'{"triggerEvent":"BOOKING_RESCHEDULED","createdAt":"x","payload":{"uid":"u","startTime":"soon"}}',
    ],
)
def test_a_signed_body_that_is_no_calcom_webhook_is_400_and_writes_nothing(fresh, raw):
    response = post(fresh, raw)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert marks() == []


def test_the_body_size_is_bounded(fresh):
    raw = json.dumps(webhook("BOOKING_CANCELLED", "x", description="x" * 300_000)).encode()
    assert post(fresh, raw).status_code == 413


# ------------------------------------------------------------------ matching


def test_other_triggers_and_bookings_that_are_not_ours_change_nothing(fresh, booked):
    uid = holds(booked["appointment_id"])["A"]
    for body in (
        webhook("BOOKING_CREATED", uid),
        webhook("BOOKING_NO_SHOW_UPDATED", uid),
        webhook("MEETING_ENDED", uid),
        {"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "createdAt": "x", "payload": {"bookingUid": uid}},
    ):
        response = post(fresh, body)
        assert response.status_code == 200 and response.json()["outcome"] == "ignored", response.text
    stranger = post(fresh, webhook("BOOKING_CANCELLED", "not-a-booking-of-ours"))
    assert stranger.json() == {"trigger": "BOOKING_CANCELLED", "outcome": "ignored", "reason": "not_ours"}
    assert marks() == []


def test_a_booking_whose_metadata_names_another_company_changes_nothing(fresh, booked):
    appointment_id = booked["appointment_id"]
    uid = holds(appointment_id)["A"]
    metadata = {"calbridge_company": "salon-two", "calbridge_booking_id": appointment_id}
    response = post(fresh, webhook("BOOKING_CANCELLED", uid, metadata=metadata))
    assert response.json()["reason"] == "other_company"
    assert marks() == []


def test_found_by_metadata_or_by_uid_alike(fresh, booked):
    appointment_id = booked["appointment_id"]
    uids = holds(appointment_id)
    metadata = {"calbridge_company": COMPANY, "calbridge_booking_id": appointment_id, "calbridge_hold": "C"}
    by_metadata = post(fresh, webhook("BOOKING_REJECTED", uids["C"], metadata=metadata))
    by_uid = post(fresh, webhook("BOOKING_REQUESTED", uids["D"]))
    assert by_metadata.json()["outcome"] == by_uid.json()["outcome"] == "marked"
    [mark] = marks()
    assert set(mark["segment_keys"]) == {"C", "D"} and mark["change_count"] == 2
    assert mark["reason"] == "waits for a host's confirmation in Cal.com"


# ------------------------------------------------------------------ at least once, any order


def test_a_redelivery_is_recorded_once(fresh, booked):
    appointment_id = booked["appointment_id"]
    body = webhook("BOOKING_CANCELLED", holds(appointment_id)["A"], cancellationReason="Kunde krank")
    first, again = post(fresh, body), post(fresh, body)
    assert first.json()["outcome"] == "marked" and again.json()["outcome"] == "duplicate"
    assert len(changes(appointment_id)) == 1 and marks()[0]["change_count"] == 1


def test_rescheduled_before_created_and_cancelled_twice(fresh, booked):
    appointment_id = booked["appointment_id"]
    uids = holds(appointment_id)
    new_uid = f"moved-{uuid.uuid4().hex[:10]}"
    new_start = (datetime.now(UTC) + timedelta(days=9)).replace(microsecond=0)
    moved = webhook(
        "BOOKING_RESCHEDULED",
        new_uid,
        rescheduleUid=uids["A"],
        startTime=new_start.isoformat().replace("+00:00", "Z"),
        metadata={
            "calbridge_company": COMPANY,
            "calbridge_booking_id": appointment_id,
            "calbridge_hold": "A",
        },
    )
    assert post(fresh, moved).json()["outcome"] == "marked"
    assert post(fresh, webhook("BOOKING_CREATED", new_uid)).json()["outcome"] == "ignored"
    cancelled = webhook("BOOKING_CANCELLED", uids["B"], cancellationReason="Termin passt nicht")
    assert [post(fresh, cancelled).json()["outcome"] for _ in range(2)] == ["marked", "duplicate"]

    [mark] = marks()
    assert set(mark["segment_keys"]) == {"A", "B"} and mark["change_count"] == 2
    moved_change = next(c for c in changes(appointment_id) if c["trigger"] == "BOOKING_RESCHEDULED")
    assert moved_change["booking_uid"] == uids["A"] and moved_change["new_booking_uid"] == new_uid
    assert moved_change["reason"].startswith("moved in Cal.com to ")
    assert records().get(COMPANY, appointment_id)["status"] == "booked"


# ------------------------------------------------------------------ reassignment


def test_a_reassignment_re_resolves_the_segments_staff(fresh, booked):
    link_staff("emma-williams", EMMA["id"], provision=False)
    appointment_id = booked["appointment_id"]
    uid = holds(appointment_id)["A"]
    t1, t2, t3 = "2026-03-10T09:00:00.000Z", "2026-03-10T09:05:00.000Z", "2026-03-10T09:10:00.000Z"

    to_emma = post(fresh, webhook("BOOKING_REASSIGNED", uid, created_at=t2, organizer=EMMA))
    assert to_emma.json()["outcome"] == "marked", to_emma.text
    segment_a = next(s for s in segments(appointment_id) if s["segment_key"] == "A")
    assert segment_a["staff_id"] == "emma-williams" and segment_a["calcom_host_id"] == EMMA["id"]
    [mark] = marks()
    assert mark["reason"] == "reassigned in Cal.com to emma-williams"
    [change] = changes(appointment_id)
    assert change["previous_staff_id"] == "fabian-spitzer" and change["staff_id"] == "emma-williams"

    # An older reassignment that arrives late changes nothing; a newer one does.
    late = post(fresh, webhook("BOOKING_REASSIGNED", uid, created_at=t1, organizer=FABIAN))
    assert late.json()["outcome"] == "stale"
    segment_a = next(s for s in segments(appointment_id) if s["segment_key"] == "A")
    assert segment_a["staff_id"] == "emma-williams"
    back = post(fresh, webhook("BOOKING_REASSIGNED", uid, created_at=t3, organizer=FABIAN))
    assert back.json()["outcome"] == "marked"
    segment_a = next(s for s in segments(appointment_id) if s["segment_key"] == "A")
    assert segment_a["staff_id"] == "fabian-spitzer"
    assert len(changes(appointment_id)) == 2


def test_a_reassignment_to_the_same_staff_member_marks_nothing(fresh, booked):
    uid = holds(booked["appointment_id"])["B"]
    response = post(fresh, webhook("BOOKING_REASSIGNED", uid, organizer=FABIAN))
    assert response.json()["outcome"] == "recorded"
    assert marks() == []


# ------------------------------------------------------------------ events/ samples


def test_the_event_samples_are_current_and_mark_the_invoke_samples_appointment(fresh):
    """`make invoke FN=CalcomWebhookFunction EVENT=events/calcom_webhook_*.json` on what it seeds."""
    samples = importlib.import_module("local.calcom_events")
    importlib.import_module("local.seed").seed_invoke_samples(fresh)
    routes = {route.route_key for route in fresh.routes}
    for name, body in samples.CALCOM_BODIES.items():
        event = json.loads((samples.EVENTS_DIR / name).read_text(encoding="utf-8"))
        raw = event["body"].encode()
        assert json.loads(raw) == body, f"{name} is stale: run python -m local.calcom_events write"
        assert event["routeKey"] in routes and event["pathParameters"] == {"company_id": COMPANY}
        assert event["headers"]["x-cal-signature-256"] == sign(raw, LOCAL_SECRET)
        result = fresh.invoke("CalcomWebhookFunction", event)
        answer = result.json()
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"])["outcome"] == "marked"
    [mark] = marks()
    assert mark["parent_id"] == "bk_5a8c3e1f7b9d4a6c8e0f2b4d6a8c0e2f"
    assert set(mark["segment_keys"]) == {"A", "B"}


def test_after_calbridges_reschedule_the_new_bookings_are_found_by_uid(fresh, booked, retell):
    """The new bookings' metadata names the reschedule's attempt, not the appointment: the uid
    index finds it. A late webhook about a booking calbridge replaced changes nothing."""
    appointment_id = booked["appointment_id"]
    old = holds(appointment_id)
    monday = next_monday()
    moved = retell.tool(
        "reschedule_appointment", {"date": monday, "new_date": monday, "new_time": "10:00"}, CALL
    )
    assert moved.status_code == 200 and moved.json()["data"]["rescheduled"], moved.text
    new = holds(appointment_id)
    standin_deliveries(fresh)

    # The replaced booking's items were rewritten: by uid alone it is no appointment's any more.
    late = post(fresh, webhook("BOOKING_CANCELLED", old["C"], cancellationReason="Kunde hat abgesagt"))
    assert late.json()["reason"] == "not_ours"
    metadata = {"calbridge_company": COMPANY, "calbridge_booking_id": appointment_id, "calbridge_hold": "C"}
    named = post(fresh, webhook("BOOKING_CANCELLED", old["C"], cancellationReason="x", metadata=metadata))
    assert named.json()["reason"] == "calbridge_change"
    assert marks() == []
    cancel_in_calcom(fresh, new["C"], "Fabian ist krank")
    standin_deliveries(fresh)
    [mark] = marks()
    assert mark["parent_id"] == appointment_id and set(mark["segment_keys"]) == {"C"}
