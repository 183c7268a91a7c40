"""POST /retell/events: Retell's call lifecycle webhooks, signed, over the HTTP front of the local stack.

Each event, redeliveries, every arrival order, concurrent delivery, other event types, appointments
noted by the tools, bad signatures and payloads, and the tenant (metadata, agent id, dialled number,
calls no company claims, isolation).
"""

from __future__ import annotations

import importlib
import itertools
import threading
import time
from typing import Any

import pytest

from calbridge.adapters.retell.signature import sign
from local.events import call_webhook
from local.retell_sim import compact

COMPANY = "salon-demo"
SALON = "+4930123456789"
CALLER = "+4915112345678"
EVENTS = ("call_started", "call_ended", "call_analyzed")
STAMPS = {"created_at", "updated_at"}


@pytest.fixture
def calls(fresh):
    """The call store the stack's handler writes to (imported after the stack started)."""
    return importlib.import_module("calbridge.adapters.store.calls").CallRepository()


@pytest.fixture
def call_records(fresh):
    return importlib.import_module("calbridge.services.wiring").call_records()


@pytest.fixture
def nothing_written(calls):
    yield
    assert calls.list(COMPANY) == [], "a request that was not recorded wrote a call record"


@pytest.fixture
def salon_two(fresh):
    """A second company with its own number and agent."""
    cb = importlib.import_module("calbridge.adapters.store.repositories")
    models = importlib.import_module("calbridge.domain.models")
    cb.CompanyRepository().save(
        models.Company(
            company_id="salon-two",
            name="Salon Two",
            timezone="Europe/Berlin",
            branches=[{"branch_id": "main", "name": "Main", "phone_numbers": ["+4940555555"]}],
            retell_agent_ids=["agent_salon_two"],
        )
    )
    return "salon-two"


def webhook(event: str, call_id: str = "call_e2e_events", **call: Any) -> dict[str, Any]:
    return call_webhook(event, call_id, **call)


def send(retell, body: Any) -> Any:
    response = retell.post("/retell/events", body)
    assert "Traceback" not in response.text
    return response


def record(calls, call_id: str = "call_e2e_events", company_id: str = COMPANY) -> dict[str, Any]:
    found = calls.get(company_id, call_id)
    assert found is not None, f"no record for {call_id}"
    return found.model_dump(mode="json")


def without_stamps(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in STAMPS}


# ------------------------------------------------------------------ each event


@pytest.mark.parametrize(
    ("event", "status"), [("call_started", "started"), ("call_ended", "ended"), ("call_analyzed", "analyzed")]
)
def test_each_lifecycle_event_is_204_and_recorded(retell, calls, event, status):
    response = send(retell, webhook(event))
    assert response.status_code == 204 and response.content == b""
    stored = record(calls)
    assert stored["status"] == status and stored["events"] == [event]
    assert (stored["company_id"], stored["branch_id"]) == (COMPANY, "berlin-mitte")
    assert (stored["from_number"], stored["to_number"], stored["direction"]) == (CALLER, SALON, "inbound")
    assert stored["agent_id"] == "agent_local_demo"
    assert stored["started_at"] is not None
    assert (stored["ended_at"] is None) == (event == "call_started")
    assert (stored["summary"] is None) == (event != "call_analyzed")


def test_the_three_events_make_the_full_record(retell, calls):
    for event in EVENTS:
        assert send(retell, webhook(event)).status_code == 204
    stored = record(calls)
    assert stored["status"] == "analyzed"
    assert stored["started_at"].startswith("2026-11-21T08:36:29")
    assert stored["ended_at"].startswith("2026-11-21T08:39:36.538")
    assert (stored["duration_ms"], stored["disconnection_reason"]) == (187538, "user_hangup")
    assert stored["summary"].startswith("Die Anruferin hat einen Damenhaarschnitt")
    assert (stored["user_sentiment"], stored["call_successful"]) == ("Positive", True)


def test_a_long_calls_transcript_fits(retell, calls):
    """Word timings make a long call's webhook megabytes (every Retell route takes up to 6 MB)."""
    words = [{"word": "Haarschnitt", "start": n * 0.4, "end": n * 0.4 + 0.3} for n in range(20_000)]
    body = webhook("call_analyzed", transcript_object=[{"role": "user", "content": "…", "words": words}])
    assert len(compact(body)) > 1024 * 1024
    assert send(retell, body).status_code == 204
    assert record(calls)["status"] == "analyzed"


@pytest.mark.parametrize("event", EVENTS)
def test_three_redeliveries_leave_one_unchanged_record(retell, calls, event):
    assert send(retell, webhook(event)).status_code == 204
    first = record(calls)
    for _ in range(3):
        assert send(retell, webhook(event)).status_code == 204
    assert record(calls) == first
    assert [c.call_id for c in calls.list(COMPANY)] == ["call_e2e_events"]


