"""Every sample in events/ is current (generated from local/events.py) and works on the stack."""

from __future__ import annotations

import json

import pytest

from local.events import EVENTS_DIR, RETELL_BODIES, resign
from local.retell_sim import compact

EVENT_FILES = sorted(EVENTS_DIR.glob("retell_*.json"))


def test_every_event_file_is_generated_from_local_events():
    assert {p.name for p in EVENT_FILES} == set(RETELL_BODIES)
    for path in EVENT_FILES:
        route, body = RETELL_BODIES[path.name]
        event = json.loads(path.read_text(encoding="utf-8"))
        assert event["routeKey"] == f"POST {route}" and event["rawPath"] == route
        assert event["body"].encode() == compact(body), (
            f"{path.name} is stale: run python -m local.events write"
        )


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_event_routes_exist_in_the_template(stack, path):
    event = json.loads(path.read_text(encoding="utf-8"))
    assert event["routeKey"] in {route.route_key for route in stack.routes}


EXPECTED = {
    "retell_inbound.json": lambda body: body["call_inbound"]["metadata"]["company_id"] == "salon-demo",
    "retell_inbound_unknown_number.json": lambda body: body == {"call_inbound": {}},
    "retell_functions_get_service_info.json": lambda body: body["data"]["service"]["service_id"] == "177",
    "retell_functions_list_services.json": lambda body: len(body["data"]["services"]) == 6,
    # No metadata: routed by its agent id (the demo salon lists agent_local_demo).
    "retell_functions_dashboard_test_call.json": lambda body: body["data"]["service"]["service_id"] == "177",
    "retell_functions_list_staff.json": lambda body: body["success"] and len(body["data"]["staff"]) >= 1,
    "retell_functions_check_availability.json": lambda body: body["success"] and "available" in body["data"],
    "retell_functions_book_appointment.json": lambda body: body["data"].get("booked") is True,
    # `invoke` starts a fresh demo: the caller has no appointment yet, which the agent can say.
    "retell_functions_cancel_appointment.json": lambda body: body["data"]["error"] == "appointment_not_found",
    "retell_functions_reschedule_appointment.json": lambda body: (
        body["data"]["error"] == "appointment_not_found"
    ),
}
# Call lifecycle webhooks: 204 and no body (their records: tests/e2e/test_retell_events.py).
NO_CONTENT = {f"retell_event_{name}.json" for name in ("call_started", "call_ended", "call_analyzed")}


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_resigned_events_answer_as_documented(fresh, path):
    result = fresh.invoke("RetellWebhookFunction", resign(json.loads(path.read_text(encoding="utf-8"))))
    response = result.json()
    if path.name in NO_CONTENT:
        assert response["statusCode"] == 204 and not response.get("body")
        return
    assert response["statusCode"] == 200
    assert EXPECTED[path.name](json.loads(response["body"]))


@pytest.mark.parametrize("path", EVENT_FILES[:1], ids=lambda p: p.name)
def test_stored_signatures_expire(stack, path):
    """As committed, a sample's signature is older than 5 minutes: the handler must refuse it."""
    event = json.loads(path.read_text(encoding="utf-8"))
    timestamp = int(event["headers"]["x-retell-signature"].split(",")[0][2:])
    event["headers"]["x-retell-signature"] = event["headers"]["x-retell-signature"].replace(
        str(timestamp), str(timestamp - 10 * 60 * 1000)
    )
    assert stack.invoke("RetellWebhookFunction", event).json()["statusCode"] == 401


def test_host_resolution_events_resolve_on_the_stack(fresh):
    stack = fresh
    booking = json.loads((EVENTS_DIR / "host_resolution_booking.json").read_text(encoding="utf-8"))
    host = json.loads((EVENTS_DIR / "host_resolution_host.json").read_text(encoding="utf-8"))
    assert stack.invoke("HostResolutionFunction", booking).json()["staff_id"] == "fabian-spitzer"
    assert stack.invoke("HostResolutionFunction", host).json()["staff_id"] == "emma-williams"
