"""Call records on the local stack's DynamoDB: the service and repository behind POST /retell/events.

Redeliveries, every arrival order, concurrent events, which event's facts win, appointments noted
by the tools before or after the lifecycle events, the tenant from metadata or the dialled number.
"""

from __future__ import annotations

import importlib
import itertools
import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from local.events import call_webhook

COMPANY = "salon-demo"
SALON = "+4930123456789"
CALLER = "+4915112345678"
EVENTS = ("call_started", "call_ended", "call_analyzed")
STAMPS = {"created_at", "updated_at"}  # when the record was written, not what it says


@pytest.fixture
def cb(fresh):
    """The calbridge modules the stack imported at start, and a service on the stack's tables."""
    modules = SimpleNamespace(
        errors=importlib.import_module("calbridge.errors"),
        models=importlib.import_module("calbridge.domain.models"),
        calls=importlib.import_module("calbridge.domain.calls"),
        store=importlib.import_module("calbridge.adapters.store.repositories"),
        call_store=importlib.import_module("calbridge.adapters.store.calls"),
        service=importlib.import_module("calbridge.services.call_records"),
    )
    modules.repo = modules.call_store.CallRepository()
    modules.records = modules.service.CallRecords(modules.store.CompanyRepository(), modules.repo)
    return modules


def webhook(event: str, call_id: str = "call_it_0001", **call: Any) -> dict[str, Any]:
    return call_webhook(event, call_id, **call)


def stored(cb, call_id: str, company_id: str = COMPANY) -> dict[str, Any]:
    record = cb.repo.get(company_id, call_id)
    assert record is not None, f"no record for {call_id}"
    return record.model_dump(mode="json")


def without_stamps(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in STAMPS}


# ------------------------------------------------------------------ lifecycle events


def test_call_started_creates_the_record(cb):
    assert cb.records.receive(webhook("call_started")) is True
    record = stored(cb, "call_it_0001")
    assert record["status"] == "started" and record["events"] == ["call_started"]
    assert (record["company_id"], record["branch_id"]) == (COMPANY, "berlin-mitte")
    assert (record["from_number"], record["to_number"]) == (CALLER, SALON)
    assert (record["direction"], record["agent_id"]) == ("inbound", "agent_local_demo")
    assert record["started_at"].startswith("2026-11-21T08:36:29")
    assert record["ended_at"] is None and record["summary"] is None and record["appointments"] == []


def test_all_three_events_make_a_complete_record(cb):
    for event in EVENTS:
        assert cb.records.receive(webhook(event)) is True
    record = stored(cb, "call_it_0001")
    assert record["status"] == "analyzed"
    assert record["events"] == list(EVENTS)
    assert record["started_at"].startswith("2026-11-21T08:36:29")
    assert record["ended_at"].startswith("2026-11-21T08:39:36.538")
    assert (record["duration_ms"], record["disconnection_reason"]) == (187538, "user_hangup")
    assert record["summary"].startswith("Die Anruferin hat einen Damenhaarschnitt")
    assert (record["user_sentiment"], record["call_successful"], record["in_voicemail"]) == (
        "Positive",
        True,
        False,
    )


@pytest.mark.parametrize("event", EVENTS)
def test_a_redelivered_event_changes_nothing(cb, event):
    assert cb.records.receive(webhook(event)) is True
    first = stored(cb, "call_it_0001")
    for _ in range(3):
        assert cb.records.receive(webhook(event)) is False
    assert stored(cb, "call_it_0001") == first, "a duplicate rewrote the record (updated_at included)"


def test_a_redelivery_with_other_values_does_not_overwrite(cb):
    cb.records.receive(webhook("call_ended"))
    assert cb.records.receive(webhook("call_ended", disconnection_reason="agent_hangup")) is False
    assert stored(cb, "call_it_0001")["disconnection_reason"] == "user_hangup"


