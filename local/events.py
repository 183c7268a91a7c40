"""Sample events in events/: API Gateway HTTP API (payload 2.0) events carrying signed Retell bodies.

`python -m local.events write` regenerates events/ from the definitions below;
`python -m local.events resign FILE...` refreshes their X-Retell-Signature (signatures expire
after 5 minutes, so `sam local invoke -e` needs a fresh one; `make invoke` re-signs by itself).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from calbridge.adapters.retell.signature import sign
from local.retell_sim import compact, retell_api_key

EVENTS_DIR = Path(__file__).parents[1] / "events"

_DEMO_CALL = {
    "call_id": "call_local_demo_0001",
    "call_type": "phone_call",
    "agent_id": "agent_local_demo",
    "call_status": "ongoing",
    "direction": "inbound",
    "from_number": "+4915112345678",
    "to_number": "+4930123456789",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}

# The demo call's lifecycle webhooks (docs/reference/retell.md §1, examples/retell/call_*.json), as
# Retell sends them: call_ended adds the end of the call, call_analyzed also the analysis.
_DEMO_STARTED_CALL = {**_DEMO_CALL, "agent_version": 1, "start_timestamp": 1795250189000}
_DEMO_ENDED_CALL = {
    **_DEMO_STARTED_CALL,
    "call_status": "ended",
    "end_timestamp": 1795250376538,
    "duration_ms": 187538,
    "disconnection_reason": "user_hangup",
    "transcript": "Agent: Salon Demo, guten Tag!\nUser: Ich möchte einen Damenhaarschnitt buchen.\n",
}
CALL_LIFECYCLE_BODIES: dict[str, dict[str, Any]] = {
    "call_started": {"event": "call_started", "call": _DEMO_STARTED_CALL},
    "call_ended": {"event": "call_ended", "call": _DEMO_ENDED_CALL},
    "call_analyzed": {
        "event": "call_analyzed",
        "call": {
            **_DEMO_ENDED_CALL,
            "call_analysis": {
                "call_summary": "Die Anruferin hat einen Damenhaarschnitt am Montag um 14 Uhr gebucht.",
                "user_sentiment": "Positive",
                "call_successful": True,
                "in_voicemail": False,
                "custom_analysis_data": {"appointment_booked": True},
            },
        },
    },
}


def call_webhook(event: str, call_id: str, **call: Any) -> dict[str, Any]:
    """The demo call's `event` lifecycle webhook for `call_id`; keywords replace call fields
    (None drops one)."""
    body = copy.deepcopy(CALL_LIFECYCLE_BODIES[event])
    body["call"]["call_id"] = call_id
    for key, value in call.items():
        if value is None:
            body["call"].pop(key, None)
        else:
            body["call"][key] = value
    return body


RETELL_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    **{f"retell_event_{name}.json": ("/retell/events", body) for name, body in CALL_LIFECYCLE_BODIES.items()},
    "retell_inbound.json": (
        "/retell/inbound",
        {
            "event": "call_inbound",
            "call_inbound": {
                "agent_id": "agent_local_demo",
                "from_number": "+4915112345678",
                "to_number": "+4930123456789",
            },
        },
    ),
    "retell_inbound_unknown_number.json": (
        "/retell/inbound",
        {
            "event": "call_inbound",
            "call_inbound": {"from_number": "+4915112345678", "to_number": "+4940999999"},
        },
    ),
    "retell_functions_get_service_info.json": (
        "/retell/functions",
        {"name": "get_service_info", "args": {"service": "Ansatzfärbung"}, "call": _DEMO_CALL},
    ),
    # A dashboard test call or web call: no inbound webhook, so no metadata; the agent id routes it
    # (the company's retell_agent_ids, docs/adr/0015-tenant-of-a-call.md).
    "retell_functions_dashboard_test_call.json": (
        "/retell/functions",
        {
            "name": "get_service_info",
            "args": {"service": "Ansatzfärbung"},
            "call": {
                "call_id": "call_dashboard_test",
                "call_type": "web_call",
                "agent_id": "agent_local_demo",
            },
        },
    ),
    "retell_functions_list_services.json": (
        "/retell/functions",
        {"name": "get_service_info", "args": {}, "call": _DEMO_CALL},
    ),
    # Days and times as callers say them (domain/when.py), so the samples never go stale.
    "retell_functions_list_staff.json": (
        "/retell/functions",
        {"name": "list_staff", "args": {"service": "Ansatzfärbung"}, "call": _DEMO_CALL},
    ),
    "retell_functions_check_availability.json": (
        "/retell/functions",
        {
            "name": "check_availability",
            "args": {
                "service": "Ansatzfärbung",
                "date": "nächsten Montag",
                "time": "14 Uhr",
                "mitarbeiter": "Fabian",
            },
            "call": _DEMO_CALL,
        },
    ),
    "retell_functions_book_appointment.json": (
        "/retell/functions",
        {
            "name": "book_appointment",
            "args": {
                "service": "Föhnen",
                "date": "nächsten Montag",
                "time": "halb elf",
                "mitarbeiter": "Fabien",
                "customer_name": "Anna Schmidt",
            },
            "call": _DEMO_CALL,
        },
    ),
    # The caller's appointment is found by the calling number; `invoke` starts a fresh demo stack,
    # which has none: the answer says so (book first on `make serve` to see the change itself).
    "retell_functions_cancel_appointment.json": (
        "/retell/functions",
        {"name": "cancel_appointment", "args": {"date": "nächsten Montag"}, "call": _DEMO_CALL},
    ),
    "retell_functions_reschedule_appointment.json": (
        "/retell/functions",
        {
            "name": "reschedule_appointment",
            "args": {"date": "nächsten Montag", "new_date": "nächsten Dienstag", "new_time": "15 Uhr"},
            "call": _DEMO_CALL,
        },
    ),
}


def http_event(path: str, raw_body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event for POST `path`, as `sam local` produces."""
    now_ms = int(time.time() * 1000)
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "localhost", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "100.20.5.228",
                "userAgent": "Retell-Webhook",
            },
            "requestId": "local-request",
            "routeKey": f"POST {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "body": raw_body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def resign(event: dict[str, Any], api_key: str | None = None) -> dict[str, Any]:
    """The event with a fresh X-Retell-Signature over its exact body, received now (API Gateway's
    `timeEpoch` starts a tool call's time budget, docs/adr/0026-tool-call-budget.md)."""
    raw = event["body"].encode("utf-8")
    now_ms = int(time.time() * 1000)
    signature = sign(raw, api_key or retell_api_key(), now_ms)
    headers = {**event.get("headers", {}), "x-retell-signature": signature}
    context = event.get("requestContext")
    if isinstance(context, dict) and "timeEpoch" in context:
        context = {**context, "timeEpoch": now_ms}
        return {**event, "headers": headers, "requestContext": context}
    return {**event, "headers": headers}


