"""`make demo`: a scripted phone call against the local stack, printed readably.

Starts the whole stack (moto, our handlers, the Cal.com stand-in, the HTTP front), then plays
Retell's part of a call to Salon Demo: the inbound webhook routes the call, and the agent asks
for service information. Every request is signed and goes over HTTP like Retell's.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from calbridge.adapters.retell.signature import sign
from local.retell_sim import RetellSimulator, compact
from local.seed import DEMO_FIXTURE, load_fixture, seed_demo
from local.stack import LocalStack

CALLER = "+4915112345678"
SALON = "+4930123456789"


# The handlers log JSON to stdout as in Lambda; the demo sends that to a file and prints the story.
OUT = sys.stdout
LOG_FILE = Path(tempfile.gettempdir()) / "calbridge-demo.log"


def show(text: str = "") -> None:
    print(text, file=OUT, flush=True)


def say(who: str, text: str) -> None:
    show(textwrap.fill(text, width=96, initial_indent=f"  {who:<7} ", subsequent_indent=" " * 10))


def step(title: str) -> None:
    show(f"\n── {title} " + "─" * max(0, 90 - len(title)))


def check(response: Any, expected_status: int) -> dict[str, Any]:
    if response.status_code != expected_status:
        show(f"unexpected answer {response.status_code}: {response.text} (function logs: {LOG_FILE})")
        raise SystemExit(1)
    return response.json() if response.content else {}


def run_call(stack: LocalStack) -> None:
    fixture = load_fixture()
    retell = RetellSimulator(stack.http_url)

    step(f"1. Incoming call {CALLER} → {SALON}: Retell asks POST /retell/inbound")
    answer = check(retell.inbound(CALLER, SALON), 200)["call_inbound"]
    metadata, variables = answer["metadata"], answer["dynamic_variables"]
    show(f"  routed to company {metadata['company_id']!r}, branch {metadata['branch_id']!r}")
    for key, value in variables.items():
        show(f"    {{{{{key}}}}} = {value}")
    call = {
        "call_id": f"call_demo_{uuid.uuid4().hex[:12]}",
        "call_type": "phone_call",
        "direction": "inbound",
        "call_status": "ongoing",
        "from_number": CALLER,
        "to_number": SALON,
        "metadata": metadata,
        "retell_llm_dynamic_variables": variables,
    }
    say("Agent", f"{variables['company_name']}, guten Tag! Wie kann ich helfen?")

    step("2. Caller asks what the salon offers: get_service_info {}")
    say("Caller", "Was bieten Sie denn an?")
    say("Agent", check(retell.tool("get_service_info", {}, call), 200)["message"])

    step("3. Caller asks about a composite service: get_service_info {service: 'Ansatzfärbung'}")
    say("Caller", "Wie lange dauert eine Ansatzfärbung?")
    result = check(retell.tool("get_service_info", {"service": "Ansatzfärbung"}, call), 200)
    say("Agent", result["message"])
    for segment in result["data"]["service"]["segments"]:
        gap = f", then {segment['gap_after']} min waiting" if segment["gap_after"] else ""
        show(f"    segment {segment['key']}: {segment['name']} {segment['duration']} min{gap}")

    step("4. A tenant smuggled into args is ignored: get_service_info {company_id: 'other'}")
    result = check(
        retell.tool("get_service_info", {"service": "Damenhaarschnitt", "company_id": "other"}, call), 200
    )
    say("Agent", result["message"])

    step("5. A call to a number no salon claims: Retell keeps the number's default agent")
    show(f"  HTTP 200: {check(retell.inbound(CALLER, '+4940999999'), 200)}")

    step("6. A forged request (signed with another key) is refused before anything runs")
    body = {"event": "call_inbound", "call_inbound": {"from_number": CALLER, "to_number": SALON}}
    forged_signature = sign(compact(body), "not-the-retell-key", int(time.time() * 1000))
    forged = retell.post("/retell/inbound", body, signature=forged_signature)
    show(f"  HTTP {forged.status_code}: {forged.json()['message']}")

    step("7. The Cal.com stand-in serves the salon's team")
    from calbridge.adapters.calcom import CalcomClient
    from calbridge.config import CalcomApiVersions

    team = fixture["company"]["calcom_team_id"]
    with CalcomClient(
        base_url=stack.calcom_url,
        api_key_provider=lambda: fixture["calcom"]["api_key"],
        versions=CalcomApiVersions(),
    ) as calcom:
        members = calcom.list_team_memberships(team)
        event_types = calcom.list_team_event_types(team)
    show(f"  {stack.calcom_url}: team {team} with {len(members)} members, {len(event_types)} event types")
    for member in members:
        show(f"    {member.user_id:>8}  {member.user.name:<16} {member.user.email}")
    retell.close()

    step("8. Function logs are JSON; phone numbers and e-mails are masked")
    unrouted = next(line for line in LOG_FILE.read_text().splitlines() if "unrouted number" in line)
    show(f"  {unrouted}")
    show(f"\nDemo call finished: routed, answered and verified through the HTTP front. Logs: {LOG_FILE}")


def main() -> int:
    with LOG_FILE.open("w", encoding="utf-8") as log:
        sys.stdout = log
        try:
            with LocalStack(standin_fixture=DEMO_FIXTURE, seed=seed_demo, http_port=0) as stack:
                show("calbridge local stack")
                show(f"  HTTP front:        {stack.http_url}")
                show(f"  Cal.com stand-in:  {stack.calcom_url}")
                run_call(stack)
        finally:
            sys.stdout = OUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