@pytest.mark.parametrize("order", list(itertools.permutations(EVENTS)), ids="-".join)
def test_every_arrival_order_gives_the_same_record(cb, order):
    for event in EVENTS:
        cb.records.receive(webhook(event, call_id="call_it_reference"))
    reference = without_stamps(stored(cb, "call_it_reference"))

    for event in order:
        assert cb.records.receive(webhook(event, call_id="call_it_permuted")) is True
    permuted = without_stamps(stored(cb, "call_it_permuted"))
    assert permuted == {**reference, "call_id": "call_it_permuted"}
    assert permuted["status"] == "analyzed"


@pytest.mark.parametrize(
    ("events", "status"),
    [
        (("call_ended",), "ended"),
        (("call_ended", "call_started"), "ended"),
        (("call_analyzed",), "analyzed"),
        (("call_analyzed", "call_started"), "analyzed"),
        (("call_analyzed", "call_ended"), "analyzed"),
    ],
)
def test_status_is_the_furthest_event_whatever_arrived_last(cb, events, status):
    for event in events:
        cb.records.receive(webhook(event))
    assert stored(cb, "call_it_0001")["status"] == status


def test_call_ended_alone_is_a_complete_record(cb):
    """call_started is not sent for calls that never connect, or may be lost."""
    cb.records.receive(webhook("call_ended"))
    record = stored(cb, "call_it_0001")
    assert record["status"] == "ended"
    assert record["from_number"] == CALLER and record["started_at"] is not None
    assert record["duration_ms"] == 187538


@pytest.mark.parametrize("first", ["call_ended", "call_analyzed"])
def test_the_final_event_wins_and_earlier_events_never_overwrite(cb, first):
    """call_analyzed carries the final call object; call_ended/started only fill gaps."""
    later = {"call_ended": "call_analyzed", "call_analyzed": "call_ended"}[first]
    values = {"call_ended": "user_hangup", "call_analyzed": "agent_hangup"}
    cb.records.receive(webhook(first, disconnection_reason=values[first]))
    cb.records.receive(webhook(later, disconnection_reason=values[later]))
    cb.records.receive(webhook("call_started", agent_id="agent_other"))
    record = stored(cb, "call_it_0001")
    assert record["disconnection_reason"] == "agent_hangup"
    assert record["agent_id"] == "agent_local_demo"


def test_fields_an_event_omits_are_not_erased(cb):
    cb.records.receive(webhook("call_ended"))
    cb.records.receive(webhook("call_analyzed", disconnection_reason=None, duration_ms=None))
    record = stored(cb, "call_it_0001")
    assert (record["duration_ms"], record["disconnection_reason"]) == (187538, "user_hangup")
    assert record["summary"] is not None


def test_concurrent_events_of_one_call_are_all_kept(cb):
    """Three events (each delivered twice) of 10 calls, all at once: no write lost, none doubled."""
    calls = [f"call_it_race_{n}" for n in range(10)]
    jobs = [(call_id, event) for call_id in calls for event in EVENTS for _ in range(2)]
    start = threading.Barrier(len(jobs))
    outcomes: list[tuple[str, bool]] = []

    def deliver(call_id: str, event: str) -> None:
        start.wait()
        outcomes.append((call_id, cb.records.receive(webhook(event, call_id=call_id))))

    threads = [threading.Thread(target=deliver, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for call_id in calls:
        assert sum(recorded for cid, recorded in outcomes if cid == call_id) == 3, call_id
        record = stored(cb, call_id)
        assert record["events"] == list(EVENTS)
        assert record["status"] == "analyzed" and record["summary"] is not None
        assert record["duration_ms"] == 187538


def test_numbers_are_stored_in_e164(cb):
    cb.records.receive(
        webhook("call_started", from_number="+49 151 1234-5678", to_number="0049 30 123456789")
    )
    record = stored(cb, "call_it_0001")
    assert (record["from_number"], record["to_number"]) == (CALLER, SALON)


def test_a_withheld_caller_number_is_not_stored(cb):
    cb.records.receive(webhook("call_started", from_number="anonymous"))
    record = stored(cb, "call_it_0001")
    assert record["from_number"] is None and record["to_number"] == SALON


def test_other_events_are_not_recorded(cb):
    assert cb.records.receive({"event": "transcript_updated", "call": {"call_id": "call_it_0001"}}) is False
    assert cb.records.receive({"event": "chat_started", "chat": {"chat_id": "chat_1"}}) is False
    assert cb.records.receive({"event": "call_exploded", "call": {"call_id": "call_it_0001"}}) is False
    assert cb.repo.list(COMPANY) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"call": {"call_id": "call_it_0001"}}, "event"),
        ({"event": "  ", "call": {"call_id": "call_it_0001"}}, "event"),
        ({"event": "call_started"}, "call"),
        ({"event": "call_started", "call": {"direction": "inbound"}}, "call.call_id"),
        ({"event": "call_ended", "call": {"call_id": "c", "duration_ms": "long"}}, "call.duration_ms"),
        ([{"event": "call_started"}], "body"),
    ],
)
def test_bad_payloads_name_the_field_and_write_nothing(cb, body, field):
    with pytest.raises(cb.errors.InvalidRequest) as raised:
        cb.records.receive(body)
    assert raised.value.field == field
    assert cb.repo.list(COMPANY) == []