@pytest.mark.parametrize("order", list(itertools.permutations(EVENTS)), ids="-".join)
def test_every_order_of_the_three_events_gives_the_same_record(retell, calls, order):
    for event in EVENTS:
        send(retell, webhook(event, call_id="call_e2e_in_order"))
    expected = without_stamps(record(calls, "call_e2e_in_order"))
    for event in order:
        assert send(retell, webhook(event, call_id="call_e2e_permuted")).status_code == 204
    assert without_stamps(record(calls, "call_e2e_permuted")) == {**expected, "call_id": "call_e2e_permuted"}


def test_concurrent_delivery_of_the_three_events(retell, calls):
    """The three events, each twice, sent at the same moment from threads (as Retell's retries may)."""
    jobs = [event for event in EVENTS for _ in range(2)]
    barrier = threading.Barrier(len(jobs))
    statuses: list[int] = []

    def deliver(event: str) -> None:
        barrier.wait()
        statuses.append(send(retell, webhook(event)).status_code)

    threads = [threading.Thread(target=deliver, args=(event,)) for event in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [204] * len(jobs)
    stored = record(calls)
    assert stored["events"] == list(EVENTS) and stored["status"] == "analyzed"
    for event in EVENTS:
        send(retell, webhook(event, call_id="call_e2e_sequential"))
    assert without_stamps(stored) == {
        **without_stamps(record(calls, "call_e2e_sequential")),
        "call_id": "call_e2e_events",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"event": "transcript_updated", "call": {"call_id": "call_e2e_events", "transcript": "Agent: Hallo"}},
        {"event": "transfer_started", "call": {"call_id": "call_e2e_events"}, "transfer_destination": {}},
        {"event": "transfer_ended", "call": {"call_id": "call_e2e_events"}},
        {"event": "chat_started", "chat": {"chat_id": "chat_1"}},
        {"event": "call_recording_ready", "call": webhook("call_ended")["call"]},  # one Retell may add
    ],
    ids=lambda body: body["event"],
)
def test_other_event_types_are_204_and_write_nothing(retell, nothing_written, body):
    response = send(retell, body)
    assert response.status_code == 204 and response.content == b""


# ------------------------------------------------------------------ appointments noted by the tools


def test_note_appointment_before_the_lifecycle_events(retell, calls, call_records):
    assert call_records.note_appointment(COMPANY, "call_e2e_events", "bk_early", "booked") is True
    for event in EVENTS:
        send(retell, webhook(event))
    stored = record(calls)
    assert stored["status"] == "analyzed" and stored["from_number"] == CALLER
    assert [(a["appointment_id"], a["action"]) for a in stored["appointments"]] == [("bk_early", "booked")]


def test_note_appointment_after_the_lifecycle_events(retell, calls, call_records):
    for event in EVENTS:
        send(retell, webhook(event))
    before = record(calls)
    call_records.note_appointment(COMPANY, "call_e2e_events", "bk_late", "cancelled")
    call_records.note_appointment(COMPANY, "call_e2e_events", "bk_late", "cancelled")  # a retried tool
    after = record(calls)
    assert [(a["appointment_id"], a["action"]) for a in after["appointments"]] == [("bk_late", "cancelled")]
    assert without_stamps({**after, "appointments": []}) == without_stamps(before)


# ------------------------------------------------------------------ rejected requests


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.parametrize(
    "make_signature",
    [
        pytest.param(lambda raw, key: "", id="missing"),
        pytest.param(lambda raw, key: sign(raw + b" ", key, _now_ms()), id="tampered"),
        pytest.param(lambda raw, key: sign(raw, key, _now_ms() - 6 * 60 * 1000), id="stale"),
        pytest.param(lambda raw, key: sign(raw, "someone_elses_key", _now_ms()), id="wrong-key"),
    ],
)
def test_bad_signature_is_401_and_writes_nothing(retell, nothing_written, make_signature):
    raw = compact(webhook("call_ended"))
    response = retell.post("/retell/events", None, signature=make_signature(raw, retell.api_key), raw=raw)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"


