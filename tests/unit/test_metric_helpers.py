"""The metrics helpers (calbridge/observability.py) and the Cal.com client's metrics: dimensioned
metrics print their own EMF record and add the whole to the flush; dimension values stay bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.metrics import MetricUnit

from calbridge.adapters.calcom import CalcomClient
from calbridge.config import CalcomApiVersions
from calbridge.errors import CalcomUnavailable, SlotUnavailable
from calbridge.observability import add_metric_by, error_name, metrics, timed

VERSIONS = CalcomApiVersions(
    bookings="2024-08-13", slots="2024-09-04", event_types="2024-06-14", teams="2024-06-14"
)


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Lambda's namespace (the unit tests have none), and an empty flush before and after."""
    monkeypatch.setattr(metrics, "namespace", "CalbridgeTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "calbridge")  # template Globals
    metrics.clear_metrics()
    yield "CalbridgeTest"
    metrics.clear_metrics()


def records(output: str) -> list[dict[str, Any]]:
    """The EMF records among printed lines."""
    return [r for line in output.splitlines() if line.startswith("{") and "_aws" in (r := json.loads(line))]


def flushed(name: str) -> list[float]:
    return list(metrics.metric_set.get(name, {}).get("Value", []))


def test_a_dimensioned_metric_is_printed_with_its_dimensions_and_flushed_without(namespace, capsys):
    add_metric_by("ThingsDone", MetricUnit.Count, 2, kind="small")

    [record] = records(capsys.readouterr().out)
    [directive] = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == namespace
    assert directive["Metrics"] == [{"Name": "ThingsDone", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["kind", "service"]
    assert (record["kind"], record["service"], record["ThingsDone"]) == ("small", "calbridge", [2.0])
    assert flushed("ThingsDone") == [2.0]  # the whole: dimension `service` only, at the flush


def test_timed_measures_milliseconds_also_when_the_block_raises(namespace, capsys):
    with pytest.raises(RuntimeError), timed("StepLatency", step="failing"):
        raise RuntimeError("boom")

    [record] = records(capsys.readouterr().out)
    assert record["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "StepLatency", "Unit": "Milliseconds"}
    ]
    assert record["step"] == "failing" and 0 <= record["StepLatency"][0] < 1000
    assert len(flushed("StepLatency")) == 1


def test_without_a_namespace_nothing_is_recorded_and_nothing_fails(monkeypatch, capsys):
    """A unit test or a local command: no Lambda, nowhere to publish (Powertools would refuse the
    record, also when 100 values of one metric flush themselves)."""
    monkeypatch.setattr(metrics, "namespace", None)
    metrics.clear_metrics()
    for _ in range(150):
        add_metric_by("ThingsDone", MetricUnit.Count, 1, kind="small")
    assert records(capsys.readouterr().out) == [] and flushed("ThingsDone") == []


@pytest.mark.parametrize(
    ("name", "dimension"),
    [
        ("SlotUnavailable", "SlotUnavailable"),
        ("CalcomCircuitOpen", "CalcomCircuitOpen"),
        ("States.Timeout", "States.Timeout"),
        ("Lambda.ServiceException", "Lambda.ServiceException"),
        ("Sandbox.Timedout", "Sandbox.Timedout"),
        ("KeyError", "Other"),
        ("bk_3f6c2a9e8d7b4c1a9e0f5d2b7a6c8e14", "Other"),
        ("", "Other"),
    ],
)
def test_error_names_are_a_bounded_dimension(name, dimension):
    assert error_name(name) == dimension


def client(*replies: httpx.Response | Exception) -> CalcomClient:
    answers = list(replies)

    def answer(request: httpx.Request) -> httpx.Response:
        reply = answers.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return CalcomClient(
        base_url="https://api.cal.com",
        api_key_provider=lambda: "cal_live_0123456789abcdef",
        versions=VERSIONS,
        transport=httpx.MockTransport(answer),
    )


UID = "2rNx7CvG5kTe3PaZ9jQwMb"
START = datetime(2030, 3, 6, 9, 0, tzinfo=UTC)


def test_calcom_requests_are_timed_per_route_template_never_per_id(namespace, capsys):
    cal = client(
        httpx.Response(200, json={"status": "success", "data": {}}),
        httpx.Response(200, json={"status": "success"}),
        httpx.Response(503, text="unavailable"),
    )

    cal.get_slots(777, START, START + timedelta(days=1), "Europe/Berlin")
    cal.delete_team_event_type(4242, 99)
    with pytest.raises(CalcomUnavailable):
        cal.cancel_booking(UID, reason="test")

    output = capsys.readouterr().out
    endpoints = [r["endpoint"] for r in records(output) if "CalcomLatency" in r]
    assert endpoints == [
        "GET /v2/slots",
        "DELETE /v2/teams/{teamId}/event-types/{eventTypeId}",
        "POST /v2/bookings/{uid}/cancel",
    ]
    assert UID not in output and "4242" not in output
    assert len(flushed("CalcomLatency")) == 3


def test_failed_calcom_requests_are_counted_by_endpoint_and_kind(namespace, capsys):
    taken = {"status": "error", "error": {"code": "BadRequestException", "message": "slot taken"}}
    cal = client(
        httpx.Response(409, json=taken),
        httpx.ConnectError("no route to host"),
        httpx.Response(200, json={"status": "success", "data": []}),
    )

    with pytest.raises(SlotUnavailable):
        cal.reschedule_booking(UID, START)
    with pytest.raises(CalcomUnavailable):
        cal.list_team_event_types(4242)
    cal.list_team_event_types(4242)

    output = capsys.readouterr().out
    failed = [(r["endpoint"], r["error"]) for r in records(output) if "CalcomRequestFailed" in r]
    assert failed == [
        ("POST /v2/bookings/{uid}/reschedule", "SlotUnavailable"),
        ("GET /v2/teams/{teamId}/event-types", "CalcomUnavailable"),
    ]
    assert flushed("CalcomRequestFailed") == [1.0, 1.0]
    assert len(flushed("CalcomLatency")) == 3  # a failed exchange is timed as well