def test_event_type_and_data_are_read_as_retell_spelled_them_once(cb):
    body = webhook("call_started")
    legacy = {"event_type": body["event"], "data": body["call"]}
    assert cb.records.receive(legacy) is True
    assert stored(cb, "call_it_0001")["status"] == "started"


# ------------------------------------------------------------------ tenant


def test_without_metadata_the_dialled_number_decides_the_company(cb):
    cb.records.receive(webhook("call_ended", metadata=None))
    record = stored(cb, "call_it_0001")
    assert (record["company_id"], record["branch_id"]) == (COMPANY, "berlin-mitte")


def test_without_metadata_the_agent_id_decides_the_company(cb):
    # A dashboard test call: no metadata, and the number (if any) is not routed.
    cb.records.receive(webhook("call_ended", metadata=None, to_number="+4940999999"))
    record = stored(cb, "call_it_0001")
    assert (record["company_id"], record["branch_id"]) == (COMPANY, "berlin-mitte")  # its only branch


UNCLAIMED_AGENT = {"agent_id": "agent_nobody_claims"}


@pytest.mark.parametrize(
    "call",
    [
        pytest.param({"metadata": {"company_id": "no-such-salon"}}, id="unknown-company-id"),
        pytest.param({"metadata": None, "to_number": "+4940999999", **UNCLAIMED_AGENT}, id="unrouted-number"),
        pytest.param({"metadata": None, "to_number": None, **UNCLAIMED_AGENT}, id="no-number"),
        pytest.param({"metadata": None, "direction": "outbound", **UNCLAIMED_AGENT}, id="outbound"),
        pytest.param({"metadata": None, "to_number": "+4940999999", "agent_id": None}, id="no-agent"),
        pytest.param(
            {"metadata": {"branch_id": "berlin-mitte"}, "to_number": "+4940999999", **UNCLAIMED_AGENT},
            id="no-id",
        ),
    ],
)
def test_a_call_no_company_claims_is_acknowledged_and_nothing_written(cb, call):
    # Not an error: Retell would redeliver a refused webhook three times (services/tenancy.py).
    assert cb.records.receive(webhook("call_started", **call)) is False
    assert cb.repo.list(COMPANY) == []


def test_a_call_id_is_scoped_by_company(cb):
    cb.store.CompanyRepository().save(
        cb.models.Company(
            company_id="salon-two",
            name="Salon Two",
            timezone="Europe/Berlin",
            branches=[{"branch_id": "main", "name": "Main", "phone_numbers": ["+4940555555"]}],
        )
    )
    cb.records.receive(webhook("call_started", call_id="call_shared"))
    cb.records.receive(
        webhook("call_ended", call_id="call_shared", metadata=None, agent_id=None, to_number="+4940555555")
    )
    demo, two = stored(cb, "call_shared"), stored(cb, "call_shared", "salon-two")
    assert (demo["status"], two["status"]) == ("started", "ended")
    assert two["branch_id"] == "main" and demo["ended_at"] is None
    assert [c.call_id for c in cb.repo.list("salon-two")] == ["call_shared"]
    assert cb.repo.get("salon-two", "call_it_0001") is None


