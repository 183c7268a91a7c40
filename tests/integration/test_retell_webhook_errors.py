"""The handler's single error mapping: dependency failures during a tool call, over the HTTP front."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import pytest

CALL = {"call_id": "call_errors", "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"}}
MakeError = Callable[[ModuleType], Exception]


@pytest.fixture
def failing_tool(stack, monkeypatch) -> Callable[[MakeError], None]:
    """Make get_service_info raise an error: the test is about the mapping, not the tool."""
    tool_calls = stack.functions["RetellWebhookFunction"].module.tool_calls
    # The stack imports the layer afresh at start (a cold start): raise the classes it uses.
    errors = importlib.import_module("calbridge.errors")

    def install(make_error: MakeError) -> None:
        def fail(company, args, call):
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
