"""Cal.com's X-Cal-Signature-256 and what a booking change made in Cal.com means (pure parts)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calbridge.adapters.calcom_signature import secret_name, sign, verify
from calbridge.domain.calcom_events import (
    AppointmentState,
    Attention,
    BookingPayload,
    CalcomChange,
    Ignore,
    Reassign,
    SegmentState,
    WebhookEnvelope,
    decide,
    delivery_key,
    staff_change,
)
from calbridge.errors import SignatureInvalid

EXAMPLE = Path(__file__).parents[2] / "docs/reference/examples/calcom/webhook_booking_created.json"
SECRET = "whsec_test"
BODY = b'{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-03-10T08:00:00.000Z","payload":{"uid":"u1"}}'


# ------------------------------------------------------------------ signature


def test_the_signature_is_hex_hmac_sha256_of_the_raw_body():
    assert sign(BODY, SECRET) == hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    verify(BODY, sign(BODY, SECRET), SECRET)
    verify(BODY, f"  {sign(BODY, SECRET).upper()} ", SECRET)


@pytest.mark.parametrize(
    ("header", "secret", "message"),
    [
        (None, SECRET, "missing"),
        ("", SECRET, "missing"),
        ("no-secret-provided", SECRET, "does not match"),
        (f"sha256={sign(BODY, SECRET)}", SECRET, "does not match"),
        (sign(BODY, "other"), SECRET, "does not match"),
        (sign(BODY + b" ", SECRET), SECRET, "does not match"),
        # No secret known for the company: refused like any wrong signature, even one made with "".
        (sign(BODY, ""), None, "does not match"),
    ],
)
def test_a_missing_or_wrong_signature_is_refused(header, secret, message):
    with pytest.raises(SignatureInvalid, match=message):
        verify(BODY, header, secret)


def test_each_company_has_its_own_secret_name():
    assert secret_name("calbridge/calcom-webhook-secret", "salon-demo") == (
        "calbridge/calcom-webhook-secret/salon-demo"
    )


# ------------------------------------------------------------------ reading a delivery


def change_of(body: dict) -> CalcomChange:
    envelope = WebhookEnvelope.model_validate(body)
    return CalcomChange.read(envelope, BookingPayload.model_validate(envelope.payload))


def test_cal_coms_example_payload_reads():
    body = json.loads(EXAMPLE.read_text())
    change = change_of({**body, "triggerEvent": "BOOKING_CANCELLED"})
    assert change.uid == body["payload"]["uid"] and change.new_uid is None
    assert change.old_start == datetime(2025, 6, 3, 14, tzinfo=UTC)
    assert change.key == delivery_key("BOOKING_CANCELLED", change.uid, body["createdAt"])


def test_a_reschedule_is_about_the_old_booking():
    change = change_of(
        {
            "triggerEvent": "BOOKING_RESCHEDULED",
            "createdAt": "2026-03-10T08:00:00.000Z",
            "payload": {
                "uid": "new",
                "rescheduleUid": "old",
                "startTime": "2026-03-12T09:00:00Z",
                "rescheduleStartTime": "2026-03-11T09:00:00Z",
                "rescheduledBy": "host@example.com",
                "metadata": {
                    "calbridge_company": "salon-demo",
                    "calbridge_booking_id": "bk_1",
                    "videoCallUrl": 1,
                },
            },
        }
    )
    assert (change.uid, change.new_uid) == ("old", "new")
    assert change.new_start == datetime(2026, 3, 12, 9, tzinfo=UTC)
    assert change.old_start == datetime(2026, 3, 11, 9, tzinfo=UTC)
    assert change.actor == "host@example.com"
    assert (change.metadata_company, change.metadata_booking_id, change.metadata_hold) == (
        "salon-demo",
        "bk_1",
        None,
    )


@pytest.mark.parametrize("value", ["x" * 81, "code#ABC234", "bk 1", 17, None, ""])
def test_metadata_that_cannot_name_a_booking_is_not_read(value):
    body = {"triggerEvent": "BOOKING_CANCELLED", "createdAt": "t", "payload": {"uid": "u"}}
    body["payload"]["metadata"] = {"calbridge_booking_id": value}
    assert change_of(body).metadata_booking_id is None


def test_delivery_keys_differ_per_trigger_uid_and_time():
    keys = {
        delivery_key("BOOKING_CANCELLED", "u", "t1"),
        delivery_key("BOOKING_CANCELLED", "u", "t2"),
        delivery_key("BOOKING_REJECTED", "u", "t1"),
        delivery_key("BOOKING_CANCELLED", "v", "t1"),
    }
    assert len(keys) == 4


# ------------------------------------------------------------------ decisions

STATE = AppointmentState(
    appointment_id="bk_1",
    status="booked",
    holds={"A": "uA", "B": "uB"},
    replaced_uids=frozenset({"old"}),
    segments=(
        SegmentState(key="A", hold="A", staff_id="fabian"),
        SegmentState(key="B", hold="B", staff_id="fabian"),
    ),
)


def change(trigger: str, uid: str = "uB", **payload) -> CalcomChange:
    return change_of({"triggerEvent": trigger, "createdAt": "t", "payload": {"uid": uid, **payload}})


def test_a_segment_cancelled_in_calcom_needs_attention():
    decision = decide(change("BOOKING_CANCELLED", cancellationReason="krank"), "salon-demo", STATE)
    assert decision == Attention(
        appointment_id="bk_1", hold="B", segment_keys=("B",), reason="cancelled in Cal.com: krank"
    )


@pytest.mark.parametrize(
    ("trigger", "reason"),
    [
        ("BOOKING_REJECTED", "rejected in Cal.com"),
        ("BOOKING_REQUESTED", "waits for a host's confirmation in Cal.com"),
    ],
)
def test_rejected_and_requested_need_attention(trigger, reason):
    decision = decide(change(trigger), "salon-demo", STATE)
    assert isinstance(decision, Attention) and decision.reason == reason


def test_a_move_names_the_new_time():
    moved = change("BOOKING_RESCHEDULED", uid="new", rescheduleUid="uA", startTime="2026-03-12T09:00:00Z")
    decision = decide(moved, "salon-demo", STATE)
    assert isinstance(decision, Attention) and decision.hold == "A"
    assert decision.reason == "moved in Cal.com to 2026-03-12T09:00:00+00:00"


def test_a_reassignment_asks_for_host_resolution():
    decision = decide(change("BOOKING_REASSIGNED"), "salon-demo", STATE)
    assert decision == Reassign(appointment_id="bk_1", hold="B", segments=(STATE.segments[1],))


@pytest.mark.parametrize(
    ("case", "state", "reason"),
    [
        (change("BOOKING_CREATED"), STATE, "unwatched_trigger"),
        (change("BOOKING_CANCELLED", metadata={"calbridge_company": "salon-two"}), STATE, "other_company"),
        (
            change("BOOKING_CANCELLED", cancellationReason="calbridge: appointment cancelled"),
            STATE,
            "calbridge_change",
        ),
        (
            change(
                "BOOKING_CANCELLED",
                cancellationReason="calbridge reconciliation: booking without an appointment",
            ),
            STATE,
            "calbridge_change",
        ),
        (change("BOOKING_CANCELLED", uid="old"), STATE, "calbridge_change"),
        (change("BOOKING_CANCELLED"), STATE.model_copy(update={"status": "cancelled"}), "calbridge_change"),
        (change("BOOKING_CANCELLED"), STATE.model_copy(update={"status": "cancel_failed"}), "not_booked"),
        (change("BOOKING_CANCELLED", uid="elsewhere"), STATE, "not_current"),
        (change("BOOKING_CANCELLED"), None, "not_ours"),
    ],
)
def test_what_changes_nothing(case, state, reason):
    assert decide(case, "salon-demo", state) == Ignore(reason=reason)


def test_a_decision_does_not_depend_on_earlier_deliveries():
    cancelled = change("BOOKING_CANCELLED")
    assert decide(cancelled, "salon-demo", STATE) == decide(cancelled, "salon-demo", STATE)


def test_staff_change_says_who_served_before():
    segments = STATE.segments
    assert staff_change(segments, "fabian") == (False, "fabian")
    assert staff_change(segments, "emma") == (True, "fabian")
    assert staff_change(segments, None) == (True, "fabian")
    assert staff_change((SegmentState(key="A", hold="A"),), "emma") == (True, None)