@pytest.mark.parametrize(
    ("raw", "field"),
    [(b"", "body"), (b"{not json", "body"), (b'{"event": "call_ended", "call": {"call_id": ', "body")],
)
def test_malformed_json_is_400_and_writes_nothing(retell, nothing_written, raw, field):
    response = retell.post("/retell/events", None, raw=raw)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"call": webhook("call_ended")["call"]}, "event"),
        ({"event": "", "call": webhook("call_ended")["call"]}, "event"),
        ({"event": 42, "call": webhook("call_ended")["call"]}, "event"),
        ({"event": "call_ended"}, "call"),
        ({"event": "call_ended", "call": "call_e2e_events"}, "call"),
        ({"event": "call_ended", "call": webhook("call_ended", call_id="")["call"]}, "call.call_id"),
        ({"event": "call_ended", "call": {**webhook("call_ended")["call"], "call_id": None}}, "call.call_id"),
        (
            {"event": "call_ended", "call": {**webhook("call_ended")["call"], "end_timestamp": "soon"}},
            "call.end_timestamp",
        ),
        (
            {"event": "call_ended", "call": {**webhook("call_ended")["call"], "metadata": {"company_id": 7}}},
            "call.metadata.company_id",
        ),
        (["call_ended"], "body"),
    ],
)
def test_missing_or_wrong_fields_are_400_naming_the_field(retell, nothing_written, body, field):
    response = send(retell, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and response.json()["field"] == field


# ------------------------------------------------------------------ tenant


UNCLAIMED = {"metadata": None, "agent_id": "agent_nobody_claims", "to_number": "+4940999999"}


def test_without_metadata_the_agent_id_routes_the_call(retell, calls):
    """A dashboard test call: no inbound webhook, so no metadata and no routed number."""
    body = webhook("call_ended", metadata=None, to_number="+4940999999")
    assert body["call"]["agent_id"] == "agent_local_demo"  # the demo salon's retell_agent_ids
    assert send(retell, body).status_code == 204
    stored = record(calls)
    # The demo salon has one branch: an agent-routed call is that branch's.
    assert (stored["company_id"], stored["branch_id"], stored["status"]) == (COMPANY, "berlin-mitte", "ended")


def test_a_web_call_without_numbers_is_routed_by_its_agent_id(retell, calls):
    body = webhook("call_started", metadata=None, from_number=None, to_number=None, direction=None)
    body["call"]["call_type"] = "web_call"
    assert send(retell, body).status_code == 204
    assert record(calls)["company_id"] == COMPANY


def test_without_metadata_and_an_unclaimed_agent_the_dialled_number_routes_the_call(retell, calls):
    assert (
        send(retell, webhook("call_ended", metadata=None, agent_id="agent_nobody_claims")).status_code == 204
    )
    stored = record(calls)
    assert (stored["company_id"], stored["branch_id"], stored["status"]) == (COMPANY, "berlin-mitte", "ended")


@pytest.mark.parametrize("event", EVENTS)
def test_a_call_no_company_claims_is_acknowledged_counted_and_writes_nothing(
    retell, nothing_written, capsys, caplog, event
):
    # Retell redelivers anything but a 2xx three times: refusing would only repeat the event.
    response = send(retell, webhook(event, **UNCLAIMED))
    assert response.status_code == 204 and response.content == b""
    assert '"CallEventUnknownCompany":[1.0]' in capsys.readouterr().out
    [warning] = [r for r in caplog.records if r.getMessage() == "call event of no company; not recorded"]
    assert warning.agent_id == "agent_nobody_claims"
    assert "+4940999999" not in str(vars(warning)) and CALLER not in str(vars(warning))  # numbers stay out


def test_metadata_naming_no_company_is_acknowledged_and_writes_nothing(retell, nothing_written, capsys):
    response = send(retell, webhook("call_started", metadata={"company_id": "no-such-salon"}))
    assert response.status_code == 204
    assert '"CallEventUnknownCompany":[1.0]' in capsys.readouterr().out


def test_metadata_wins_over_the_agent_id(retell, calls, salon_two):
    send(retell, webhook("call_started", metadata={"company_id": "salon-two", "branch_id": "main"}))
    assert record(calls, company_id="salon-two")["branch_id"] == "main"
    assert calls.list(COMPANY) == []


def test_the_tenant_comes_only_from_signed_call_data(retell, calls):
    """A company id anywhere else in the body (top level, dynamic variables) is not read."""
    body = webhook("call_started", metadata=None, retell_llm_dynamic_variables={"company_id": "salon-two"})
    body["company_id"] = "salon-two"
    assert send(retell, body).status_code == 204
    assert record(calls)["company_id"] == COMPANY
    assert calls.list("salon-two") == []


def test_calls_of_two_companies_never_mix(retell, calls, salon_two):
    send(retell, webhook("call_analyzed", call_id="call_same_id"))
    send(retell, webhook("call_started", call_id="call_same_id", metadata={"company_id": "salon-two"}))
    send(
        retell,
        webhook("call_ended", call_id="call_two_only", metadata=None, agent_id=None, to_number="+4940555555"),
    )
    send(retell, webhook("call_ended", call_id="call_two_agent", metadata=None, agent_id="agent_salon_two"))
    assert record(calls, "call_same_id")["status"] == "analyzed"
    assert record(calls, "call_same_id", "salon-two")["status"] == "started"
    assert sorted(c.call_id for c in calls.list("salon-two")) == [
        "call_same_id",
        "call_two_agent",
        "call_two_only",
    ]
    assert [c.call_id for c in calls.list(COMPANY)] == ["call_same_id"]