def upcoming_monday(today: date) -> date:
    """A Monday at least two days after `today` (the demo salon's staff work Mondays; never said
    as "morgen")."""
    days = (7 - today.weekday()) % 7
    return today + timedelta(days=days if days >= 2 else days + 7)


def redate_web_booking(event: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A web booking sample (events/web_booking_create.json) asking for 14:00 on the demo salon's
    upcoming Monday, so it books whatever day it is invoked on (its fixed date passes)."""
    zone = ZoneInfo("Europe/Berlin")  # the demo salon's
    today = (now or datetime.now(zone)).astimezone(zone).date()
    body = json.loads(event["body"])
    body["start"] = datetime.combine(upcoming_monday(today), dt_time(14), zone).isoformat()
    return {**event, "body": json.dumps(body, ensure_ascii=False, separators=(",", ":"))}


def write_events() -> list[Path]:
    written = []
    for name, (path, body) in RETELL_BODIES.items():
        raw = compact(body)
        event = resign(http_event(path, raw, {}))
        target = EVENTS_DIR / name
        target.write_text(json.dumps(event, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write", help="regenerate events/ from local/events.py")
    resign_cmd = sub.add_parser("resign", help="refresh the X-Retell-Signature of event files")
    resign_cmd.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    if args.command == "write":
        for path in write_events():
            print(path)
        return
    for path in args.files:
        event = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps(resign(event), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
