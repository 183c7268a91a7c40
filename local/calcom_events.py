"""Sample events in events/ for CalcomWebhookFunction: API Gateway HTTP API (payload 2.0) events
carrying signed Cal.com booking webhooks for the demo salon.

They are about the booked appointment `make invoke` seeds (local/fixtures/invoke_samples.json):
its hold B (Cal.com uid 9dHj5LwP3eUa8KcX6nVbRs) cancelled, or its hold A moved, by a host in
Cal.com. Cal.com's signature has no timestamp, so a signed sample stays valid as long as the
company's local secret is the same (env CALCOM_WEBHOOK_SECRET, default whsec_local_calbridge_dev).

`python -m local.calcom_events write` regenerates them; `python -m local.calcom_events resign FILE...`
signs them again with the current CALCOM_WEBHOOK_SECRET.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from calbridge.adapters.calcom_signature import HEADER, sign
from local.events import EVENTS_DIR, http_event
from local.retell_sim import compact
from local.stack import LOCAL_SECRET_DEFAULTS

COMPANY = "salon-demo"
ROUTE = "/calcom/webhook/{company_id}"
_ORGANIZER = {
    "id": 1420209,
    "name": "Fabian Spitzer",
    "email": "fabian@askproai.de",
    "username": "fabianaskproai",
    "timeZone": "Europe/Berlin",
    "language": {"locale": "de"},
}
_ATTENDEE = {"name": "Marie Schulz", "email": "marie.schulz@example.com", "timeZone": "Europe/Berlin"}

# Cal.com's payloads (docs/reference/calcom.md §6.3), abridged: a cancel's payload has no booking
# metadata (handleCancelBooking.ts), so the uid finds the appointment.
CALCOM_BODIES: dict[str, dict[str, Any]] = {
    "calcom_webhook_booking_cancelled.json": {
        "triggerEvent": "BOOKING_CANCELLED",
        "createdAt": "2030-03-18T09:12:45.002Z",
        "payload": {
            "type": "cb-177-b-u1420209",
            "title": "Ansatzfärbung, waschen, schneiden, föhnen - Auswaschen (Fabian Spitzer)",
            "startTime": "2030-03-20T10:15:00Z",
            "endTime": "2030-03-20T10:30:00Z",
            "organizer": _ORGANIZER,
            "attendees": [_ATTENDEE],
            "uid": "9dHj5LwP3eUa8KcX6nVbRs",
            "status": "CANCELLED",
            "cancellationReason": "Fabian ist an dem Tag nicht im Salon",
            "cancelledBy": "fabian@askproai.de",
        },
    },
    "calcom_webhook_booking_rescheduled.json": {
        "triggerEvent": "BOOKING_RESCHEDULED",
        "createdAt": "2030-03-18T09:20:00.000Z",
        "payload": {
            "type": "cb-177-a-u1420209",
            "title": "Ansatzfärbung, waschen, schneiden, föhnen - Ansatzfärbung (Fabian Spitzer)",
            "startTime": "2030-03-20T13:00:00Z",
            "endTime": "2030-03-20T13:30:00Z",
            "organizer": _ORGANIZER,
            "attendees": [_ATTENDEE],
            "uid": "kR4vN8sQ2mWx6ZcT9bHdLp",
            "rescheduleUid": "3vKc8NsQ4xWb7GzR2mTfYh",
            "rescheduleStartTime": "2030-03-20T09:00:00Z",
            "rescheduleEndTime": "2030-03-20T09:30:00Z",
            "rescheduledBy": "fabian@askproai.de",
            "status": "ACCEPTED",
            "metadata": {
                "calbridge_booking_id": "bk_5a8c3e1f7b9d4a6c8e0f2b4d6a8c0e2f",
                "calbridge_hold": "A",
                "calbridge_company": COMPANY,
            },
        },
    },
}


def webhook_secret() -> str:
    """The demo company's local webhook secret (local/stack.py: company_webhook_secret)."""
    return os.environ.get("CALCOM_WEBHOOK_SECRET") or LOCAL_SECRET_DEFAULTS["CALCOM_WEBHOOK_SECRET"]


def webhook_event(body: dict[str, Any], company_id: str = COMPANY) -> dict[str, Any]:
    """The HTTP API event of a Cal.com webhook to `company_id`, signed with the local secret."""
    path = ROUTE.replace("{company_id}", company_id)
    event = http_event(path, compact(body), {})
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST {ROUTE}"
    event["requestContext"]["http"]["userAgent"] = "Cal.com webhooks"
    event["pathParameters"] = {"company_id": company_id}
    return resign(event)


def resign(event: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    """The event with its X-Cal-Signature-256 made again over its exact body."""
    raw = event["body"].encode("utf-8")
    headers = {**event.get("headers", {}), HEADER: sign(raw, secret or webhook_secret())}
    return {**event, "headers": headers}


def write_events() -> list[Path]:
    written = []
    for name, body in CALCOM_BODIES.items():
        target = EVENTS_DIR / name
        target.write_text(
            json.dumps(webhook_event(body), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write", help="regenerate events/calcom_webhook_*.json")
    resign_cmd = sub.add_parser("resign", help="sign event files again with CALCOM_WEBHOOK_SECRET")
    resign_cmd.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    paths = write_events() if args.command == "write" else args.files
    for path in paths:
        if args.command == "resign":
            event = resign(json.loads(path.read_text(encoding="utf-8")))
            path.write_text(json.dumps(event, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
