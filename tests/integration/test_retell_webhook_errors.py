"""The handler's single error mapping over the HTTP front: dependency failures during a tool call,
and hostile bodies (signed correctly), which are a 4xx naming the field or are bounded, never a 5xx."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from local.events import call_webhook
from local.retell_sim import compact

CALL = {"call_id": "call_errors", "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"}}
MakeError = Callable[[ModuleType], Exception]


@pytest.fixture
def failing_tool(stack, monkeypatch) -> Callable[[MakeError], None]:
    """Make get_service_info raise an error: the test is about the mapping, not the tool."""
    tool_calls = stack.functions["RetellWebhookFunction"].module.tool_calls
    # The stack imports the layer afresh at start (a cold start): raise the classes it uses.
    errors = importlib.import_module("calbridge.errors")

    def install(make_error: MakeError) -> None:
        def fail(company, args, call, deadline):
            raise make_error(errors)

        monkeypatch.setitem(tool_calls._tools, "get_service_info", fail)

    return install


@pytest.mark.parametrize(
    "make_error",
    [
        pytest.param(lambda e: e.CalcomUnavailable("Cal.com timed out"), id="unavailable"),
        pytest.param(lambda e: e.RateLimited("slow down", retry_after_s=30), id="rate-limited"),
        pytest.param(lambda e: e.CalcomRejected("Bad Request", status_code=400), id="rejected"),
    ],
)
def test_calcom_failures_are_a_speakable_answer(retell, failing_tool, make_error):
    failing_tool(make_error)
    response = retell.tool("get_service_info", {}, CALL)
    assert response.status_code == 200
    assert response.json() == {
        "success": False,
        "message": "Der Kalender ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
        "data": {"error": "calendar_unavailable"},
    }


def test_store_outage_is_503_without_details(retell, failing_tool):
    failing_tool(lambda e: e.StoreUnavailable("the service store is unavailable"))
    response = retell.tool("get_service_info", {}, CALL)
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "message": "calbridge is temporarily unavailable"}


def test_unexpected_bug_is_a_bare_500(retell, failing_tool):
    failing_tool(lambda e: ZeroDivisionError("division by zero"))
    response = retell.tool("get_service_info", {}, CALL)
    assert response.status_code == 500
    assert "ZeroDivisionError" not in response.text and "Traceback" not in response.text


# ------------------------------------------------------------------ hostile bodies, signed
# Every body below carries a valid signature: the checks behind it must hold on their own.

ROUTES = ("/retell/inbound", "/retell/functions", "/retell/events")
# Our model and exception classes: no error body names one (the caller sent JSON, not classes).
INTERNAL_NAMES = re.compile(
    r"ToolCallRequest|InboundRequest|InboundCall|CallEventRequest|LifecycleCall|CallMetadata|CallAnalysis"
    r"|_WebhookEnvelope|_Lenient|ValidationError|RecursionError|ValueError|OverflowError|Traceback|pydantic"
    r"|set_int_max_str_digits"
)


def refused(response: Any, field: str) -> dict[str, Any]:
    """A 4xx naming `field`, in the caller's terms."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert not INTERNAL_NAMES.search(response.text), response.text
    body = response.json()
    assert body["field"] == field, body
    return body


def ended(**call: Any) -> dict[str, Any]:
    """The demo call's call_ended webhook with `call` fields replaced."""
    body = call_webhook("call_ended", "call_hostile")
    body["call"].update(call)
    return body


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("opener", [b"[", b'{"a":'], ids=["arrays", "objects"])
def test_deep_nesting_is_400(retell, route, opener):
    closer = b"]" if opener == b"[" else b"}"
    raw = (
        b'{"event":"call_ended","name":"get_service_info","junk":'
        + opener * 100_000
        + closer * 100_000
        + b"}"
    )
    refused(retell.post(route, None, raw=raw), "body")


@pytest.mark.parametrize("route", ROUTES)
def test_a_5000_digit_number_is_400(retell, route):
    raw = b'{"event":"call_ended","name":"get_service_info","n":' + b"9" * 5000 + b"}"
    refused(retell.post(route, None, raw=raw), "body")


def test_a_1e20_ms_timestamp_is_400_naming_the_field(retell, fresh):
    body = refused(retell.post("/retell/events", ended(start_timestamp=10**20)), "call.start_timestamp")
    assert "less than or equal" in body["message"]


@pytest.mark.parametrize(
    ("raw_number", "field"),
    [
        (b"1e400", "call.duration_ms"),
        (b"NaN", "call.duration_ms"),
        (b"Infinity", "call.duration_ms"),
        (b"-Infinity", "call.duration_ms"),
        (b"1e20", "call.duration_ms"),
        (b"2.5", "call.duration_ms"),
    ],
)
def test_non_integers_where_integers_belong_are_400(retell, fresh, raw_number, field):
    raw = compact(ended(duration_ms=0)).replace(b'"duration_ms":0', b'"duration_ms":' + raw_number)
    refused(retell.post("/retell/events", None, raw=raw), field)


