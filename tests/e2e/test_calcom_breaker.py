"""Cal.com failing, through the HTTP front (ADR 0022): after 5 failures within 60 s the breaker
opens for every container, tools answer "calendar unavailable" at once without a request reaching
Cal.com, one probe goes out after the 30 s cool-down, and Cal.com's recovery closes it.

Cal.com fails by the stand-in's fault injection; the cool-down passes by moving the clock
(time_machine: the stack, the stand-in and the breaker's wall clock follow), never by sleeping.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine

from tests.e2e.test_cancel_reschedule_tools import standin_bookings, tool
from tests.helpers import next_monday

SLOTS_DOWN = [{"endpoint": "GET /v2/slots", "fault": "5xx", "status": 503}]
CHECK = {"service": "Föhnen", "time": "10:00", "mitarbeiter": "Fabian"}
TEAM = 39203  # the demo salon's Cal.com team (local/fixtures/salon_demo.json)


def requests_to_calcom(stack) -> list[dict]:
    """The stand-in's request log (control API calls are not in it)."""
    return httpx.get(f"{stack.calcom_url}/_standin/requests").raise_for_status().json()


def faults(stack, rules: list[dict] | None) -> None:
    if rules is None:
        httpx.delete(f"{stack.calcom_url}/_standin/faults").raise_for_status()
    else:
        httpx.post(f"{stack.calcom_url}/_standin/faults", json=rules).raise_for_status()


def later(seconds: float) -> time_machine.travel:
    return time_machine.travel(datetime.now(UTC) + timedelta(seconds=seconds), tick=True)


def another_container():
    """A Cal.com client as a second container builds it: its own breaker, the same table."""
    breaker = importlib.import_module("calbridge.adapters.calcom.breaker")
    settings = importlib.import_module("calbridge.config").get_settings()
    get_secret = importlib.import_module("calbridge.adapters.secrets").get_secret

    def api_key() -> str:
        return get_secret(settings.calcom_api_key_secret, settings.secret_cache_s)

    container = breaker.CalcomBreaker(
        breaker.BreakerStore(), api_key, breaker.BreakerPolicy.from_settings(settings)
    )
    client_class = importlib.import_module("calbridge.adapters.calcom").CalcomClient
    return client_class.from_settings(settings, api_key, breaker=container)


def unavailable(answer: dict) -> bool:
    return answer["success"] is False and answer["data"]["error"] in (
        "calendar_unavailable",
        "booking_failed",
    )


@pytest.fixture
def breaker_closed_after(fresh):
    """The test leaves Cal.com answering; the next test starts from an empty breaker table."""
    yield fresh
    faults(fresh, None)


def test_an_open_breaker_answers_at_once_without_calcom_and_a_probe_closes_it(
    breaker_closed_after, retell, caplog
):
    stack = breaker_closed_after
    errors = importlib.import_module("calbridge.errors")
    monday = next_monday()
    faults(stack, SLOTS_DOWN)
    httpx.delete(f"{stack.calcom_url}/_standin/requests").raise_for_status()

    # Cal.com fails: every check says so, until the 5th failure opens the breaker.
    for _ in range(5):
        assert unavailable(tool(retell, "check_availability", date=monday, **CHECK))
    sent = len(requests_to_calcom(stack))
    assert sent == 5
    assert sum("Cal.com breaker opened" in r.getMessage() for r in caplog.records) == 1

    # Open: the answer comes without waiting on Cal.com (HTTP 200, said as calendar unavailable):
    # nothing reaches it (how fast is the bench's business, not a timed test's).
    answer = tool(retell, "check_availability", date=monday, **CHECK)
    assert answer["data"]["error"] == "calendar_unavailable" and not answer["success"], answer
    booking = {**CHECK, "customer_name": "Anna Schmidt"}
    refused = tool(retell, "book_appointment", date=monday, **booking)
    assert refused["data"]["pending"] is True, refused  # kept as a request (ADR 0025), not booked
    assert len(requests_to_calcom(stack)) == sent
    history = stack.last_express_history("BookingStateMachine")
    reserve_hold_runs = [
        event
        for event in history
        if "BookingReserveHoldFunction"
        in event.get("lambdaFunctionScheduledEventDetails", {}).get("resource", "")
    ]
    failures = [
        event["lambdaFunctionFailedEventDetails"]["error"]
        for event in history
        if "lambdaFunctionFailedEventDetails" in event
    ]
    # The hold's step ends at once: its Retry on CalcomUnavailable does not match the open breaker.
    assert len(reserve_hold_runs) == 1 and failures[0] == "CalcomCircuitOpen", failures

    # Another container sees the open state: it refuses too, without a request.
    second = another_container()
    with pytest.raises(errors.CalcomCircuitOpen):
        second.list_team_memberships(TEAM)
    assert len(requests_to_calcom(stack)) == sent

    with later(31):
        # Half-open, Cal.com still down: one probe goes out, fails, and opens it for another 30 s.
        assert unavailable(tool(retell, "check_availability", date=monday, **CHECK))
        assert len(requests_to_calcom(stack)) == sent + 1
        assert unavailable(tool(retell, "check_availability", date=monday, **CHECK))
        assert len(requests_to_calcom(stack)) == sent + 1
        assert any("re-opened" in r.getMessage() for r in caplog.records)

        faults(stack, None)
        with later(31):
            # Cal.com is back: the probe succeeds and closes the breaker for every container.
            answer = tool(retell, "check_availability", date=monday, **CHECK)
            assert answer["success"] and answer["data"]["available"], answer
            assert len(requests_to_calcom(stack)) == sent + 2
            assert any("Cal.com breaker closed" in r.getMessage() for r in caplog.records)
            assert second.list_team_memberships(TEAM)  # its view ran out: it reads the closed state

            # The request kept while the breaker was open is booked by its worker now.
            (delivery,) = stack.drain_queue("BookingRequestsQueue")
            assert delivery.failed_ids == [], delivery
            assert tool(retell, "book_appointment", date=monday, **booking) == refused  # a replay
    assert [b["status"] for b in standin_bookings(stack)] == ["accepted"]