# ------------------------------------------------------------------ appointments noted by the tools


def test_note_appointment_before_any_event_then_the_events_complete_it(cb):
    assert cb.records.note_appointment(COMPANY, "call_it_0001", "bk_1", "booked") is True
    early = stored(cb, "call_it_0001")
    assert early["status"] is None and early["events"] == []
    assert [(a["appointment_id"], a["action"]) for a in early["appointments"]] == [("bk_1", "booked")]

    for event in EVENTS:
        cb.records.receive(webhook(event))
    record = stored(cb, "call_it_0001")
    assert record["status"] == "analyzed" and record["from_number"] == CALLER
    assert record["appointments"] == early["appointments"]
    assert record["created_at"] == early["created_at"]


def test_note_appointment_after_the_events_keeps_them(cb):
    for event in EVENTS:
        cb.records.receive(webhook(event))
    before = stored(cb, "call_it_0001")
    cb.records.note_appointment(COMPANY, "call_it_0001", "bk_1", "rescheduled")
    after = stored(cb, "call_it_0001")
    assert without_stamps({**after, "appointments": []}) == without_stamps(before)
    assert after["appointments"][0]["action"] == "rescheduled"
    noted_at = datetime.fromisoformat(after["appointments"][0]["at"])
    assert abs((datetime.now(UTC) - noted_at).total_seconds()) < 60


def test_booking_or_cancelling_is_noted_once_every_reschedule_is_kept(cb):
    note = cb.records.note_appointment
    assert note(COMPANY, "call_it_0001", "bk_1", "booked") is True
    assert note(COMPANY, "call_it_0001", "bk_1", "booked") is False
    assert note(COMPANY, "call_it_0001", "bk_1", cb.calls.AppointmentAction.RESCHEDULED) is True
    assert note(COMPANY, "call_it_0001", "bk_1", "rescheduled") is True
    assert note(COMPANY, "call_it_0001", "bk_2", "booked") is True
    assert note(COMPANY, "call_it_0001", "bk_1", "cancelled") is True
    assert note(COMPANY, "call_it_0001", "bk_1", "cancelled") is False
    actions = [(a["appointment_id"], a["action"]) for a in stored(cb, "call_it_0001")["appointments"]]
    assert actions == [
        ("bk_1", "booked"),
        ("bk_1", "rescheduled"),
        ("bk_1", "rescheduled"),
        ("bk_2", "booked"),
        ("bk_1", "cancelled"),
    ]


def test_note_appointment_concurrently_with_the_events(cb):
    barrier = threading.Barrier(len(EVENTS) + 2)

    def deliver(event: str) -> None:
        barrier.wait()
        cb.records.receive(webhook(event))

    def note(appointment_id: str) -> None:
        barrier.wait()
        cb.records.note_appointment(COMPANY, "call_it_0001", appointment_id, "booked")

    threads = [threading.Thread(target=deliver, args=(e,)) for e in EVENTS]
    threads += [threading.Thread(target=note, args=(a,)) for a in ("bk_1", "bk_2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = stored(cb, "call_it_0001")
    assert record["status"] == "analyzed"
    assert sorted(a["appointment_id"] for a in record["appointments"]) == ["bk_1", "bk_2"]


def test_note_appointment_is_scoped_by_company(cb):
    cb.records.receive(webhook("call_started"))
    cb.records.note_appointment("salon-two", "call_it_0001", "bk_9", "booked")
    assert stored(cb, "call_it_0001")["appointments"] == []
    assert [a["appointment_id"] for a in stored(cb, "call_it_0001", "salon-two")["appointments"]] == ["bk_9"]


def test_an_unknown_action_is_refused(cb):
    with pytest.raises(ValueError):
        cb.records.note_appointment(COMPANY, "call_it_0001", "bk_1", "postponed")
    assert cb.repo.get(COMPANY, "call_it_0001") is None