@pytest.mark.parametrize("raw_number", [b"NaN", b"Infinity", b"1e400"])
def test_non_finite_numbers_in_tool_arguments_are_400(retell, raw_number):
    raw = compact({"name": "get_service_info", "args": {"n": 0}, "call": CALL}).replace(
        b'"n":0', b'"n":' + raw_number
    )
    refused(retell.post("/retell/functions", None, raw=raw), "args.n")


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/retell/events", ended(call_id="c" * 5000), "call.call_id"),
        ("/retell/events", ended(agent_id="a" * 5000), "call.agent_id"),
        ("/retell/events", ended(metadata={"company_id": "s" * 5000}), "call.metadata.company_id"),
        ("/retell/events", ended(from_number="+49" * 2000), "call.from_number"),
        (
            "/retell/functions",
            {"name": "get_service_info", "args": {}, "call": {**CALL, "call_id": "c" * 5000}},
            "call.call_id",
        ),
        (
            "/retell/functions",
            {"name": "get_service_info", "args": {}, "call": {**CALL, "agent_id": "a" * 5000}},
            "call.agent_id",
        ),
        ("/retell/functions", {"name": "x" * 5000, "args": {}, "call": CALL}, "name"),
        (
            "/retell/inbound",
            {
                "event": "call_inbound",
                "call_inbound": {"from_number": "+4915112345678", "to_number": "9" * 5000},
            },
            "call_inbound.to_number",
        ),
    ],
)
def test_overlong_identifiers_are_400_naming_the_field(retell, fresh, route, body, field):
    body = refused(retell.post(route, body), field)
    assert "at most" in body["message"]


def test_a_megabyte_summary_is_stored_cut_to_its_bound(retell, fresh):
    calls = importlib.import_module("calbridge.adapters.store.calls").CallRepository()
    bounds = importlib.import_module("calbridge.domain.calls")
    analyzed = call_webhook("call_analyzed", "call_long_summary")
    analyzed["call"]["call_analysis"]["call_summary"] = "Der Anrufer möchte einen Termin. " * 32_000  # ~1 MB
    analyzed["call"]["call_analysis"]["user_sentiment"] = "Positive" * 1000
    analyzed["call"]["disconnection_reason"] = "user_hangup" * 1000
    assert retell.post("/retell/events", analyzed).status_code == 204
    stored = calls.get("salon-demo", "call_long_summary")
    assert len(stored.summary) == bounds.SUMMARY_MAX_CHARS and stored.summary.startswith("Der Anrufer")
    assert len(stored.user_sentiment) == len(stored.disconnection_reason) == bounds.LABEL_MAX_CHARS


@pytest.mark.parametrize(
    ("route", "body", "field", "says"),
    [
        (
            "/retell/functions",
            {"name": "get_service_info", "args": {}, "call": 5},
            "call",
            "must be a JSON object",
        ),
        (
            "/retell/functions",
            {"name": "get_service_info", "args": {}, "call": {**CALL, "metadata": []}},
            "call.metadata",
            "must be a JSON object",
        ),
        ("/retell/functions", {"name": "get_service_info", "args": {}}, "call", "is missing"),
        ("/retell/functions", ["get_service_info"], "body", "must be a JSON object"),
        (
            "/retell/events",
            {"event": "call_ended", "call": {"call_id": "c", "call_analysis": "fine"}},
            "call.call_analysis",
            "must be a JSON object",
        ),
        ("/retell/events", {"event": "call_ended", "call": []}, "call", "must be a JSON object"),
        (
            "/retell/inbound",
            {"event": "call_inbound", "call_inbound": "+4930123456789"},
            "call_inbound",
            "must be a JSON object",
        ),
    ],
)
def test_error_bodies_speak_of_the_callers_fields(retell, fresh, route, body, field, says):
    answer = refused(retell.post(route, body), field)
    assert answer["message"] == f"{field}: {says}"


# ------------------------------------------------------------------ long calls: transcript-carrying bodies


def transcript_call(megabytes: float) -> dict[str, Any]:
    """CALL with the live transcript Retell sends in every tool call (retell.md §2.2): utterances with
    word timings, and transcript_with_tool_calls, about `megabytes` of JSON."""
    words = [
        {"word": w, "start": 0.3 * i, "end": 0.3 * i + 0.25} for i, w in enumerate(("Termin", "morgen") * 6)
    ]
    utterance = {"role": "user", "content": " ".join(w["word"] for w in words), "words": words}
    count = int(megabytes * 1024 * 1024 / len(compact(utterance)) * 0.8)
    turns = [utterance] * count
    return {**CALL, "transcript_object": turns, "transcript_with_tool_calls": turns[: count // 4]}


def test_a_tool_call_with_a_5_mb_transcript_is_answered(retell):
    body = {"name": "get_service_info", "args": {"service": "Damenhaarschnitt"}, "call": transcript_call(5)}
    assert 4.5 * 1024 * 1024 < len(compact(body)) < 6 * 1024 * 1024
    response = retell.post("/retell/functions", body)
    assert response.status_code == 200 and response.json()["success"] is True


def test_a_lifecycle_webhook_with_a_5_mb_transcript_is_recorded(retell, fresh):
    body = call_webhook("call_ended", "call_long")
    body["call"]["transcript_object"] = transcript_call(5)["transcript_object"]
    assert retell.post("/retell/events", body).status_code == 204


@pytest.mark.parametrize("route", ROUTES)
def test_a_body_over_6_mb_is_413(retell, route):
    raw = b'{"pad":"' + b"x" * (6 * 1024 * 1024) + b'"}'
    response = retell.post(route, None, raw=raw)
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"
